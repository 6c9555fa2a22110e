"""Break-the-glass as a grant: refused without a reason, without re-authentication, for roles that
read no results and for those who need none; otherwise a four-hour-at-most override for one
patient, encrypted reason, audited as an emergency override, a high alert naming the patient."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.identity.reauth import ReauthenticationRequired
from labvault.platform import Platform
from labvault.security.access import Purpose, Role
from labvault.security.alert_models import Alert
from labvault.security.grant_models import AccessOverride
from labvault.security.reasons import MIN_REASON
from labvault.store.base import utcnow
from labvault.workflow.break_glass import MAX_MINUTES
from tests.db_inspect import audit_events, raw_rows, row_count
from tests.factories import Bench

REASON = "Arrêt cardiaque au service des urgences, biologiste injoignable"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire bris de glace")


def account(bench: Bench, role: Role, *, reauth_age: dt.timedelta | None = dt.timedelta(0)) -> Account:
    """A new account of the bench's lab; re-authenticated ``reauth_age`` ago (None: never)."""
    user = bench.factory.user(bench.lab, role)
    at = None if reauth_age is None else utcnow() - reauth_age
    return dataclasses.replace(user, reauthenticated_at=at)


def overrides(bench: Bench, patient_id: uuid.UUID) -> int:
    return row_count(bench.platform, AccessOverride, patient_id=patient_id)


def test_refusals_leave_nothing_behind(bench: Bench) -> None:
    patient = bench.patient()
    technician = account(bench, Role.TECHNICIAN)
    ctx = context_for(technician)
    service = bench.platform.break_glass
    cases: list[tuple[type[Exception], Account, str, dict[str, object]]] = [
        (InvalidInput, technician, "", {}),
        (InvalidInput, technician, "urgence", {}),
        (InvalidInput, technician, "a  b  c  d  e  f  g"[: MIN_REASON - 1], {}),
        (InvalidInput, technician, " " * 40, {}),
        (InvalidInput, technician, "x" * 501, {}),
        (InvalidInput, technician, REASON, {"minutes": MAX_MINUTES + 1}),
        (InvalidInput, technician, REASON, {"minutes": 0}),
    ]
    for error, who, reason, extra in cases:
        with pytest.raises(error) as caught:
            service.open(who, ctx, patient, reason, **extra)  # type: ignore[arg-type]
        assert caught.value.field in ("reason", "minutes")  # type: ignore[attr-defined]
    with pytest.raises(ReauthenticationRequired):
        service.open(dataclasses.replace(technician, reauthenticated_at=None), ctx, patient, REASON)
    stale = dataclasses.replace(technician, reauthenticated_at=utcnow() - dt.timedelta(minutes=6))
    with pytest.raises(ReauthenticationRequired):
        service.open(stale, ctx, patient, REASON)
    with pytest.raises(Forbidden):
        other = account(bench, Role.TECHNICIAN)
        service.open(other, ctx, patient, REASON)  # someone else's re-authentication
    with pytest.raises(Forbidden, match="lab_admin reads no orders, results or reports"):
        admin = account(bench, Role.LAB_ADMIN)
        service.open(admin, context_for(admin), patient, REASON)
    with pytest.raises(Conflict):
        biologist = account(bench, Role.BIOLOGIST)
        service.open(biologist, context_for(biologist), patient, REASON)
    with pytest.raises(Forbidden, match="care only"):
        service.open(technician, context_for(technician, Purpose.ADMINISTRATION), patient, REASON)
    with pytest.raises(NotFound):
        service.open(technician, ctx, uuid.uuid4(), REASON)
    other_lab = Bench.create(bench.platform, "Autre laboratoire")
    with pytest.raises(NotFound):
        service.open(technician, ctx, other_lab.patient(), REASON)
    assert overrides(bench, patient) == 0
    assert row_count(bench.platform, Alert, patient_id=patient) == 0
    assert [e.action for e in audit_events(bench.platform, bench.lab.id) if e.patient_id == patient] == [
        "patient.create"
    ]


def test_an_override_is_one_patient_for_a_limited_time_audited_and_alerted(bench: Bench) -> None:
    patient = bench.patient()
    reception = account(bench, Role.RECEPTION, reauth_age=dt.timedelta(minutes=4))
    before = utcnow()
    info = bench.platform.break_glass.open(reception, context_for(reception), patient, f"  {REASON}  ", 90)
    assert info.patient_id == patient and info.actor_id == reception.id
    assert before <= info.opened_at <= utcnow()
    assert info.expires_at - info.opened_at == dt.timedelta(minutes=90)

    (row,) = raw_rows(bench.platform, AccessOverride, id=info.id)
    assert (row.actor_id, row.patient_id, row.object_type, row.object_id) == (
        reception.id,
        patient,
        "patient",
        patient,
    )
    assert row.expires_at is not None and row.reviewed_at is None
    assert row.reason_enc and b"urgences" not in row.reason_enc
    with bench.platform.db.transaction(bench.lab.id) as session:
        cipher = bench.platform.keys.keyset(session, bench.lab.id).cipher
        assert cipher.decrypt("access_overrides", "reason_enc", row.id, row.reason_enc) == REASON

    (event,) = [
        e
        for e in audit_events(bench.platform, bench.lab.id, "restricted.break_glass")
        if e.patient_id == patient
    ]
    assert (event.actor_id, event.object_type, event.object_id) == (reception.id, "patient", str(patient))
    assert event.detail == {"override_id": str(info.id), "minutes": 90, "alert": True}
    assert event.purpose == "care" and "urgences" not in str(event.detail)

    (alert,) = raw_rows(bench.platform, Alert, patient_id=patient)
    assert (alert.kind, alert.severity, alert.actor_id, alert.lab_id) == (
        "break_glass",
        "high",
        reception.id,
        bench.lab.id,
    )
    assert alert.detail == {"override_id": str(info.id), "minutes": 90}


def test_default_is_one_hour_and_four_hours_is_the_most(bench: Bench) -> None:
    technician = account(bench, Role.TECHNICIAN)
    ctx = context_for(technician)
    one_hour = bench.platform.break_glass.open(technician, ctx, bench.patient(), REASON)
    assert one_hour.expires_at - one_hour.opened_at == dt.timedelta(hours=1)
    longest = bench.platform.break_glass.open(technician, ctx, bench.patient(), REASON, MAX_MINUTES)
    assert longest.expires_at - longest.opened_at == dt.timedelta(hours=4)


def test_the_clock_decides_expiry(bench: Bench) -> None:
    """With the service's clock moved back five hours, the override it opens is already closed."""
    order = bench.order(tests=["HIV"])
    technician = account(bench, Role.TECHNICIAN, reauth_age=dt.timedelta(hours=5))
    service = bench.platform.break_glass
    service.clock = lambda: utcnow() - dt.timedelta(hours=5)
    try:
        service.open(technician, context_for(technician), order.patient_id, REASON, MAX_MINUTES)
    finally:
        service.clock = utcnow
    with bench.platform.db.transaction(bench.lab.id) as session:
        rows = session.scalars(
            select(AccessOverride).where(AccessOverride.patient_id == order.patient_id)
        ).all()
        assert len(rows) == 1 and rows[0].expires_at is not None and rows[0].expires_at < utcnow()
    assert bench.platform.orders.get(context_for(technician), order.id).hidden_items == 1
