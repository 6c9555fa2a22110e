"""Patient service: duplicates, updates, role checks, tenant isolation and "no audit, no data"."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import delete, func, select, update

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity.models import Patient
from labvault.platform import open_platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.audit import AuditUnavailable
from labvault.security.models import AuditEvent, AuditHead
from labvault.store.tenancy import TenantScopeError
from tests.db_inspect import audit_events
from tests.factories import Factory, cli_ctx


def lab_events(factory: Factory, lab_id: uuid.UUID) -> list[tuple[str, str | None, dict[str, object]]]:
    return [(row.action, row.object_id, row.detail) for row in audit_events(factory.platform, lab_id)]


def test_every_access_is_audited_with_ids_only(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab, Role.RECEPTION)
    data = factory.patient_data()
    record = factory.platform.patients.register(ctx, data)
    factory.platform.patients.get(ctx, record.id)
    factory.platform.patients.find_by_nir(ctx, data.nir or "")
    factory.platform.patients.update(ctx, record.id, {"phone": "+33639981000"})
    events = [e for e in lab_events(factory, lab.id) if e[0].startswith("patient.")]
    assert [e[0] for e in events] == [
        "patient.create",
        "patient.read",
        "patient.search",
        "patient.search_hit",
        "patient.update",
    ]
    assert events[1][1] == str(record.id)
    assert events[2][2] == {"by": "nir", "results": [str(record.id)]}
    assert events[4][2] == {"fields": ["phone"]}
    # Every event but the search itself names its patient, for the access log and read budgets.
    table = AuditEvent.__table__
    with factory.platform.db.owner_engine.connect() as conn:
        subjects = conn.execute(
            select(table.c.action, table.c.patient_id)
            .where(table.c.chain == str(lab.id), table.c.action.like("patient.%"))
            .order_by(table.c.chain_seq)
        ).all()
    assert [s.patient_id for s in subjects] == [record.id, record.id, None, record.id, record.id]
    assert data.birth_name not in repr(events) and (data.nir or "") not in repr(events)


def test_duplicate_nir_refused_with_existing_id(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab)
    first = factory.platform.patients.register(ctx, factory.patient_data())
    twin = factory.patient_data(nir=first.data.nir, sex=first.data.sex, birth_date=first.data.birth_date)
    with pytest.raises(Conflict, match="same NIR") as caught:
        factory.platform.patients.register(ctx, twin, accept_homonym=True)
    assert caught.value.existing_ids == [str(first.id)]
    refused = [e for e in lab_events(factory, lab.id) if e[0] == "patient.register_refused"]
    assert refused == [("patient.register_refused", None, {"matches": [str(first.id)]})]
    hits = [e for e in lab_events(factory, lab.id) if e[0] == "patient.search_hit"]
    assert hits == [("patient.search_hit", str(first.id), {})]


def test_homonym_needs_confirmation(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab)
    first = factory.platform.patients.register(ctx, factory.patient_data())
    homonym = dataclasses.replace(
        factory.patient_data(), birth_name=first.data.birth_name.upper(), birth_date=first.data.birth_date,
        nir=None, ins=None, ins_oid=None,
    )  # fmt: skip
    with pytest.raises(Conflict, match="name and birth date") as caught:
        factory.platform.patients.register(ctx, homonym)
    assert caught.value.existing_ids == [str(first.id)]
    second = factory.platform.patients.register(ctx, homonym, accept_homonym=True)
    found = factory.platform.patients.find_by_name_birth(ctx, first.data.birth_name, first.data.birth_date)
    assert {r.id for r in found} == {first.id, second.id}


def test_same_patient_in_two_labs_is_two_unlinkable_records(factory: Factory) -> None:
    lab_a, lab_b = factory.lab(), factory.lab()
    data = factory.patient_data()
    a = factory.platform.patients.register(factory.ctx(lab_a), data)
    b = factory.platform.patients.register(factory.ctx(lab_b), data)
    with factory.platform.db.owner_engine.connect() as conn:
        rows = conn.execute(select(Patient.__table__).where(Patient.__table__.c.id.in_([a.id, b.id]))).all()
    assert rows[0].nir_bidx != rows[1].nir_bidx
    assert rows[0].nir_enc != rows[1].nir_enc


def test_update_revision_and_validation(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab)
    record = factory.platform.patients.register(ctx, factory.patient_data())
    updated = factory.platform.patients.update(
        ctx, record.id, {"used_name": "Martin-Durand"}, expected_revision=1
    )
    assert updated.revision == 2 and updated.data.used_name == "Martin-Durand"
    with pytest.raises(Conflict, match="changed since revision 1"):
        factory.platform.patients.update(ctx, record.id, {"used_name": "X"}, expected_revision=1)
    with pytest.raises(InvalidInput) as caught:
        factory.platform.patients.update(ctx, record.id, {"nir": "123"})
    assert caught.value.field == "nir"
    with pytest.raises(InvalidInput, match="not a patient field"):
        factory.platform.patients.update(ctx, record.id, {"lab_id": "x"})
    assert factory.platform.patients.get(ctx, record.id).revision == 2
    found = factory.platform.patients.find_by_name_birth(ctx, "martin durand", record.data.birth_date)
    assert [r.id for r in found] == [record.id]


def test_roles(factory: Factory) -> None:
    lab = factory.lab()
    record = factory.platform.patients.register(factory.ctx(lab, Role.RECEPTION), factory.patient_data())
    technician = factory.ctx(lab, Role.TECHNICIAN)
    assert factory.platform.patients.get(technician, record.id).id == record.id
    with pytest.raises(Forbidden):
        factory.platform.patients.register(technician, factory.patient_data())
    with pytest.raises(Forbidden):
        factory.platform.patients.get(cli_ctx(), record.id)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    op_ctx = AccessContext(operator.id, operator.username, Role.PLATFORM_OPERATOR, None, Purpose.CARE)
    with pytest.raises(Forbidden):
        factory.platform.patients.find_by_nir(op_ctx, record.data.nir or "")


def test_other_lab_sees_nothing(factory: Factory) -> None:
    lab_a, lab_b = factory.lab(), factory.lab()
    data = factory.patient_data()
    record = factory.platform.patients.register(factory.ctx(lab_a), data)
    intruder = factory.ctx(lab_b, Role.BIOLOGIST)
    with pytest.raises(NotFound):
        factory.platform.patients.get(intruder, record.id)
    with pytest.raises(NotFound):
        factory.platform.patients.update(intruder, record.id, {"note": "x"})
    assert factory.platform.patients.find_by_nir(intruder, data.nir or "") == []
    assert factory.platform.patients.find_by_name_birth(intruder, data.birth_name, data.birth_date) == []


def test_tenant_scope_is_enforced_by_the_session(factory: Factory) -> None:
    """Even a query that forgets (or forges) the lab filter gets only its own lab's rows."""
    lab_a, lab_b = factory.lab(), factory.lab()
    record = factory.platform.patients.register(factory.ctx(lab_a), factory.patient_data())
    with factory.platform.db.transaction(lab_b.id) as session:
        assert session.get(Patient, record.id) is None
        assert session.scalars(select(Patient).where(Patient.id == record.id)).all() == []
        assert (
            session.scalar(select(func.count()).select_from(Patient).where(Patient.lab_id == lab_a.id)) == 0
        )
    with pytest.raises(TenantScopeError), factory.platform.db.transaction(None) as session:
        session.scalars(select(Patient)).all()
    with pytest.raises(TenantScopeError), factory.platform.db.transaction(lab_b.id) as session:
        session.add(Patient(id=uuid.uuid4(), lab_id=lab_a.id))
        session.flush()
    table = Patient.__table__
    for statement in (
        select(table).where(table.c.id == record.id),
        update(table).where(table.c.id == record.id).values(revision=99),
        delete(table).where(table.c.id == record.id),
    ):
        for scope in (lab_b.id, None):
            with (
                pytest.raises(TenantScopeError, match="Core statement"),
                factory.platform.db.transaction(scope) as session,
            ):
                session.execute(statement)
    assert factory.platform.patients.get(factory.ctx(lab_a), record.id).revision == 1


