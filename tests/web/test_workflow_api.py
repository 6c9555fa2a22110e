"""The workflow over HTTP: a prescription from registration to the released PDF, the restricted-results
policy (hidden items, break-the-glass overrides), what each role may read, isolation between labs, and bad
input refused by field without echoing it.

The isolation matrix (``tests/web/isolation/``) tries every route with every kind of caller;
this file follows one order through the whole path, as the lab would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labvault.identity.accounts import Account
from labvault.identity.patient_data import PatientRecord
from labvault.security.access import Role
from labvault.web.app import API_PREFIX
from labvault.workflow.models import Order, Report, Result
from labvault.workflow.order_data import OrderRecord
from tests.db_inspect import audit_actions, row_count
from tests.factories import Bench
from tests.web.support import (
    TwoLabs,
    assert_no_store,
    assert_pdf_download,
    bearer,
    patient_json,
    token_for,
)

ORDERS = f"{API_PREFIX}/orders"
RESULTS = f"{API_PREFIX}/results"
SPECIMENS = f"{API_PREFIX}/specimens"
WORKLIST = f"{API_PREFIX}/worklist"
REASON = "Appel du medecin traitant: exposition au sang declaree ce jour"


class Env(TwoLabs):
    """The shared two labs (``two_labs``), with this file's shortcuts: calls as a role of either lab,
    and new adult patients of lab A registered over HTTP."""

    def account(self, role: Role, lab: str = "a") -> Account:
        return self.accounts[(lab, role)]

    def call(
        self,
        method: str,
        path: str,
        role: Role,
        json: Any = None,
        *,
        lab: str = "a",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        auth = bearer(self.tokens[self.account(role, lab).id])
        response: httpx.Response = self.client.request(
            method, path, json=json, headers={**auth, **(headers or {})}, params=params
        )
        return response

    def patient(self) -> PatientRecord:
        # An adult: reference ranges (and so flags and the history's band) are adult ones. No NIR,
        # which would have to agree with the birth date.
        adult = self.factory.patient_data(
            birth_date=dt.date(1968, 3, 14), nir=None, ins=None, ins_oid=None, ins_status=None
        )
        # All born the same day in one lab: a homonym (same synthetic name) is another person here.
        body = patient_json(adult, accept_homonym=True)
        response = self.call("POST", f"{API_PREFIX}/patients", Role.RECEPTION, body)
        assert response.status_code == 201, response.text
        ctx = self.bench().reception
        return self.platform.patients.get(ctx, uuid.UUID(response.json()["id"]))


@pytest.fixture(scope="module")
def env(two_labs: TwoLabs) -> Env:
    return Env(**vars(two_labs))


@dataclass
class Case:
    """A patient's order in lab A: K (4.6) and NA (139) validated and released as report v1; HIV,
    restricted, entered by a biologist and not validated."""

    patient: PatientRecord
    order: OrderRecord
    items: dict[str, uuid.UUID]


@pytest.fixture(scope="module")
def case(env: Env) -> Case:
    bench = env.bench()
    patient = env.patient()
    order = bench.order(patient.id, tests=["K", "NA", "HIV"])
    bench.enter(order, {"K": "4.6", "NA": "139", "HIV": "negative"})
    bench.validate(order, ["K", "NA"])
    bench.release(order)
    return Case(patient, order, Bench.items(order))


def codes(body: dict[str, Any]) -> list[str]:
    return [item["test_code"] for item in body["items"]]


def worklist_codes(env: Env, role: Role, section: str, stage: str = "entry") -> list[str]:
    response = env.call("GET", WORKLIST, role, params={"section": section, "stage": stage})
    assert response.status_code == 200, response.text
    return [line["test_code"] for line in response.json()]


# --- the whole path -------------------------------------------------------------------------------


def test_the_whole_path_through_http(env: Env) -> None:
    patient = env.patient()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    response = env.call(
        "POST",
        ORDERS,
        Role.RECEPTION,
        {
            "patient_id": str(patient.id),
            "tests": ["K", "NA", "GLU", "HIV"],
            "prescribed_on": yesterday,
            "drugs": ["Kardegic 75 mg"],
            "clinical_info": "bilan pré-opératoire",
            "urgent": True,
            "fasting": True,
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    order_id, accession = order["id"], order["accession"]
    items = {item["test_code"]: item["id"] for item in order["items"]}
    assert codes(order) == ["K", "NA", "GLU", "HIV"]
    assert (order["prescribed_on"], order["drugs"], order["clinical_info"]) == (
        yesterday,
        ["Kardegic 75 mg"],
        "bilan pré-opératoire",
    )
    assert order["urgent"] is True and order["fasting"] is True
    assert sorted(s["tube"] for s in order["specimens"]) == [
        "SST (gold)",
        "fluoride oxalate (grey)",
        "heparin (green)",
    ]
    assert order["total_b"] == sum(act["b"] or 0 for act in order["billing"]) > 0

    labels = env.call("GET", f"{ORDERS}/{order_id}/labels.pdf", Role.RECEPTION)
    text = assert_pdf_download(labels, f"labels-{accession}.pdf")
    assert patient.data.birth_name.upper() not in text.upper()
    assert patient.data.birth_date.strftime("%d/%m/%Y") in text
    named = env.call("GET", f"{ORDERS}/{order_id}/labels.pdf?full_name=true", Role.RECEPTION)
    assert patient.data.birth_name.upper() in assert_pdf_download(named, f"labels-{accession}.pdf")

    for specimen in order["specimens"]:
        received = env.call("POST", f"{SPECIMENS}/receive", Role.RECEPTION, {"barcode": specimen["barcode"]})
        assert received.status_code == 200, received.text
        assert (received.json()["id"], received.json()["status"]) == (specimen["id"], "received")
        found = env.call("POST", f"{SPECIMENS}/lookup", Role.TECHNICIAN, {"barcode": specimen["barcode"]})
        assert found.json()["status"] == "received"

    assert {"K", "NA", "GLU"} <= set(worklist_codes(env, Role.TECHNICIAN, "biochemistry"))
    entered = env.call(
        "POST",
        RESULTS,
        Role.TECHNICIAN,
        {
            "entries": [
                {"item_id": items["K"], "value": "6.9"},
                {"item_id": items["NA"], "value": "140"},
                {"item_id": items["GLU"], "value": "5,1", "comment": "prélèvement à jeun"},
            ]
        },
    )
    assert entered.status_code == 201, entered.text
    assert [(r["value"], r["flag"], r["version"]) for r in entered.json()] == [
        ("6.9", "HH", 1),
        ("140", "N", 1),
        ("5.10", "N", 1),
    ]
    bench_items = [items["K"], items["NA"], items["GLU"]]
    technical = env.call("POST", f"{RESULTS}/validate/technical", Role.TECHNICIAN, {"item_ids": bench_items})
    assert technical.status_code == 200, technical.text
    assert technical.json() == {"validated": 3}
    assert set(worklist_codes(env, Role.BIOLOGIST, "biochemistry", "biological")) >= {"K", "NA", "GLU"}

    biological = {"item_ids": bench_items}
    assert env.call("POST", f"{RESULTS}/validate/biological", Role.TECHNICIAN, biological).status_code == 403
    refused = env.call("POST", f"{RESULTS}/validate/biological", Role.BIOLOGIST, biological)
    assert refused.status_code == 409, refused.text
    assert "item_ids[0] (K)" in refused.json()["detail"]
    call = env.call(
        "POST",
        f"{API_PREFIX}/items/{items['K']}/critical-call",
        Role.BIOLOGIST,
        {"called_party": "Dr Martin, anesthésiste", "method": "phone", "note": "patient rappelé"},
    )
    assert call.status_code == 201, call.text
    assert call.json()["item_id"] == items["K"]
    signed = env.call("POST", f"{RESULTS}/validate/biological", Role.BIOLOGIST, biological)
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"validated": 3}

    assert env.call("POST", f"{ORDERS}/{order_id}/reports", Role.TECHNICIAN).status_code == 403
    released = env.call("POST", f"{ORDERS}/{order_id}/reports", Role.BIOLOGIST)
    assert released.status_code == 201, released.text
    report = released.json()
    assert (
        report["order_id"],
        report["version"],
        report["kind"],
        report["restricted"],
        report["results"],
    ) == (
        order_id,
        1,
        "partial",
        False,
        3,
    )
    again = env.call("POST", f"{ORDERS}/{order_id}/reports", Role.BIOLOGIST)
    assert again.status_code == 409, again.text  # nothing changed since version 1
    listed = env.call("GET", f"{ORDERS}/{order_id}/reports", Role.RECEPTION)
    assert [r["id"] for r in listed.json()] == [report["id"]]

    pdf = env.call("GET", f"{ORDERS}/{order_id}/reports/1.pdf", Role.RECEPTION)
    text = assert_pdf_download(pdf, "report-v1.pdf")
    assert accession in text
    assert "Potassium" in text and "6.9" in text and "5.10" in text
    assert env.call("GET", f"{ORDERS}/{order_id}/reports/2.pdf", Role.RECEPTION).status_code == 404

    history = env.call("GET", f"{API_PREFIX}/patients/{patient.id}/history", Role.BIOLOGIST)
    assert history.status_code == 200, history.text
    series = {s["test_code"]: s for s in history.json()["series"]}
    assert [p["value"] for p in series["K"]["points"]] == [6.9]
    assert (series["K"]["unit"], series["K"]["low"], series["K"]["high"]) == ("mmol/L", 3.5, 5.0)
    chart = env.call("GET", f"{API_PREFIX}/patients/{patient.id}/history.pdf", Role.BIOLOGIST)
    assert "Potassium" in assert_pdf_download(chart, "cumulative-history.pdf")

    # A correction after validation needs its reason, and keeps the first version.
    correction = {"item_id": items["K"], "value": "4.1"}
    missing = env.call("POST", RESULTS, Role.TECHNICIAN, {"entries": [correction]})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "entries[0].correction_reason"]
    reason = "hémolyse constatée au contrôle"
    corrected = env.call(
        "POST", RESULTS, Role.TECHNICIAN, {"entries": [{**correction, "correction_reason": reason}]}
    )
    assert corrected.status_code == 201, corrected.text
    versions = env.call("GET", f"{API_PREFIX}/items/{items['K']}/versions", Role.TECHNICIAN)
    assert [(v["version"], v["value"], v["status"], v["correction_reason"]) for v in versions.json()] == [
        (1, "6.9", "superseded", None),
        (2, "4.1", "entered", reason),
    ]
    assert versions.json()[0]["critical_called"] is True

    actions = audit_actions(env.platform, env.lab_a.id)
    for action in (
        "order.create",
        "order.labels",
        "specimen.receive",
        "worklist.read",
        "result.enter",
        "result.validate_technical",
        "result.critical_call",
        "result.validate_biological",
        "report.release",
        "report.read",
        "result.cumulative",
        "result.correct",
        "result.history",
    ):
        assert action in actions, action


# --- who reads what -------------------------------------------------------------------------------


def test_reception_sees_no_result_value(env: Env, case: Case) -> None:
    response = env.call("GET", f"{ORDERS}/{case.order.id}", Role.RECEPTION)
    assert response.status_code == 200, response.text
    body = response.json()
    assert codes(body) == ["K", "NA"]
    assert [item["status"] for item in body["items"]] == ["validated", "validated"]
    assert all(item["result"] is None for item in body["items"])
    listed = env.call("GET", f"{API_PREFIX}/patients/{case.patient.id}/orders", Role.RECEPTION)
    assert all(item["result"] is None for order in listed.json()["results"] for item in order["items"])
    for path, params in (
        (WORKLIST, {"section": "biochemistry"}),
        (f"{API_PREFIX}/items/{case.items['K']}/versions", None),
        (f"{API_PREFIX}/patients/{case.patient.id}/history", None),
    ):
        assert env.call("GET", path, Role.RECEPTION, params=params).status_code == 403, path
    # ...but hands out the released report.
    assert_pdf_download(
        env.call("GET", f"{ORDERS}/{case.order.id}/reports/1.pdf", Role.RECEPTION), "report-v1.pdf"
    )


def test_technician_reads_values_but_not_restricted_items(env: Env, case: Case) -> None:
    body = env.call("GET", f"{ORDERS}/{case.order.id}", Role.TECHNICIAN).json()
    assert codes(body) == ["K", "NA"]
    assert body["hidden_items"] == 1
    assert [item["result"]["value"] for item in body["items"]] == ["4.6", "139"]
    for stage in ("entry", "technical"):
        assert "HIV" not in worklist_codes(env, Role.TECHNICIAN, "immunology/serology", stage)
    assert "HIV" in worklist_codes(env, Role.BIOLOGIST, "immunology/serology", "technical")
    hiv = case.items["HIV"]
    assert env.call("GET", f"{API_PREFIX}/items/{hiv}/versions", Role.TECHNICIAN).status_code == 404
    # Refused as an item that exists nowhere (422 naming the entry, as isolation matrix [8]): no
    # 403 naming HIV (test_restricted_context_api.py compares the bodies).
    entry = {"entries": [{"item_id": str(hiv), "value": "positive"}]}
    assert env.call("POST", RESULTS, Role.TECHNICIAN, entry).status_code == 422
    assert (
        env.call(
            "POST", f"{RESULTS}/validate/technical", Role.TECHNICIAN, {"item_ids": [str(hiv)]}
        ).status_code
        == 422
    )
    biologist = env.call("GET", f"{ORDERS}/{case.order.id}", Role.BIOLOGIST).json()
    assert codes(biologist) == ["K", "NA", "HIV"]
    assert biologist["hidden_items"] == 0
    assert biologist["items"][2]["result"]["value"] == "negative"


def test_billing_does_not_name_hidden_restricted_tests(env: Env, case: Case) -> None:
    body = env.call("GET", f"{ORDERS}/{case.order.id}", Role.RECEPTION).json()
    assert body["hidden_items"] == 1
    assert all("VIH" not in act["label"] for act in body["billing"])


def break_glass(
    env: Env, role: Role, patient_id: uuid.UUID, reason: str = REASON, **extra: Any
) -> httpx.Response:
    """POST /break-glass with a fresh token of lab A's ``role`` account, just re-authenticated."""
    token = token_for(env.platform, env.account(role), recent_auth=True)
    body = {"patient_id": str(patient_id), "reason": reason, **extra}
    response: httpx.Response = env.client.post(f"{API_PREFIX}/break-glass", json=body, headers=bearer(token))
    return response


