"""Canary patients: planted through the ordinary patient service, invisible as such through the API,
and any access naming one (read, search hit, order, list, worklist) raises a high alert."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labvault.cli import app
from labvault.identity.accounts import Account, context_for
from labvault.identity.lab_service import LabInfo
from labvault.identity.patient_data import PatientRecord
from labvault.oversight.canaries import CanaryInfo, CanaryService
from labvault.oversight.read_budget import BLOCKED, ReadBudgetExceeded
from labvault.platform import Platform
from labvault.security.access import AccessContext, Role
from labvault.security.alert_models import Alert
from labvault.security.monitor import install
from labvault.workflow.order_data import OrderRequest
from tests.conftest import forget_account_alerts
from tests.db_inspect import alerts
from tests.factories import Factory
from tests.web.support import API, app_client, bearer, token_for


@dataclass
class Garden:
    factory: Factory
    lab: LabInfo
    admin: Account
    canaries: list[CanaryInfo]
    decoy: PatientRecord  # an ordinary patient, for comparison

    @property
    def platform(self) -> Platform:
        return self.factory.platform

    def ctx(self, role: Role = Role.RECEPTION) -> AccessContext:
        return self.factory.ctx(self.lab, role)

    def canary(self, reader: AccessContext, index: int = 0) -> PatientRecord:
        return self.platform.patients.get(reader, self.canaries[index].patient_id)


@pytest.fixture
def garden(platform: Platform) -> Garden:
    factory = Factory(platform)
    lab = factory.lab()
    admin = factory.user(lab, Role.LAB_ADMIN)
    planted = CanaryService(platform.db, platform.patients).plant(context_for(admin), 2, "test planting")
    decoy = platform.patients.register(factory.ctx(lab, Role.RECEPTION), factory.patient_data())
    forget_account_alerts(platform, lab.id)
    return Garden(factory, lab, admin, planted, decoy)


def test_planting_registers_ordinary_looking_patients_silently(garden: Garden) -> None:
    platform = garden.platform
    assert alerts(platform, lab_id=garden.lab.id) == []
    listed = CanaryService(platform.db, platform.patients).list(context_for(garden.admin))
    assert [c.id for c in listed] == [c.id for c in garden.canaries]
    assert [c.label for c in listed] == ["test planting"] * 2
    assert alerts(platform, lab_id=garden.lab.id) == []  # listing them is not touching them
    with platform.db.transaction(garden.lab.id) as session:
        assert len(session.scalars(select(Alert)).all()) == 0


def test_reading_a_canary_raises_a_high_alert_that_does_not_name_it(garden: Garden) -> None:
    platform = garden.platform
    reader = garden.ctx(Role.BIOLOGIST)
    record = garden.canary(reader)
    assert record.data.nir and record.data.email is None and record.data.ins is None
    platform.patients.get(reader, garden.decoy.id)  # an ordinary patient: nothing
    (alert,) = alerts(platform, lab_id=garden.lab.id, kind="canary")
    assert (alert.severity, alert.actor_id, alert.blocked) == ("high", reader.actor_id, False)
    assert alert.detail == {"canary_id": str(garden.canaries[0].id), "action": "patient.read"}
    assert alert.patient_id is None  # the officer's alert list must not tell which patient is a canary


@pytest.mark.parametrize("how", ["search_nir", "search_name", "order", "order_list", "worklist"])
def test_every_way_of_touching_a_canary_is_seen(garden: Garden, how: str) -> None:
    platform = garden.platform
    reception, technician = garden.ctx(), garden.ctx(Role.TECHNICIAN)
    canary = garden.canary(context_for(garden.admin))  # the admin's look: one alert, set aside
    before = len(alerts(platform, lab_id=garden.lab.id, kind="canary"))
    expected = {
        "search_nir": "patient.search_hit",
        "search_name": "patient.search_hit",
        "order": "order.create",
        "order_list": "order.list",
        "worklist": "worklist.read",
    }[how]
    if how == "search_nir":
        assert [r.id for r in platform.patients.find_by_nir(reception, canary.data.nir or "")] == [canary.id]
    elif how == "search_name":
        hits = platform.patients.find_by_name_birth(reception, canary.data.birth_name, canary.data.birth_date)
        assert canary.id in [r.id for r in hits]
    elif how == "order":
        platform.orders.create(reception, OrderRequest(patient_id=canary.id, tests=("K",)))
    elif how == "order_list":
        platform.orders.for_patient(reception, canary.id)
    else:  # an order of the canary waiting at the bench (its setup raises alerts of its own)
        order = platform.orders.create(reception, OrderRequest(patient_id=canary.id, tests=("K",)))
        for specimen in order.specimens:
            platform.specimens.receive(reception, specimen.barcode)
        before = len(alerts(platform, lab_id=garden.lab.id, kind="canary"))
        lines = platform.results.worklist(technician, "biochemistry", "entry")
        assert order.id in {line.order_id for line in lines}
    found = alerts(platform, lab_id=garden.lab.id, kind="canary")[before:]
    assert [(a.severity, a.detail["action"]) for a in found] == [("high", expected)]


def test_a_canary_read_refused_by_the_budget_is_still_reported(garden: Garden) -> None:
    platform = garden.platform
    small = {"read_budget_soft": {"reception": 1}, "read_budget_hard": {"reception": 2}}
    install(platform.db, platform.settings.model_copy(update=small))
    try:
        scraper = garden.ctx()
        platform.patients.get(scraper, garden.decoy.id)
        platform.patients.get(scraper, garden.canaries[0].patient_id)
        with pytest.raises(ReadBudgetExceeded):
            platform.patients.get(scraper, garden.canaries[1].patient_id)
    finally:
        install(platform.db, platform.settings)
    canary_alerts = alerts(platform, lab_id=garden.lab.id, kind="canary")
    assert [(a.detail["canary_id"], a.blocked) for a in canary_alerts] == [
        (str(garden.canaries[0].id), False),
        (str(garden.canaries[1].id), True),  # refused, but the attempt is reported
    ]
    assert len(alerts(platform, lab_id=garden.lab.id, kind=BLOCKED)) == 1


@pytest.fixture
def client(garden: Garden) -> Iterator[Any]:
    with app_client(garden.platform) as test_client:
        yield test_client


def test_canaries_look_like_any_patient_through_the_api(garden: Garden, client: Any) -> None:
    reception = garden.factory.user(garden.lab, Role.RECEPTION)
    headers = bearer(token_for(garden.platform, reception))
    canary_id, decoy_id = garden.canaries[0].patient_id, garden.decoy.id
    canary = client.get(f"{API}/patients/{canary_id}", headers=headers)
    decoy = client.get(f"{API}/patients/{decoy_id}", headers=headers)
    assert canary.status_code == decoy.status_code == 200
    assert set(canary.json()) == set(decoy.json())
    assert canary.headers.keys() == decoy.headers.keys()
    body = canary.json()
    search = client.post(f"{API}/patients/search/nir", json={"nir": body["nir"]}, headers=headers)
    assert [r["id"] for r in search.json()["results"]] == [str(canary_id)]
    orders = client.get(f"{API}/patients/{canary_id}/orders", headers=headers)
    assert orders.status_code == 200
    for response in (canary, search, orders):
        assert "canar" not in response.text.lower()
    # The security officer sees that a canary was touched, by whom; not which patient it is.
    officer = bearer(token_for(garden.platform, garden.admin))
    listed = client.get(f"{API}/alerts", params={"severity": "high"}, headers=officer)
    assert listed.status_code == 200
    kinds = [a["kind"] for a in listed.json()["alerts"]]
    assert kinds.count("canary") == 3 and str(canary_id) not in listed.text


def cli(platform: Platform, *args: str) -> tuple[int, str]:
    settings = platform.settings
    options = ["--data-dir", str(settings.data_dir), "--key-dir", str(settings.key_dir)]
    if settings.database_url:
        options += ["--database-url", settings.database_url]
    result = CliRunner().invoke(app, [*args, *options], terminal_width=200)
    return result.exit_code, result.output


def test_the_console_plants_lists_and_sees_the_alerts(platform: Platform) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    code, output = cli(platform, "canary", "plant", "--lab", lab.code, "--count", "2", "--label", "janvier")
    assert code == 0, output
    assert f"2 canary patient(s) planted in {lab.code} (janvier)" in output
    code, output = cli(platform, "canary", "list", "--lab", lab.code)
    assert code == 0 and output.count("janvier") == 2
    listed = CanaryService(platform.db, platform.patients).list(
        context_for(factory.user(lab, Role.LAB_ADMIN))
    )
    platform.patients.get(factory.ctx(lab, Role.RECEPTION), listed[0].patient_id)
    code, output = cli(platform, "alerts", "--lab", lab.code, "--open")
    assert code == 0, output
    assert "canary" in output and "high" in output and str(listed[0].id) in output
    assert str(listed[0].patient_id) not in output
    code, output = cli(platform, "alerts", "--lab", lab.code, "--since", "2000-01-01", "--severity", "high")
    assert code == 0 and str(listed[0].id) in output
    code, output = cli(platform, "alerts", "--lab", lab.code, "--since", "2999-01-01")
    assert code == 0 and str(listed[0].id) not in output and "(0 shown)" in output
    code, output = cli(platform, "alerts", "--lab", "NOSUCHLAB")
    assert code == 2 and "error" in output
