"""The drafts an officer sends after a breach, in French, as PDF: the notification to the CNIL
(GDPR art. 33) and the letters to the affected patients (art. 34).

Pure rendering: the service (governance/incidents.py) gathers what they say. A letter names its
patient and their postal address, and nothing else about them: no test, no result, no NIR, no
date of birth, whatever the leak held (the letter may be read by someone else than the patient,
and it is a copy of nothing the patient did not already have). The incident's own texts go in it,
so they are refused there if they hold a number as long as a NIR.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from labvault.errors import InvalidInput
from labvault.governance.incident_data import IncidentView
from labvault.governance.incident_rules import NATURE_FR, NOTIFY_WITHIN, Source
from labvault.reports.pdf import html_to_pdf
from labvault.reports.templates import date_fr, datetime_fr, w3c_datetime

TIMEZONE = "Europe/Paris"
SOURCES_FR = {
    Source.CHECK: "contrôle d'un fichier divulgué (index aveugles)",
    Source.AUDIT: "journal d'audit (accès d'un compte sur une période)",
    Source.EXPORT: "manifeste d'un export",
}
# A NIR (13 characters and its 2-digit key; a Corsican birthplace is 2A or 2B), however it is
# spaced: never in a letter.
_LONG_NUMBER = re.compile(r"(?:2[ABab][\s.-]?|\d[\s.-]?){12,}")
LETTER_FIELDS = ("summary", "consequences", "measures", "dpo_contact")


@dataclass(frozen=True)
class LabHeading:
    name: str
    finess: str


@dataclass(frozen=True)
class Addressee:
    """A letter's patient: name and postal address only."""

    name: str
    address: str | None


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("labvault.governance", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date_fr"] = date_fr
    env.filters["datetime_fr"] = datetime_fr
    env.filters["w3c_datetime"] = w3c_datetime
    return env


def cnil_pdf(incident: IncidentView, lab: LabHeading, issued_at: dt.datetime) -> bytes:
    """The art. 33 notification draft."""
    html = (
        _environment()
        .get_template("cnil.html")
        .render(
            incident=incident,
            lab=lab,
            issued_at=issued_at,
            tz=TIMEZONE,
            natures=[NATURE_FR[n] for n in incident.nature],
            hours=int(NOTIFY_WITHIN.total_seconds() // 3600),
            sources=[(SOURCES_FR[s], n) for s, n in incident.affected.by_source.items()],
            people=incident.people_approx if incident.people_approx is not None else incident.affected.total,
        )
    )
    return html_to_pdf(html)


def check_letter_texts(incident: IncidentView) -> None:
    """The texts a letter repeats hold no NIR-like number (the letter names no one's data)."""
    for name in LETTER_FIELDS:
        if _LONG_NUMBER.search(getattr(incident.details, name)):
            raise InvalidInput(name, "holds a long number (a NIR?): a letter to patients must not")


def letters_pdf(
    incident: IncidentView, lab: LabHeading, addressees: list[Addressee], issued_at: dt.datetime
) -> bytes:
    """One page per patient, in the order given (the art. 34 letter)."""
    check_letter_texts(incident)
    html = (
        _environment()
        .get_template("letters.html")
        .render(
            incident=incident,
            lab=lab,
            addressees=addressees,
            issued_at=issued_at,
            tz=TIMEZONE,
            natures=[NATURE_FR[n] for n in incident.nature],
        )
    )
    return html_to_pdf(html)
