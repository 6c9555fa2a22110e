"""The QC API on both engines: a lot declared, QC values typed for a manual analyzer, the
Levey-Jennings series (points, z-scores, rule flags, the lot's mean and SD), a rejection holding
technical validation of the instrument's result (409 naming the QC result), a biologist's decision
through the API releasing it."""

from __future__ import annotations

import uuid

from labvault.identity.accounts import context_for
from labvault.interop.astm.inbox import AstmInbox
from labvault.security.access import Purpose, Role
from tests.factories import GIVEN_PASSWORD
from tests.interop.astm.support import records
from tests.web.support import API, TwoLabs

QC = f"{API}/qc"


def test_series_hold_and_decision_through_the_api(two_labs: TwoLabs) -> None:
    labs, client = two_labs, two_labs.client
    admin = context_for(labs.owner(Role.LAB_ADMIN), Purpose.ADMINISTRATION, "127.0.0.1")
    instrument = f"api-qc-{uuid.uuid4().hex[:6]}"
    analyzer = labs.platform.accounts.create_user(
        admin, instrument, GIVEN_PASSWORD, Role.INTERFACE, labs.lab_a.id
    )
    bio, tech = labs.auth(labs.owner(Role.BIOLOGIST)), labs.auth(labs.owner(Role.TECHNICIAN))
    lot = {
        "instrument": instrument,
        "test_code": "K",
        "lot": "api-n1",
        "mean": "4.0",
        "sd": "0.1",
        "level": 1,
    }
    response = client.post(f"{QC}/lots", json=lot, headers=bio)
    assert response.status_code == 201, response.text
    assert client.post(f"{QC}/lots", json=lot, headers=bio).status_code == 409

    bench = labs.bench("a")
    order = bench.order(tests=["K"])
    for value in ("4.25", "4.22"):  # z 2.5 then 2.2: 1-2s, then 2-2s; the patient's result between
        if value == "4.22":
            outcome = AstmInbox(labs.platform.intake).receive(
                analyzer.username,
                records(order.specimens[0].barcode, "R|1|^^^K|4.4|mmol/L||||F"),
                "astm:test",
            )
            assert outcome.results == 1, outcome.text
        entered = client.post(
            f"{QC}/results",
            json={"instrument": instrument, "test_code": "K", "lot": "API-N1", "value": value},
            headers=tech,
        )
        assert entered.status_code == 201, entered.text

    series = client.get(
        f"{QC}/series", params={"instrument": instrument, "test": "k", "lot": "api-n1"}, headers=tech
    )
    assert series.status_code == 200, series.text
    body = series.json()
    assert (body["mean"], body["sd"], body["lot"]["level"]) == ("4.0", "0.1", 1)
    assert [(p["number"], p["value"], p["z"], p["rules"], p["status"]) for p in body["points"]] == [
        (1, "4.25", 2.5, ["1-2s"], "warning"),
        (2, "4.22", 2.2, ["1-2s", "2-2s"], "rejected"),
    ]
    rejection = body["points"][1]["id"]

    item = bench.item_id(order, "K")
    held = client.post(f"{API}/results/validate/technical", json={"item_ids": [str(item)]}, headers=tech)
    assert held.status_code == 409 and rejection in held.text and "4.4" not in held.text, held.text
    events = client.get(f"{QC}/events", headers=tech).json()
    assert rejection in {e["point"]["id"] for e in events}

    decision = {"decision": "accept", "comment": "control reconstituted again: in range"}
    assert client.post(f"{QC}/events/{rejection}/decision", json=decision, headers=tech).status_code == 403
    decided = client.post(f"{QC}/events/{rejection}/decision", json=decision, headers=bio)
    assert decided.status_code == 200 and decided.json()["point"]["decision"] == "accept", decided.text
    released = client.post(f"{API}/results/validate/technical", json={"item_ids": [str(item)]}, headers=tech)
    assert released.status_code == 200 and released.json()["validated"] == 1, released.text

    other = labs.auth(labs.other(Role.TECHNICIAN))
    params = {"instrument": instrument, "test": "K", "lot": "API-N1"}
    assert client.get(f"{QC}/series", params=params, headers=other).status_code == 404
