"""Support access: the platform operator reads nothing of a lab without its admin's grant; with one,
only that lab, read-only, for maintenance, while the grant is neither expired nor revoked; every
grant, use and revocation audited, the grant alerted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from labvault.errors import Forbidden, InvalidInput, NotFound
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.reauth import ReauthenticationRequired
from labvault.platform import Platform
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.alert_models import Alert
from labvault.security.grant_models import SupportGrant
from labvault.store.base import utcnow
from labvault.workflow.order_data import OrderRequest
from tests.db_inspect import audit_events, raw_rows, row_count
from tests.factories import Bench, Factory

REASON = "Ticket 4512: doublons de patients après import du fichier CSV"


@dataclass
class Scene:
    platform: Platform
    bench: Bench  # lab A: its staff, patients, orders
    admin: Account  # lab A's admin, re-authenticated just now
    operator: Account
    other: Bench  # lab B

    @property
    def lab(self) -> LabInfo:
        return self.bench.lab

    @property
    def operator_ctx(self) -> AccessContext:
        return context_for(self.operator, Purpose.MAINTENANCE)

    def grant(self, hours: int = 2) -> uuid.UUID:
        return self.platform.support.grant(
            self.admin, context_for(self.admin), self.operator.username, hours, REASON
        ).id


@pytest.fixture
def scene(platform: Platform) -> Scene:
    bench = Bench.create(platform, "Laboratoire support")
    factory: Factory = bench.factory
    admin = dataclasses.replace(factory.user(bench.lab, Role.LAB_ADMIN), reauthenticated_at=utcnow())
    operator = factory.user(None, Role.PLATFORM_OPERATOR)
    return Scene(platform, bench, admin, operator, Bench.create(platform, "Laboratoire voisin"))


def events(scene: Scene, action: str, lab: LabInfo | None = None) -> list[Any]:
    return audit_events(scene.platform, (lab or scene.lab).id, action)


def test_without_a_grant_the_operator_reads_nothing(scene: Scene) -> None:
    patient = scene.bench.patient()
    with pytest.raises(Forbidden, match="no access to patient data"):
        scene.platform.patients.get(scene.operator_ctx, patient)
    with pytest.raises(Forbidden, match="no active support grant"):
        scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    staff = context_for(scene.admin)
    with pytest.raises(Forbidden, match="only a platform operator"):
        scene.platform.support.enter(staff, scene.lab.id)
    assert events(scene, "support.use") == []


def test_granting_needs_a_re_authenticated_lab_admin_and_sane_terms(scene: Scene) -> None:
    support, admin_ctx = scene.platform.support, context_for(scene.admin)
    biologist = scene.bench.factory.user(scene.lab, Role.BIOLOGIST)
    fresh_biologist = dataclasses.replace(biologist, reauthenticated_at=utcnow())
    with pytest.raises(Forbidden):
        support.grant(fresh_biologist, context_for(biologist), scene.operator.username, 2, REASON)
    with pytest.raises(ReauthenticationRequired):
        support.grant(
            dataclasses.replace(scene.admin, reauthenticated_at=None),
            admin_ctx,
            scene.operator.username,
            2,
            REASON,
        )
    stale = dataclasses.replace(scene.admin, reauthenticated_at=utcnow() - dt.timedelta(minutes=10))
    with pytest.raises(ReauthenticationRequired):
        support.grant(stale, admin_ctx, scene.operator.username, 2, REASON)
    for hours in (0, 9):
        with pytest.raises(InvalidInput) as caught:
            support.grant(scene.admin, admin_ctx, scene.operator.username, hours, REASON)
        assert caught.value.field == "hours"
    with pytest.raises(InvalidInput) as caught:
        support.grant(scene.admin, admin_ctx, scene.operator.username, 2, "   aide   ")
    assert caught.value.field == "reason"
    for who in ("nobody-by-that-name", str(uuid.uuid4()), biologist.username, str(biologist.id)):
        with pytest.raises(InvalidInput) as caught:
            support.grant(scene.admin, admin_ctx, who, 2, REASON)
        assert caught.value.field == "operator"
    assert row_count(scene.platform, SupportGrant, lab_id=scene.lab.id) == 0
    assert events(scene, "support.grant") == []


def test_an_active_grant_opens_that_lab_read_only_every_use_audited(scene: Scene) -> None:
    bench = scene.bench
    order = bench.order(tests=["HIV", "K"])
    bench.enter_and_validate(order, {"K": "4.1"})
    grant_id = scene.grant()

    (granted,) = events(scene, "support.grant")
    assert granted.object_id == str(grant_id) and granted.actor_id == scene.admin.id
    assert granted.detail == {"grant_id": str(grant_id), "operator_id": str(scene.operator.id), "hours": 2}
    (alert,) = [a for a in raw_rows(scene.platform, Alert, lab_id=scene.lab.id) if a.kind == "support_grant"]
    assert alert.severity == "low" and alert.detail["grant_id"] == str(grant_id)
    (row,) = raw_rows(scene.platform, SupportGrant, id=grant_id)
    assert row.reason_enc and b"doublons" not in row.reason_enc
    assert row.expires_at - row.created_at == dt.timedelta(hours=2)

    support = scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    assert (support.role, support.lab_id, support.purpose, support.grant_id) == (
        Role.SUPPORT,
        scene.lab.id,
        Purpose.MAINTENANCE,
        grant_id,
    )
    assert scene.platform.patients.get(support, order.patient_id).id == order.patient_id
    seen = scene.platform.orders.get(support, order.id)
    assert seen.hidden_items == 1 and {i.test_code for i in seen.items} == {"K"}, "never restricted tests"
    assert all(item.result is None for item in seen.items), "never result values"
    with pytest.raises(Forbidden):
        scene.platform.reports.history(support, order.patient_id)
    with pytest.raises(Forbidden):
        scene.platform.results.worklist(support, "biochemistry")
    with pytest.raises(Forbidden):
        scene.platform.patients.register(support, bench.factory.patient_data())
    with pytest.raises(Forbidden):
        scene.platform.orders.create(support, OrderRequest(patient_id=order.patient_id, tests=("K",)))

    (use,) = events(scene, "support.use")
    assert (use.actor_id, use.role, use.object_id) == (scene.operator.id, "support", str(grant_id))
    reads = [e for e in audit_events(scene.platform, scene.lab.id) if e.actor_id == scene.operator.id]
    assert {e.action for e in reads} >= {"support.use", "patient.read", "order.read"}
    assert all((e.role, e.purpose) == ("support", "maintenance") for e in reads)


def test_a_grant_is_for_one_lab(scene: Scene) -> None:
    scene.grant()
    other_patient = scene.other.patient()
    with pytest.raises(Forbidden, match="no active support grant"):
        scene.platform.support.enter(scene.operator_ctx, scene.other.lab.id)
    support = scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    with pytest.raises(NotFound):
        scene.platform.patients.get(support, other_patient)
    assert events(scene, "support.use", scene.other.lab) == []


def test_revocation_and_expiry_end_access_at_once(scene: Scene) -> None:
    patient = scene.bench.patient()
    grant_id = scene.grant()
    support = scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    scene.platform.patients.get(support, patient)

    revoked = scene.platform.support.revoke(context_for(scene.admin), grant_id)
    assert revoked.revoked_at is not None and not revoked.active(utcnow())
    with pytest.raises(Forbidden):
        scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    scene.platform.support.revoke(context_for(scene.admin), grant_id)
    assert [e.object_id for e in events(scene, "support.revoke")] == [str(grant_id)], "revoked once"
    with pytest.raises(NotFound):
        scene.platform.support.revoke(context_for(scene.admin), uuid.uuid4())

    second = scene.grant(hours=1)
    scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    with scene.platform.db.owner_engine.begin() as conn:
        conn.execute(
            update(SupportGrant)
            .where(SupportGrant.id == second)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    with pytest.raises(Forbidden):
        scene.platform.support.enter(scene.operator_ctx, scene.lab.id)
    listed = scene.platform.support.list(context_for(scene.admin))
    assert [(g.id, g.active(utcnow())) for g in listed] == [(second, False), (grant_id, False)]
    assert {g.operator_username for g in listed} == {scene.operator.username}
    assert len(events(scene, "support.use")) == 2


def test_a_grant_names_the_operator_by_username_or_id(scene: Scene) -> None:
    by_id = scene.platform.support.grant(
        scene.admin, context_for(scene.admin), str(scene.operator.id), 1, REASON
    )
    assert by_id.operator_id == scene.operator.id and by_id.operator_username == scene.operator.username
    with pytest.raises(Forbidden):
        scene.platform.support.list(context_for(scene.bench.factory.user(scene.lab, Role.BIOLOGIST)))