def test_breaking_the_glass_needs_re_authentication_and_a_reason(env: Env, case: Case) -> None:
    path, patient = f"{API_PREFIX}/break-glass", str(case.patient.id)
    stale = env.call("POST", path, Role.RECEPTION, {"patient_id": patient, "reason": REASON})
    assert stale.status_code == 403 and "re-authentication required" in stale.json()["detail"]
    short = break_glass(env, Role.RECEPTION, case.patient.id, "because")
    assert short.status_code == 422 and short.json()["detail"][0]["loc"][-1] == "reason"
    assert "because" not in short.text
    assert break_glass(env, Role.RECEPTION, case.patient.id, minutes=241).status_code == 422
    assert break_glass(env, Role.BIOLOGIST, case.patient.id).status_code == 409, "biologists see them anyway"
    assert break_glass(env, Role.RECEPTION, uuid.uuid4()).status_code == 404
    assert "restricted.break_glass" not in audit_actions(env.platform, env.lab_a.id, case.patient.id)
    assert env.call("GET", f"{ORDERS}/{case.order.id}", Role.RECEPTION).json()["hidden_items"] == 1


def test_an_open_override_reveals_restricted_items_and_is_audited(env: Env) -> None:
    bench = env.bench()
    patient = env.patient()
    order = bench.order(patient.id, tests=["K", "HIV"])
    bench.enter(order, {"K": "4.4", "HIV": "negative"})
    path = f"{ORDERS}/{order.id}"
    assert env.call("GET", path, Role.TECHNICIAN).json()["hidden_items"] == 1

    opened = break_glass(env, Role.RECEPTION, patient.id)
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["patient_id"] == str(patient.id)
    lasts = dt.datetime.fromisoformat(body["expires_at"]) - dt.datetime.fromisoformat(body["opened_at"])
    assert lasts == dt.timedelta(hours=1)
    seen = env.call("GET", path, Role.RECEPTION)  # any token of the same person
    assert codes(seen.json()) == ["K", "HIV"] and seen.json()["hidden_items"] == 0
    assert seen.json()["items"][1]["result"] is None  # reception still reads no value
    assert env.call("GET", path, Role.TECHNICIAN).json()["hidden_items"] == 1, "the override is personal"

    assert break_glass(env, Role.TECHNICIAN, patient.id, minutes=30).status_code == 201
    technician = env.call("GET", path, Role.TECHNICIAN)
    assert technician.json()["items"][1]["result"]["value"] == "negative"
    assert audit_actions(env.platform, env.lab_a.id, patient.id).count("restricted.break_glass") == 2
    assert audit_actions(env.platform, env.lab_a.id, order.id).count("restricted.override_use") == 2


