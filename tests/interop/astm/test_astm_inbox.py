"""The ASTM inbox without a line, on both engines: what is entered, what is skipped and counted
(QC orders, statuses not entered), the place each refusal names, corrections, and a disabled
interface refused at its next message with an alert."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from labvault.identity.accounts import Account, context_for
from labvault.interop.astm.inbox import AstmInbox
from labvault.interop.models import ACCEPTED, REFUSED
from labvault.platform import Platform
from labvault.security.access import Purpose
from labvault.security.alert_models import Alert
from tests.factories import DESK, Bench
from tests.interop.astm.support import records, rows

ORIGIN = "astm:127.0.0.1"


@pytest.fixture(scope="module")
def bench(platform: Platform) -> Bench:
    return Bench.create(platform, "Laboratoire ASTM sans ligne")


@pytest.fixture(scope="module")
def account(bench: Bench) -> Account:
    return bench.interface()


@pytest.fixture(scope="module")
def inbox(bench: Bench) -> AstmInbox:
    return AstmInbox(bench.platform.intake)


def test_qc_orders_and_results_not_done_are_skipped_and_counted(
    bench: Bench, account: Account, inbox: AstmInbox
) -> None:
    order = bench.order(tests=["K", "NA"])
    barcode = order.specimens[0].barcode
    patient = records(barcode, "R|1|^^^K|4.1|mmol/L||||F", "R|2|^^^NA|0|mmol/L||||X")
    qc = records("QC-LOT-7", "R|1|^^^K|5.0|mmol/L||||F", action="Q")[2:4]
    outcome = inbox.receive(account.username, [*patient[:-1], *qc, patient[-1]], ORIGIN)
    assert (outcome.accepted, outcome.results, outcome.skipped) == (True, 1, 2)
    assert outcome.text == "accepted 1 results, 2 skipped"
    assert bench.result(order.id, "K") is not None and bench.result(order.id, "NA") is None


def test_a_qc_only_message_is_recorded_with_nothing_entered(
    bench: Bench, account: Account, inbox: AstmInbox
) -> None:
    message = records("QC-LOT-8", "R|1|^^^K|5.0|mmol/L||||F", message_id="QC-ONLY-1", action="Q")
    outcome = inbox.receive(account.username, message, ORIGIN)
    assert (outcome.accepted, outcome.results, outcome.skipped) == (True, 0, 1)
    again = inbox.receive(account.username, message, ORIGIN)
    assert again.repeated and again.text == "repeated, accepted 0 results, 1 skipped"
    [row] = [r for r in rows(bench, account.id) if r.control_id == "QC-ONLY-1"]
    assert (row.state, row.results) == (ACCEPTED, 0)


@pytest.mark.parametrize(
    ("result", "where"),
    [
        ("R|1|^^^NOSUCH|4.2|mmol/L||||F", "R[1]-3"),  # not in the lab's catalogue
        ("R|1|^^^GLU|5.4|mmol/L||||F", "R[1]-3"),  # not ordered on this tube
        ("R|1|^^^K|4.2|mg/dL||||F", "R[1]-5"),  # wrong unit
        ("R|1|^^^K|abc|mmol/L||||F", "R[1]-4"),  # not a value for this test
        ("R|1|K|4.2|mmol/L||||F", "R[1]-3"),  # no 4th component: no instrument code
        ("R|1|^^^K|4.2|mmol/L||||Z", "R[1]-9"),  # not a result status: the message is unreadable
    ],
)
def test_refusals_name_the_record_and_field(
    bench: Bench, account: Account, inbox: AstmInbox, result: str, where: str
) -> None:
    order = bench.order(tests=["K"])
    outcome = inbox.receive(account.username, records(order.specimens[0].barcode, result), ORIGIN)
    assert (outcome.accepted, outcome.where) == (False, where), outcome.text
    assert outcome.text.startswith(f"refused {where}: ")
    assert bench.result(order.id, "K") is None
    [row] = [r for r in rows(bench, account.id) if r.control_id == outcome.control_id]
    assert (row.state, row.error_location) == (REFUSED, where)


def test_a_parse_error_names_the_record_by_its_ordinal(account: Account, inbox: AstmInbox) -> None:
    message = ["H|\\^&", "P|1", "O|1|T1||^^^K", "R|1|^^^K|4.2", "P|2||||||19701340", "L|1"]
    outcome = inbox.receive(account.username, message, ORIGIN)
    assert (outcome.accepted, outcome.where) == (False, "P[2]-8")
    assert outcome.reason == "not a valid calendar date" and "1970" not in outcome.text
    assert len(outcome.control_id) == 64


def test_a_correction_is_a_new_version(bench: Bench, account: Account, inbox: AstmInbox) -> None:
    order = bench.order(tests=["K"])
    barcode = order.specimens[0].barcode
    assert inbox.receive(account.username, records(barcode, "R|1|^^^K|4.2|mmol/L||||F"), ORIGIN).accepted
    corrected = inbox.receive(account.username, records(barcode, "R|1|^^^K|4.3|mmol/L||||C"), ORIGIN)
    assert corrected.accepted, corrected.text
    result = bench.result(order.id, "K")
    assert result is not None and (result.version, result.value) == (2, "4.3")


def test_a_disabled_interface_is_refused_with_an_alert(bench: Bench, inbox: AstmInbox) -> None:
    account = bench.interface()
    order = bench.order(tests=["K"])
    admin = context_for(bench.factory._admins[bench.lab.id], Purpose.ADMINISTRATION, DESK)
    bench.platform.accounts.update_user(admin, account.id, active=False)
    outcome = inbox.receive(account.username, records(order.specimens[0].barcode, "R|1|^^^K|4.1"), ORIGIN)
    assert (outcome.accepted, outcome.where) == (False, "H[1]")
    assert bench.result(order.id, "K") is None
    [row] = rows(bench, account.id)
    assert row.state == REFUSED
    with bench.platform.db.owner_engine.connect() as connection:
        table = Alert.__table__
        kinds = connection.execute(
            select(table.c.kind).where(table.c.lab_id == bench.lab.id, table.c.actor_id == account.id)
        ).scalars()
        assert "interface_refused" in set(kinds)
