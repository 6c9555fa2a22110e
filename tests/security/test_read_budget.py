"""Read budgets: a user reading many distinct patients is flagged, then refused; the refusal's alert
outlives the rolled-back read. Small thresholds (reception: soft 5, hard 12) keep the tests short."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from labvault.identity.accounts import context_for
from labvault.identity.lab_service import LabInfo
from labvault.oversight.read_budget import (
    BLOCKED,
    LAB_BLOCKED,
    LAB_SOFT,
    MASS_EXPORT,
    SOFT,
    ReadBudgetExceeded,
)
from labvault.oversight.read_windows import RATE
from labvault.platform import Platform
from labvault.security import audit
from labvault.security.access import Role
from labvault.security.monitor import install
from labvault.store.base import utcnow
from labvault.workflow.order_data import OrderRequest
from tests import db_inspect
from tests.db_inspect import actor_events
from tests.factories import Factory
from tests.web.support import API, app_client, bearer, token_for

SOFT_LIMIT, HARD_LIMIT = 5, 12
BUDGET_ALERTS = (
    SOFT,
    BLOCKED,
    MASS_EXPORT,
    LAB_SOFT,
    LAB_BLOCKED,
    RATE,
    "read_budget_hour",
    "read_budget_day",
)
BUDGETS: dict[str, Any] = {
    "read_budget_soft": {"reception": SOFT_LIMIT},
    "read_budget_hard": {"reception": HARD_LIMIT},
    "mass_export_patients": 3,
}


@pytest.fixture(scope="module")
def budgeted(platform: Platform) -> Iterator[Platform]:
    """The session's platform with small reception budgets, for this module only."""
    install(platform.db, platform.settings.model_copy(update=BUDGETS))
    yield platform
    install(platform.db, platform.settings)


@dataclass
class World:
    factory: Factory
    lab: LabInfo
    patients: list[uuid.UUID]

    @property
    def platform(self) -> Platform:
        return self.factory.platform


@pytest.fixture
def world(budgeted: Platform) -> World:
    """A lab with 20 patients (registered in bulk: creating is not reading)."""
    factory = Factory(budgeted)
    lab = factory.lab()
    registrar = factory.ctx(lab, Role.RECEPTION)
    ids = budgeted.patients.register_many(registrar, [factory.patient_data() for _ in range(20)])
    return World(factory, lab, ids)


def alerts(platform: Platform, actor: uuid.UUID | None) -> list[Any]:
    """The user's read-budget alerts (not those of accounts they created)."""
    return db_inspect.alerts(platform, actor_id=actor, kind=BUDGET_ALERTS)


