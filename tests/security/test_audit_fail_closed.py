"""No audit, no data: a read of a restricted result answers 503 and nothing else when its audit
event cannot be written (the chain head is gone, or the database refuses the insert)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text

from labvault.identity.patient_service import PatientService
from labvault.security.access import Role
from labvault.security.audit import AuditUnavailable
from labvault.security.models import AuditHead
from labvault.store.database import Database
from labvault.web.app import create_app
from labvault.workflow.prescribed_patients import PrescribedThroughOrders
from tests.factories import LOCAL, Bench, Factory
from tests.web.support import API, TestClient, bearer, token_for

REFUSE_INSERT = {
    "sqlite": [
        "CREATE TRIGGER audit_events_refuse BEFORE INSERT ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION labvault_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$",
        "CREATE TRIGGER audit_events_refuse BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION labvault_test_refuse()",
    ],
}


@pytest.mark.parametrize("failure", ["chain-head-missing", "insert-refused"])
def test_restricted_read_fails_closed_when_the_audit_cannot_be_written(
    fresh_factory: Factory, failure: str
) -> None:
    platform = fresh_factory.platform
    lab = fresh_factory.lab()
    staff = {
        role: fresh_factory.user(lab, role) for role in (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)
    }
    bench = Bench(fresh_factory, lab, staff, LOCAL)
    patient = platform.patients.register(
        fresh_factory.ctx(lab, Role.RECEPTION), fresh_factory.patient_data(birth_name="Qzrestreint")
    )
    order = bench.order(patient.id, tests=["HIV"])
    bench.enter(order, {"HIV": "negative"})
    token = token_for(platform, bench.staff[Role.BIOLOGIST])
    url = f"{API}/orders/{order.id}"
    with TestClient(create_app(platform)) as client:
        readable = client.get(url, headers=bearer(token))
        assert readable.status_code == 200, readable.text
        assert [item["test_code"] for item in readable.json()["items"]] == ["HIV"]
        assert readable.json()["items"][0]["result"] is not None

        with platform.db.owner_engine.begin() as conn:
            if failure == "chain-head-missing":
                conn.execute(delete(AuditHead.__table__).where(AuditHead.__table__.c.chain == str(lab.id)))
            else:
                for statement in REFUSE_INSERT[conn.dialect.name]:
                    conn.execute(text(statement))

        refused = client.get(url, headers=bearer(token))
    assert refused.status_code == 503
    assert refused.json() == {"detail": "the audit log cannot be written; access refused"}
    assert "HIV" not in refused.text and "negative" not in refused.text and "Qzrestreint" not in refused.text


def test_a_database_without_the_access_watch_records_nothing(factory: Factory) -> None:
    """Monitoring is never silently off: the audit log refuses to append through a database on
    which the platform registered no access watch, so the access it would record fails whole."""
    platform = factory.platform
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.RECEPTION)
    data = factory.patient_data()
    unwatched = Database(
        platform.settings.resolved_database_url(), app_url=platform.settings.database_app_url
    )
    try:
        patients = PatientService(unwatched, platform.keys, PrescribedThroughOrders())
        with pytest.raises(AuditUnavailable, match="no access watch"):
            patients.register(ctx, data)
    finally:
        unwatched.dispose()
    assert data.nir is not None
    assert platform.patients.find_by_nir(ctx, data.nir) == []  # nothing half-written