def test_a_restricted_report_needs_a_biologist_or_an_override(env: Env) -> None:
    bench = env.bench()
    patient = env.patient()
    order = bench.order(patient.id, tests=["NA", "HIV"])
    bench.enter(order, {"NA": "141", "HIV": "negative"})
    bench.validate(order, ["NA", "HIV"])
    released = env.call("POST", f"{ORDERS}/{order.id}/reports", Role.BIOLOGIST)
    assert released.status_code == 201, released.text
    assert (released.json()["kind"], released.json()["restricted"]) == ("final", True)
    path = f"{ORDERS}/{order.id}/reports/1.pdf"
    refused = env.call("GET", path, Role.RECEPTION)
    assert refused.status_code == 403 and "break-glass" in refused.json()["detail"]
    assert_no_store(refused)
    assert "VIH" in assert_pdf_download(env.call("GET", path, Role.BIOLOGIST), "report-v1.pdf")
    assert break_glass(env, Role.RECEPTION, patient.id).status_code == 201
    assert "VIH" in assert_pdf_download(env.call("GET", path, Role.RECEPTION), "report-v1.pdf")
    assert "restricted.override_use" in audit_actions(env.platform, env.lab_a.id, released.json()["id"])


def test_a_rejection_needs_a_known_reason(env: Env) -> None:
    order = env.bench().order(env.patient().id, tests=["K"], receive=False)
    body = {"barcode": order.specimens[0].barcode, "reason": "dropped"}
    _refused(env.call("POST", f"{SPECIMENS}/reject", Role.RECEPTION, body), ["body", "reason"], "dropped")
    found = env.call("POST", f"{SPECIMENS}/lookup", Role.RECEPTION, {"barcode": body["barcode"]})
    assert found.json()["status"] == "awaited"


