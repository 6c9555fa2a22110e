"""The pages of the browser UI: home, patient search and record, the record's access log, and the
lab's security alerts. Each calls the same services as the API, which authorise and audit; a page
only shows what they return. Searches are POSTs: no NIR or name ever sits in a URL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query
from starlette.responses import RedirectResponse, Response

from labvault.errors import InvalidInput
from labvault.identity.patient_data import PatientRecord
from labvault.security.permissions import Permission
from labvault.security.policy import role_may
from labvault.web.deps import PlatformDep
from labvault.web.ui import UI_PREFIX, pages
from labvault.web.ui.form_fields import no_nul, optional
from labvault.web.ui.session import CheckedPost, UiSession, UiSessionDep

router = APIRouter(include_in_schema=False)


def _menu(session: UiSession) -> dict[str, bool]:
    """The links a role is shown (the services refuse the rest anyway)."""
    role = session.account.role
    return {
        "patients": role_may(role, Permission.PATIENT_READ),
        "alerts": role_may(role, Permission.ALERTS_READ),
    }


def page(template: str, session: UiSession, status: int = 200, **values: object) -> Response:
    return pages.render(
        template, status, me=session.account, csrf_token=session.csrf_token, menu=_menu(session), **values
    )


@router.get("/static/ui.css")
def stylesheet() -> Response:
    return pages.static_response("ui.css")


@router.get("/static/webauthn.js")
def script() -> Response:
    return pages.static_response("webauthn.js")


@router.get("/")
def home(session: UiSessionDep) -> Response:
    return page("home.html", session)


@router.get("/patients/search")
def search_form(session: UiSessionDep) -> Response:
    return page("patient_search.html", session, results=None)


@router.post("/patients/search")
def search(
    session: CheckedPost,
    platform: PlatformDep,
    nir: Annotated[str | None, Form(max_length=30)] = None,
    name: Annotated[str | None, Form(max_length=100)] = None,
    birth_date: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """By NIR, or by name and birth date (the same searches, audited the same way, as the API)."""
    no_nul(nir=nir, name=name, birth_date=birth_date)
    nir, name, birth_date = optional(nir), optional(name), optional(birth_date)
    results: list[PatientRecord]
    if nir is not None:
        results = platform.patients.find_by_nir(session.ctx, nir)
    elif name is not None and birth_date is not None:
        try:
            born = dt.date.fromisoformat(birth_date)
        except ValueError:
            raise InvalidInput("birth_date", "is not a date (YYYY-MM-DD)") from None
        results = platform.patients.find_by_name_birth(session.ctx, name, born)
    else:
        raise InvalidInput("nir", "give a NIR, or a name and a birth date")
    return page("patient_search.html", session, results=results)


@router.get("/patients/{patient_id}")
def patient(patient_id: uuid.UUID, session: UiSessionDep, platform: PlatformDep) -> Response:
    record = platform.patients.get(session.ctx, patient_id)
    may_see_log = role_may(session.account.role, Permission.ACCESS_LOG_READ)
    return page("patient.html", session, patient=record, may_see_log=may_see_log)


@router.get("/patients/{patient_id}/access-log")
def access_log(patient_id: uuid.UUID, session: UiSessionDep, platform: PlatformDep) -> Response:
    log = platform.access_log.for_patient(session.ctx, patient_id, limit=100)
    return page("access_log.html", session, log=log, patient_id=patient_id)


@router.get("/alerts")
def alerts(
    session: UiSessionDep, platform: PlatformDep, show_all: Annotated[bool, Query(alias="all")] = False
) -> Response:
    listed = platform.alerts.list(session.ctx, open_only=not show_all, limit=100)
    return page("alerts.html", session, alerts=listed.alerts, showing_all=show_all)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(alert_id: uuid.UUID, session: CheckedPost, platform: PlatformDep) -> Response:
    platform.alerts.acknowledge(session.ctx, alert_id)
    return RedirectResponse(f"{UI_PREFIX}/alerts", status_code=303)
