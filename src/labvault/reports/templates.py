"""The Jinja2 environment of the report templates, and the French formatting filters they use.

Autoescaping is on for every template: names, comments and correction reasons are typed by people,
and the same HTML is served to the web UI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = [
    "date_fr",
    "datetime_fr",
    "environment",
    "format_value",
    "local_time",
    "nir_fr",
    "sex_fr",
    "w3c_datetime",
]

_SEXES: Final = {"M": "Masculin", "F": "Féminin"}
_NIR_GROUPS: Final = (1, 2, 2, 2, 3, 3, 2)  # 2 90 04 75 113 001 32, as printed on the carte Vitale


def local_time(value: dt.datetime, timezone: str) -> dt.datetime:
    """An aware datetime in the lab's zone; a naive one is taken as already local (never shifted)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(ZoneInfo(timezone))


def date_fr(value: dt.date | None) -> str:
    """dd/mm/yyyy, the French date format; empty for a missing date."""
    return "" if value is None else value.strftime("%d/%m/%Y")


def datetime_fr(value: dt.datetime | None, timezone: str) -> str:
    """dd/mm/yyyy à HH:MM in the lab's local time (a UTC time on a French report would mislead)."""
    if value is None:
        return ""
    local = local_time(value, timezone)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def w3c_datetime(value: dt.datetime, timezone: str) -> str:
    """The W3C form WeasyPrint accepts in ``dcterms.created``: it needs an offset once a time is given."""
    return local_time(value, timezone).isoformat(timespec="seconds")


def format_value(value: float) -> str:
    """A measured value without float noise or trailing zeros (13.2, not 13.200000000000001)."""
    return f"{value:g}"


def range_text(
    low: float | None, high: float | None, show: Callable[[float], str] = format_value
) -> str | None:
    """A reference interval as printed: "12.0 – 16.0", "< 5.0", "> 60"; None when it has no limit."""
    if low is not None and high is not None:
        return f"{show(low)} – {show(high)}"
    if high is not None:
        return f"< {show(high)}"
    if low is not None:
        return f"> {show(low)}"
    return None


def nir_fr(value: str | None) -> str:
    """The NIR grouped as 1 2 2 2 3 3 2, easier to check by eye; other lengths are left as they are."""
    if value is None:
        return ""
    if len(value) != sum(_NIR_GROUPS):
        return value
    parts, start = [], 0
    for size in _NIR_GROUPS:
        parts.append(value[start : start + size])
        start += size
    return " ".join(parts)


# How a French report prints the catalogue's keys: section names, and UCUM codes as people read them.
_SECTIONS_FR = {
    "haematology": "Hématologie",
    "biochemistry": "Biochimie",
    "immunology/serology": "Immunologie - sérologie",
    "haemostasis": "Hémostase",
    "immunohaematology": "Immuno-hématologie",
    "hormonology": "Hormonologie",
}
_UNITS = {
    "10*9/L": "G/L",
    "10*12/L": "T/L",
    "umol/L": "µmol/L",
    "ug/L": "µg/L",
    "[IU]/L": "UI/L",
    "[IU]/mL": "UI/mL",
    "m[IU]/L": "mUI/L",
    "m[IU]/mL": "mUI/mL",
    "mL/min/{1.73_m2}": "mL/min/1,73 m²",
    "{INR}": "",
}


def section_fr(value: str) -> str:
    return _SECTIONS_FR.get(value, value)


def unit_display(value: str | None) -> str:
    """A UCUM code as printed (G/L for 10*9/L, µmol/L, UI/L...); unknown codes are shown as they are."""
    if value is None:
        return ""
    return _UNITS.get(value, value)


def sex_fr(value: str) -> str:
    """Masculin, Féminin or Indéterminé (U, or anything unexpected)."""
    return _SEXES.get(value, "Indéterminé")


@cache
def environment() -> Environment:
    """One shared environment: templates are compiled once per process, then reused."""
    env = Environment(
        loader=PackageLoader("labvault.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date_fr"] = date_fr
    env.filters["datetime_fr"] = datetime_fr
    env.filters["w3c_datetime"] = w3c_datetime
    env.filters["format_value"] = format_value
    env.filters["nir_fr"] = nir_fr
    env.filters["sex_fr"] = sex_fr
    env.filters["section_fr"] = section_fr
    env.filters["unit_display"] = unit_display
    return env