def test_scraping_over_http_is_flagged_then_refused(world: World) -> None:
    platform = world.platform
    scraper = world.factory.user(world.lab, Role.RECEPTION)
    headers = bearer(token_for(platform, scraper))
    statuses: list[int] = []
    with app_client(platform, origin="192.0.2.10") as client:
        for patient_id in world.patients[:16]:
            response = client.get(f"{API}/patients/{patient_id}", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "600"
                detail = response.json()["detail"]
                assert "read budget exceeded" in detail and "reception" in detail
                assert str(patient_id) not in response.text
        # Patients already seen in the window stay readable: the budget counts distinct patients.
        again = client.get(f"{API}/patients/{world.patients[0]}", headers=headers)
    assert statuses == [200] * HARD_LIMIT + [429] * 4
    assert again.status_code == 200
    # The refused reads were rolled back: not audited as reads, nothing disclosed.
    reads = {row.patient_id for row in actor_events(platform, scraper.id, "patient.read")}
    assert reads == set(world.patients[:HARD_LIMIT])
    found = alerts(platform, scraper.id)
    assert [a.kind for a in found] == [SOFT, BLOCKED]  # one of each: no alert per request
    soft, blocked = found
    assert (soft.severity, soft.blocked, soft.detail["distinct_patients"]) == (
        "medium",
        False,
        SOFT_LIMIT + 1,
    )
    assert soft.detail["threshold"] == SOFT_LIMIT
    assert (blocked.severity, blocked.blocked, blocked.detail["threshold"]) == ("high", True, HARD_LIMIT)
    assert (blocked.origin, blocked.lab_id, blocked.role) == ("192.0.2.10", world.lab.id, "reception")
    # The refusal's alert was written after the rollback, and audited in the lab's chain like any.
    raised = {row.object_id for row in actor_events(platform, scraper.id, "alert.raise")}
    assert raised == {str(soft.id), str(blocked.id)}


def test_service_refusal_carries_its_alert_and_keeps_the_chain_intact(world: World) -> None:
    platform = world.platform
    ctx = world.factory.ctx(world.lab, Role.RECEPTION)
    for patient_id in world.patients[:HARD_LIMIT]:
        platform.patients.get(ctx, patient_id)
    with pytest.raises(ReadBudgetExceeded) as refused:
        platform.patients.get(ctx, world.patients[HARD_LIMIT])
    assert refused.value.retry_after == 600
    assert [a.kind for a in refused.value.alerts] == [BLOCKED]
    assert [a.kind for a in alerts(platform, ctx.actor_id)] == [SOFT, BLOCKED]
    assert platform.audit.verify().ok  # the rolled-back events left no hole in the chain


def test_search_hits_count_and_a_wide_answer_is_a_mass_export(world: World) -> None:
    """Patients a search shows count like reads; one answer naming more patients than the mass
    export threshold (3 here) raises its own alert, once per window."""
    platform, factory = world.platform, world.factory
    registrar = factory.ctx(world.lab, Role.RECEPTION)
    first = factory.patient_data(nir=None, ins=None, ins_oid=None, ins_status=None)
    for _ in range(3):  # four homonyms: same name, same birth date
        platform.patients.register(registrar, first, accept_homonym=True)
    platform.patients.register(registrar, first, accept_homonym=True)
    searcher = factory.ctx(world.lab, Role.RECEPTION)
    for _ in range(2):
        hits = platform.patients.find_by_name_birth(searcher, first.birth_name, first.birth_date)
        assert len(hits) == 4
    assert [a.kind for a in alerts(platform, searcher.actor_id)] == [MASS_EXPORT]
    mass = alerts(platform, searcher.actor_id)[0]
    assert (mass.severity, mass.detail["patients"], mass.detail["action"]) == (
        "medium",
        4,
        "patient.search_hit",
    )
    for patient_id in world.patients[:2]:  # 4 + 2 distinct > soft 5
        platform.patients.get(searcher, patient_id)
    assert [a.kind for a in alerts(platform, searcher.actor_id)] == [MASS_EXPORT, SOFT]


def test_bulk_work_on_samples_is_not_counted(world: World) -> None:
    """Registering patients, creating orders, receiving their tubes: bulk by design, not reads."""
    platform, factory = world.platform, world.factory
    clerk = factory.ctx(world.lab, Role.RECEPTION)
    new = platform.patients.register_many(clerk, [factory.patient_data() for _ in range(HARD_LIMIT + 3)])
    for patient_id in new:
        order = platform.orders.create(clerk, OrderRequest(patient_id=patient_id, tests=("K",)))
        for specimen in order.specimens:
            platform.specimens.receive(clerk, specimen.barcode)
    assert alerts(platform, clerk.actor_id) == []


def test_budgets_are_per_user_and_per_role(world: World) -> None:
    platform, factory = world.platform, world.factory
    technician = factory.ctx(world.lab, Role.TECHNICIAN)  # default budget: soft 300, hard 600
    for patient_id in world.patients:
        platform.patients.get(technician, patient_id)
    assert alerts(platform, technician.actor_id) == []
    colleague = factory.ctx(world.lab, Role.RECEPTION)  # another reception user starts at zero
    for patient_id in world.patients[:SOFT_LIMIT]:
        platform.patients.get(colleague, patient_id)
    assert alerts(platform, colleague.actor_id) == []


def test_the_window_slides(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads older than the window (10 minutes) no longer count: 12 reads 11 minutes ago, then 8
    now, is one soft alert (6 > 5), not a refusal (20 > 12)."""
    platform = world.platform
    ctx = world.factory.ctx(world.lab, Role.RECEPTION)
    earlier = utcnow() - dt.timedelta(minutes=11)
    monkeypatch.setattr(audit, "utcnow", lambda: earlier)
    for patient_id in world.patients[:HARD_LIMIT]:
        platform.patients.get(ctx, patient_id)
    monkeypatch.undo()
    for patient_id in world.patients[HARD_LIMIT:]:
        platform.patients.get(ctx, patient_id)
    found = alerts(platform, ctx.actor_id)
    assert [a.kind for a in found] == [SOFT]
    assert found[0].detail["distinct_patients"] == SOFT_LIMIT + 1


def test_work_without_an_account_has_no_budget(world: World) -> None:
    """A budget is a person's: contexts without an account (the console) are audited, not budgeted."""
    platform = world.platform
    console = dataclasses.replace(context_for(world.factory.user(world.lab, Role.LAB_ADMIN)), actor_id=None)
    for patient_id in world.patients:
        platform.patients.get(console, patient_id)
    assert [a for a in alerts(platform, None) if a.lab_id == world.lab.id] == []


def test_budgets_can_be_switched_off_for_benchmarks(world: World) -> None:
    platform = world.platform
    install(platform.db, platform.settings.model_copy(update={**BUDGETS, "read_budgets": False}))
    try:
        ctx = world.factory.ctx(world.lab, Role.RECEPTION)
        for patient_id in world.patients:
            platform.patients.get(ctx, patient_id)
    finally:
        install(platform.db, platform.settings.model_copy(update=BUDGETS))
    assert alerts(platform, ctx.actor_id) == []