# --- another laboratory -----------------------------------------------------------------------------


def test_another_lab_gets_404_for_every_object_of_lab_a(env: Env, case: Case) -> None:
    order, patient, k = case.order.id, case.patient.id, case.items["K"]
    attempts: list[tuple[str, str, Role, Any]] = [
        ("GET", f"{ORDERS}/{order}", Role.RECEPTION, None),
        ("GET", f"{ORDERS}/{order}/labels.pdf", Role.RECEPTION, None),
        ("GET", f"{API_PREFIX}/patients/{patient}/orders", Role.RECEPTION, None),
        ("POST", ORDERS, Role.RECEPTION, {"patient_id": str(patient), "tests": ["K"]}),
        ("GET", f"{ORDERS}/{order}/reports", Role.RECEPTION, None),
        ("GET", f"{ORDERS}/{order}/reports/1.pdf", Role.BIOLOGIST, None),
        ("POST", f"{ORDERS}/{order}/reports", Role.BIOLOGIST, None),
        ("GET", f"{API_PREFIX}/items/{k}/versions", Role.TECHNICIAN, None),
        (
            "POST",
            f"{API_PREFIX}/items/{k}/critical-call",
            Role.BIOLOGIST,
            {"called_party": "Dr X", "method": "phone"},
        ),
        ("GET", f"{API_PREFIX}/patients/{patient}/history", Role.BIOLOGIST, None),
        ("GET", f"{API_PREFIX}/patients/{patient}/history.pdf", Role.BIOLOGIST, None),
    ]
    barcode = case.order.specimens[0].barcode
    attempts += [
        ("POST", f"{SPECIMENS}/{action}", Role.RECEPTION, {"barcode": barcode})
        for action in ("lookup", "receive", "collect")
    ]
    attempts.append(
        ("POST", f"{SPECIMENS}/reject", Role.RECEPTION, {"barcode": barcode, "reason": "clotted"})
    )
    reports, orders = (
        row_count(env.platform, Report, order_id=order),
        row_count(env.platform, Order, patient_id=patient),
    )
    audit = len(audit_actions(env.platform, env.lab_a.id))
    for method, path, role, body in attempts:
        response = env.call(method, path, role, body, lab="b")
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text[:200]}"
        assert case.order.accession not in response.text
        assert case.patient.data.birth_name not in response.text
    # Ids inside a batch body: refused as naming no item of lab B, like an id that exists nowhere.
    for path, body in (
        (RESULTS, {"entries": [{"item_id": str(k), "value": "9.9"}]}),
        (f"{RESULTS}/validate/technical", {"item_ids": [str(k)]}),
        (f"{RESULTS}/validate/biological", {"item_ids": [str(k)]}),
    ):
        foreign = env.call("POST", path, Role.BIOLOGIST, body, lab="b")
        nowhere = env.call("POST", path, Role.BIOLOGIST, _with_id(body, uuid.uuid4()), lab="b")
        assert foreign.status_code == nowhere.status_code == 422, foreign.text
        assert foreign.json()["detail"][0]["msg"] == nowhere.json()["detail"][0]["msg"]
    worklist = env.call("GET", WORKLIST, Role.BIOLOGIST, params={"section": "biochemistry"}, lab="b")
    assert worklist.status_code == 200
    assert str(order) not in worklist.text
    assert row_count(env.platform, Report, order_id=order) == reports
    assert row_count(env.platform, Order, patient_id=patient) == orders
    assert row_count(env.platform, Result, order_item_id=k) == 1
    assert len(audit_actions(env.platform, env.lab_a.id)) == audit