def test_no_audit_no_data(fresh_factory: Factory) -> None:
    """If the audit event cannot be written, the read fails and returns nothing."""
    platform = fresh_factory.platform
    lab = fresh_factory.lab()
    ctx = fresh_factory.ctx(lab)
    record = platform.patients.register(ctx, fresh_factory.patient_data())
    with platform.db.owner_engine.begin() as conn:
        conn.execute(delete(AuditHead.__table__).where(AuditHead.__table__.c.chain == str(lab.id)))
    with pytest.raises(AuditUnavailable):
        platform.patients.get(ctx, record.id)
    with pytest.raises(AuditUnavailable):
        platform.patients.register(ctx, fresh_factory.patient_data())
    with platform.db.owner_engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Patient.__table__)).scalar_one()
    assert count == 1


def test_register_many_is_all_or_nothing(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab)
    batch = [factory.patient_data() for _ in range(20)]
    ids = factory.platform.patients.register_many(ctx, batch)
    assert len(ids) == 20
    again = [factory.patient_data() for _ in range(5)] + [batch[3]]
    with pytest.raises(Conflict, match="item 5"):
        factory.platform.patients.register_many(ctx, again)
    assert factory.platform.patients.find_by_nir(ctx, again[0].nir or "") == []
    bad = [factory.patient_data(), dataclasses.replace(factory.patient_data(), nir="123")]
    with pytest.raises(InvalidInput) as caught:
        factory.platform.patients.register_many(ctx, bad)
    assert caught.value.field == "items[1].nir"
    assert factory.platform.patients.find_by_nir(ctx, bad[0].nir or "") == []
    repeated = [batch[0], batch[0]]
    with pytest.raises(Conflict, match="item 1: same NIR as item 0"):
        factory.platform.patients.register_many(factory.ctx(factory.lab()), repeated)


