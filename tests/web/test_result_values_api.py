"""Numeric results over HTTP, on both databases: the probe's values are refused with a 422 that says
which rule they break (the grammar, or the test's plausible limits), nothing is written, and what
is accepted charts as finite numbers in the history.

The probe stored ``99999999999999999999999999`` as ``100000000000000004764729344.00`` and accepted
``1e308``, ``5_000``, Arabic-Indic digits and ``-0``; the history PDF's trend chart then held
``inf``/``nan``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from labvault.platform import Platform
from labvault.security.access import Role
from labvault.web.app import API_PREFIX, create_app
from labvault.workflow.models import Result
from labvault.workflow.order_data import OrderRecord
from tests.db_inspect import row_count
from tests.factories import LOCAL, Bench, Factory
from tests.web.support import TestClient, assert_pdf_download, bearer, token_for

RESULTS = f"{API_PREFIX}/results"


@dataclass
class Env:
    platform: Platform
    client: TestClient
    bench: Bench
    patient_id: uuid.UUID
    technician: dict[str, str]
    biologist: dict[str, str]

    def order(self, *codes: str) -> tuple[OrderRecord, dict[str, uuid.UUID]]:
        order = self.bench.order(self.patient_id, tests=codes)
        return order, Bench.items(order)

    def enter(self, item: uuid.UUID, value: str) -> tuple[int, Any]:
        body = {"entries": [{"item_id": str(item), "value": value}]}
        response = self.client.post(RESULTS, json=body, headers=self.technician)
        return response.status_code, response.json()


@pytest.fixture(scope="module")
def env(platform: Platform) -> Iterator[Env]:
    factory = Factory(platform)
    lab = factory.lab("Laboratoire des valeurs")
    staff = {role: factory.user(lab, role) for role in (Role.RECEPTION, Role.TECHNICIAN, Role.BIOLOGIST)}
    bench = Bench(factory, lab, staff, LOCAL)
    adult = factory.patient_data(
        birth_date=dt.date(1959, 9, 23), nir=None, ins=None, ins_oid=None, ins_status=None
    )
    patient = platform.patients.register(bench.reception, adult)
    technician = bearer(token_for(platform, staff[Role.TECHNICIAN]))
    biologist = bearer(token_for(platform, staff[Role.BIOLOGIST]))
    with TestClient(create_app(platform)) as client:
        yield Env(platform, client, bench, patient.id, technician, biologist)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("99999999999999999999999999", "has more than 15 digits"),
        ("1e308", "must not use an exponent (e or E): write the number out"),
        ("5_000", "must not group digits (no '_', space or apostrophe between them)"),
        (
            "\u0664\u066b\u0662",
            "must be written with the digits 0-9 (no other script's digits nor fractions)",
        ),
        ("-0", "is a zero with a minus sign: write 0"),
        ("NaN", "is not a finite number"),
        ("4,2,1", "has more than one decimal separator"),
        ("16", "is above the plausible limit of K (Potassium): 15 mmol/L"),
        ("-1.5", "is below the plausible limit of K (Potassium): 0.5 mmol/L"),
    ],
)
def test_the_probe_values_are_refused_with_a_reason(env: Env, value: str, reason: str) -> None:
    _, items = env.order("K")
    status, body = env.enter(items["K"], value)
    assert status == 422, body
    assert body["detail"] == [{"loc": ["body", "entries[0].value"], "msg": reason, "type": "invalid_value"}]
    assert row_count(env.platform, Result, order_item_id=items["K"]) == 0


@pytest.mark.parametrize(
    ("code", "value", "stored"),
    [("K", "5,2", "5.2"), ("K", "+3", "3.0"), ("NA", "140", "140"), ("K", "15", "15.0")],
)
def test_plain_decimals_are_accepted(env: Env, code: str, value: str, stored: str) -> None:
    _, items = env.order(code)
    status, body = env.enter(items[code], value)
    assert status == 201, body
    assert body[0]["value"] == stored


def test_extreme_plausible_values_chart_as_finite_numbers(env: Env) -> None:
    """The history of a patient with results at both ends of the limits: JSON and PDF both served."""
    for value in ("0.5", "15", "4.1"):
        order, items = env.order("K")
        status, body = env.enter(items["K"], value)
        assert status == 201, body
        env.bench.validate(order, ["K"], call_critical=True)
    history = env.client.get(f"{API_PREFIX}/patients/{env.patient_id}/history", headers=env.biologist)
    assert history.status_code == 200, history.text
    points = [p["value"] for s in history.json()["series"] if s["test_code"] == "K" for p in s["points"]]
    assert {0.5, 15.0, 4.1} <= set(points)
    response = env.client.get(f"{API_PREFIX}/patients/{env.patient_id}/history.pdf", headers=env.biologist)
    text = assert_pdf_download(response, "cumulative-history.pdf")
    assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