def _with_id(body: dict[str, Any], new: uuid.UUID) -> dict[str, Any]:
    if "entries" in body:
        return {"entries": [{**body["entries"][0], "item_id": str(new)}]}
    return {"item_ids": [str(new)]}


# --- bad input ------------------------------------------------------------------------------------


def _refused(response: httpx.Response, loc: list[str | int], *secrets: str) -> None:
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc], response.text
    for secret in secrets:
        assert secret not in response.text


def test_orders_refuse_bad_input_by_field(env: Env, case: Case) -> None:
    patient = str(case.patient.id)
    before = row_count(env.platform, Order, patient_id=case.patient.id)
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    for body, loc, secret in (
        ({"patient_id": patient, "tests": ["K", "ZZSECRET"]}, ["body", "tests[1]"], "ZZSECRET"),
        ({"patient_id": patient, "panels": ["QQSECRET"]}, ["body", "panels[0]"], "QQSECRET"),
        ({"patient_id": patient}, ["body", "tests"], None),
        (
            {"patient_id": patient, "tests": ["K"], "prescribed_on": tomorrow},
            ["body", "prescribed_on"],
            tomorrow,
        ),
        ({"patient_id": patient, "tests": ["K"], "nir": "xx"}, ["body", "nir"], None),
        ({"patient_id": patient, "tests": ["K" * 17]}, ["body", "tests", 0], "K" * 17),
        (
            {"patient_id": patient, "tests": ["K"], "clinical_info": "é" * 2001},
            ["body", "clinical_info"],
            "é" * 50,
        ),
        ({"patient_id": "not-a-uuid", "tests": ["K"]}, ["body", "patient_id"], "not-a-uuid"),
    ):
        _refused(env.call("POST", ORDERS, Role.RECEPTION, body), loc, *([secret] if secret else []))
    assert row_count(env.platform, Order, patient_id=case.patient.id) == before


