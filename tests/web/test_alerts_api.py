"""GET /api/v1/alerts and POST /api/v1/alerts/{id}/acknowledge: the lab's security officer only,
the lab's alerts only; filters and pages."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from labvault.identity.accounts import Account, context_for
from labvault.security.access import Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from tests.conftest import forget_account_alerts
from tests.db_inspect import audit_actions
from tests.web.support import API, TwoLabs

ALERTS = f"{API}/alerts"


@dataclass
class Env(TwoLabs):
    """The shared two labs (``two_labs``): lab A with an alert of every severity, lab B with one."""

    raised: dict[str, uuid.UUID]  # lab A's alerts by name
    theirs: uuid.UUID  # an alert of lab B

    def get(self, who: Account, **params: Any) -> Any:
        return self.client.get(ALERTS, params=params, headers=self.auth(who))

    def ack(self, who: Account, alert_id: uuid.UUID) -> Any:
        return self.client.post(f"{ALERTS}/{alert_id}/acknowledge", headers=self.auth(who))


@pytest.fixture(scope="module")
def env(two_labs: TwoLabs) -> Env:
    platform = two_labs.platform
    for lab in (two_labs.lab_a, two_labs.lab_b):
        forget_account_alerts(platform, lab.id)
    raised: dict[str, uuid.UUID] = {}
    start = dt.datetime(2030, 3, 1, 12, tzinfo=dt.UTC)
    specs = [
        ("low", AlertSpec("off_hours", Severity.LOW)),
        ("medium", AlertSpec("read_budget", Severity.MEDIUM, {"distinct_patients": 61})),
        ("high", AlertSpec("canary", Severity.HIGH, {"canary_id": str(uuid.uuid4())})),
        ("critical", AlertSpec("test", Severity.CRITICAL, blocked=True)),
    ]
    ctx_a = context_for(two_labs.owner(Role.RECEPTION))
    with platform.db.transaction(two_labs.lab_a.id) as session:
        for minutes, (name, spec) in enumerate(specs):
            raised[name] = raise_alert(session, ctx_a, spec, at=start + dt.timedelta(minutes=minutes))
    with platform.db.transaction(two_labs.lab_b.id) as session:
        theirs = raise_alert(
            session, context_for(two_labs.other(Role.RECEPTION)), AlertSpec("x", Severity.HIGH)
        )
    return Env(**vars(two_labs), raised=raised, theirs=theirs)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["alerts"]]


def test_the_security_officer_lists_the_lab_alerts_newest_first(env: Env) -> None:
    officer = env.accounts[("a", Role.LAB_ADMIN)]
    response = env.get(officer)
    assert ids(response) == [str(env.raised[n]) for n in ("critical", "high", "medium", "low")]
    first = response.json()["alerts"][0]
    assert (first["kind"], first["severity"], first["blocked"], first["role"]) == (
        "test",
        "critical",
        True,
        "reception",
    )
    assert first["actor_id"] == str(env.accounts[("a", Role.RECEPTION)].id)
    assert str(env.theirs) not in response.text
    assert "alert.list" in audit_actions(env.platform, env.lab_a.id)  # reading alerts is audited


def test_filters_and_pages(env: Env) -> None:
    officer = env.accounts[("a", Role.LAB_ADMIN)]
    assert ids(env.get(officer, severity="high")) == [str(env.raised["critical"]), str(env.raised["high"])]
    since = "2030-03-01T12:02:00+00:00"
    assert ids(env.get(officer, since=since)) == [str(env.raised["critical"]), str(env.raised["high"])]
    page = env.get(officer, limit=3)
    assert len(ids(page)) == 3 and page.json()["next_offset"] == 3
    rest = env.get(officer, limit=3, offset=3)
    assert ids(rest) == [str(env.raised["low"])] and rest.json()["next_offset"] is None
    naive = env.get(officer, since="2030-03-01T12:00:00")
    assert naive.status_code == 422 and "time zone" in naive.text
    assert env.get(officer, severity="urgent").status_code == 422
    assert env.get(officer, limit=0).status_code == 422


def test_acknowledging_closes_an_alert_once(env: Env) -> None:
    officer = env.accounts[("a", Role.LAB_ADMIN)]
    target = env.raised["medium"]
    first = env.ack(officer, target)
    assert first.status_code == 200, first.text
    assert first.json()["acknowledged_by"] == str(officer.id) and first.json()["acknowledged_at"]
    again = env.ack(officer, target)
    assert again.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    assert str(target) not in ids(env.get(officer, open="true"))
    assert audit_actions(env.platform, env.lab_a.id, target).count("alert.acknowledge") == 1


@pytest.mark.parametrize("role", [Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST])
def test_other_roles_are_refused(env: Env, role: Role) -> None:
    account = env.accounts[("a", role)]
    assert env.get(account).status_code == 403
    assert env.ack(account, env.raised["low"]).status_code == 403


def test_another_lab_and_the_operator_see_nothing_of_lab_a(env: Env) -> None:
    other_officer = env.accounts[("b", Role.LAB_ADMIN)]
    assert ids(env.get(other_officer)) == [str(env.theirs)]
    target, nowhere = env.raised["high"], uuid.uuid4()
    refused, absent = env.ack(other_officer, target), env.ack(other_officer, nowhere)
    assert refused.status_code == absent.status_code == 404  # the same answer as for no alert at all
    assert refused.json()["detail"] == absent.json()["detail"].replace(str(nowhere), str(target))
    assert env.get(env.operator).status_code == 403
    assert env.client.get(ALERTS).status_code == 401
    assert env.client.post(f"{ALERTS}/{env.raised['high']}/acknowledge").status_code == 401