def test_keys_survive_a_restart(factory: Factory) -> None:
    lab = factory.lab()
    ctx = factory.ctx(lab)
    record = factory.platform.patients.register(ctx, factory.patient_data())
    other = open_platform(factory.platform.settings)
    try:
        assert other.patients.get(ctx, record.id).data == record.data
    finally:
        other.close()


def test_operator_cannot_give_itself_access_to_patients(factory: Factory) -> None:
    """Operators create a lab's first admin only; no staff account, no second admin."""
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)  # the first admin, created by the operator
    for role in (Role.BIOLOGIST, Role.RECEPTION, Role.TECHNICIAN, Role.LAB_ADMIN):
        with pytest.raises(Forbidden, match="first administrator"):
            factory.platform.accounts.create_user(
                cli_ctx(), f"x{uuid.uuid4().hex[:10]}", "x" * 16, role, lab.id
            )
    staff = factory.platform.accounts.create_user(
        AccessContext(admin.id, admin.username, Role.LAB_ADMIN, lab.id, Purpose.ADMINISTRATION),
        f"s{uuid.uuid4().hex[:10]}", "y" * 16, Role.BIOLOGIST, lab.id,
    )  # fmt: skip
    assert staff.role is Role.BIOLOGIST and staff.lab_id == lab.id


def test_operator_cannot_take_over_a_lab_by_disabling_its_admin(factory: Factory) -> None:
    """Disable the lab's only admin, then create a new one: refused (the review found this path)."""
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    op_ctx = AccessContext(
        operator.id, operator.username, Role.PLATFORM_OPERATOR, None, Purpose.ADMINISTRATION
    )
    factory.platform.accounts.update_user(op_ctx, admin.id, active=False)  # incident response: allowed
    with pytest.raises(Forbidden, match="first administrator"):
        factory.platform.accounts.create_user(
            op_ctx, f"x{uuid.uuid4().hex[:10]}", "x" * 16, Role.LAB_ADMIN, lab.id
        )
    with pytest.raises(Forbidden, match="not enable one"):
        factory.platform.accounts.update_user(op_ctx, admin.id, active=True)