def test_results_refuse_bad_input_by_entry(env: Env) -> None:
    bench = env.bench()
    order = bench.order(env.patient().id, tests=["K", "NA", "HIV"])
    items = {code: str(item) for code, item in Bench.items(order).items()}
    batch = {
        "entries": [{"item_id": items["K"], "value": "4.0"}, {"item_id": items["NA"], "value": "12x4secret"}]
    }
    _refused(env.call("POST", RESULTS, Role.TECHNICIAN, batch), ["body", "entries[1].value"], "12x4secret")
    assert (
        row_count(env.platform, Result, order_item_id=Bench.items(order)["K"]) == 0
    )  # the batch is one transaction
    _refused(env.call("POST", RESULTS, Role.TECHNICIAN, {"entries": []}), ["body", "entries"])
    _refused(
        env.call("POST", RESULTS, Role.BIOLOGIST, {"entries": [{"item_id": items["HIV"], "value": "maybe"}]}),
        ["body", "entries[0].value"],
        "maybe",
    )
    twice = {"entries": [{"item_id": items["K"], "value": "4.0"}, {"item_id": items["K"], "value": "4.1"}]}
    _refused(env.call("POST", RESULTS, Role.TECHNICIAN, twice), ["body", "entries[1].item_id"])
    _refused(
        env.call(
            "POST",
            RESULTS,
            Role.TECHNICIAN,
            {"entries": [{"item_id": items["K"], "value": "4", "flag": "N"}]},
        ),
        ["body", "entries", 0, "flag"],
    )
    _refused(
        env.call("POST", f"{RESULTS}/validate/technical", Role.TECHNICIAN, {"item_ids": []}),
        ["body", "item_ids"],
    )
    _refused(
        env.call(
            "POST",
            f"{API_PREFIX}/items/{items['K']}/critical-call",
            Role.BIOLOGIST,
            {"called_party": "Dr Garde", "method": "pigeon"},
        ),
        ["body", "method"],
        "pigeon",
    )
    _refused(
        env.call("GET", WORKLIST, Role.TECHNICIAN, params={"section": "biochemistry", "stage": "done"}),
        ["query", "stage"],
    )
    _refused(
        env.call("GET", WORKLIST, Role.TECHNICIAN, params={"section": "astrology"}),
        ["query", "section"],
        "astrology",
    )
    _refused(env.call("GET", WORKLIST, Role.TECHNICIAN), ["query", "section"])
    _refused(
        env.call("POST", f"{SPECIMENS}/lookup", Role.RECEPTION, {"barcode": "9" * 33}),
        ["body", "barcode"],
        "9" * 33,
    )
    _refused(env.call("GET", f"{ORDERS}/{order.id}/reports/one.pdf", Role.RECEPTION), ["path", "version"])
