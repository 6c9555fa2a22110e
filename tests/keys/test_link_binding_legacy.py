"""Labs from before links were sealed (migration 0013) stay readable, get sealed by the
re-encryptor, and are strict from then on; key rotation keeps every seal valid.

A lab created before 0013 has data keys wrapped without the "links bound" attestation and rows
without a seal. This is reproduced on a fresh lab by re-wrapping its data keys the old way and
erasing its seals, below the services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert, select, update

from labvault.crypto.errors import IntegrityError
from labvault.crypto.keyset import PURPOSE_DATA, unwrap_key_bound, wrap_key
from labvault.keys.models import LabKey
from labvault.platform import Platform
from labvault.store.bound_links import MAC_COLUMN, bound_tables
from labvault.workflow.models import Order, OrderItem
from labvault.workflow.order_data import OrderRecord
from tests.factories import Bench, cli_ctx

KEYS = LabKey.__table__


@pytest.fixture
def legacy(platform: Platform) -> Iterator[tuple[Bench, OrderRecord]]:
    """A lab as 0013 finds it: an order entered and validated, no seals, keys not attesting."""
    bench = Bench.create(platform, f"Laboratoire d'avant {uuid.uuid4().hex[:6]}")
    order = bench.order(tests=["HGB", "GLU"])
    bench.enter_and_validate(order, {"HGB": "13.1", "GLU": "5.2"})
    lab = bench.lab.id
    kek = platform.keys.provider.lab_kek(lab)
    with platform.db.owner_engine.begin() as conn:
        for table in bound_tables():
            conn.execute(update(table).where(table.c.lab_id == lab).values({MAC_COLUMN: None}))
        rows = conn.execute(select(KEYS).where(KEYS.c.lab_id == lab, KEYS.c.purpose == PURPOSE_DATA)).all()
        for row in rows:
            key, bound = unwrap_key_bound(kek, lab, PURPOSE_DATA, row.version, row.wrapped)
            assert bound, "a lab created now attests bound links from its first key"
            old = {**row._mapping, "wrapped": wrap_key(kek, lab, PURPOSE_DATA, row.version, key)}
            conn.execute(delete(KEYS).where(KEYS.c.id == row.id))
            conn.execute(insert(KEYS).values({k: v for k, v in old.items() if k != "id"}))
    yield bench, order


def links_bound(platform: Platform, lab: uuid.UUID) -> bool:
    with platform.db.transaction(lab) as session:
        return platform.keys.keyset(session, lab).links_bound


def set_column(platform: Platform, model: object, row_id: uuid.UUID, **values: object) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    with platform.db.owner_engine.begin() as conn:
        assert conn.execute(update(table).where(table.c.id == row_id).values(values)).rowcount == 1


def test_a_legacy_lab_reads_unsealed_rows_and_checks_sealed_ones(legacy: tuple[Bench, OrderRecord]) -> None:
    bench, order = legacy
    platform = bench.platform
    assert not links_bound(platform, bench.lab.id)
    assert bench.result(order.id, "HGB") is not None  # a NULL seal passes: the row predates 0013
    # A row the new code writes is sealed at once, even in a legacy lab.
    bench.enter(order, {"GLU": "5.4"}, bench.biologist, reason="erreur de saisie")
    item = bench.item_id(order, "GLU")
    set_column(platform, OrderItem, item, current_result_id=bench.item(bench.get(order.id), "HGB").result.id)  # type: ignore[union-attr]
    with pytest.raises(IntegrityError, match=f"order_items.links of row {item}"):
        bench.get(order.id)


def test_reencryption_seals_legacy_rows_then_makes_the_lab_strict(legacy: tuple[Bench, OrderRecord]) -> None:
    bench, order = legacy
    platform, lab = bench.platform, bench.lab.id
    assert platform.labs.rotate_keys(cli_ctx(), lab) == 2
    assert not links_bound(platform, lab), "rows still unsealed: the rotation must not make the lab strict"
    assert bench.result(order.id, "HGB") is not None

    report = platform.reencryptor.run(lab)
    assert report.links_sealed >= 1 + 2 + 1 + 2 and report.links_bound  # order, items, tube, results
    assert links_bound(platform, lab)
    kek = platform.keys.provider.lab_kek(lab)
    with platform.db.owner_engine.connect() as conn:
        rows = conn.execute(select(KEYS).where(KEYS.c.lab_id == lab, KEYS.c.purpose == PURPOSE_DATA)).all()
    assert [unwrap_key_bound(kek, lab, PURPOSE_DATA, r.version, r.wrapped)[1] for r in rows] == [True, True]
    assert platform.reencryptor.run(lab).links_sealed == 0  # idempotent

    assert bench.result(order.id, "HGB") is not None
    set_column(platform, Order, order.id, links_mac=None)
    with pytest.raises(
        IntegrityError, match=f"link seal missing \\(NULL\\) in orders.links of row {order.id}"
    ):
        bench.get(order.id)


def test_rotation_of_a_bound_lab_keeps_its_seals_and_its_strictness(platform: Platform) -> None:
    bench = Bench.create(platform, f"Laboratoire rotation {uuid.uuid4().hex[:6]}")
    order = bench.order(tests=["HGB"])
    bench.enter_and_validate(order, {"HGB": "12.2"})
    lab = bench.lab.id
    assert links_bound(platform, lab)
    assert platform.labs.rotate_keys(cli_ctx(), lab) == 2
    platform.reencryptor.run(lab)
    with platform.db.transaction(None) as session:
        platform.keys.retire_versions_below(session, lab, 2)
    assert links_bound(platform, lab), "the new data key attests bound links too"
    assert bench.result(order.id, "HGB") is not None  # seals made under key v1 still hold
    set_column(platform, Order, order.id, patient_id=bench.patient())
    with pytest.raises(IntegrityError, match=f"orders.links of row {order.id}"):
        bench.get(order.id)
