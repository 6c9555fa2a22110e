"""From what an analyzer knows (a tube's barcode and a test code) to the order item a result is
entered for; and a rehearsal of a batch entry that checks everything and writes nothing.

The barcode is found through its blind index, never by decrypting the lab's tubes; errors name the
position of the pair in the batch (``pairs[3].barcode``), never the barcode itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from labvault.catalog.service import CatalogService
from labvault.errors import InvalidInput, UnknownId
from labvault.keys.store import KeyStore
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.permissions import Permission
from labvault.store.database import Database, Rehearsal
from labvault.workflow.base import WorkflowService, refuse_unseen_item, sees_restricted
from labvault.workflow.loading import chunks, patients_of_items, patients_of_orders
from labvault.workflow.models import OrderItem, Specimen
from labvault.workflow.order_data import ResultSummary
from labvault.workflow.orders import specimen_record
from labvault.workflow.result_entry import ResultEntry, ResultEntryService
from labvault.workflow.specimen_codec import barcode_index
from labvault.workflow.specimens import clean_barcode

MAX_PAIRS = 5000
NOT_ON_TUBE = "this test is not ordered on this tube"


class ItemLookup(WorkflowService):
    def __init__(self, db: Database, keys: KeyStore, catalogs: CatalogService) -> None:
        super().__init__(db, keys, catalogs)
        self.rehearsal = ResultEntryService(Rehearsal(db), keys, catalogs)

    def resolve_items(self, ctx: AccessContext, pairs: Sequence[tuple[str, str]]) -> list[uuid.UUID]:
        """The order item of each (specimen barcode, test code), in order, for result entry.

        Refused, naming the first bad pair: an unknown barcode, a rejected tube (its tests wait for
        the replacement tube), a tube not yet received, a test not ordered on that tube, or a
        calculated test. A restricted test the caller may not enter is refused in the very words
        of a test not ordered on that tube: the answer never tells that the tube holds one."""
        if not pairs:
            raise InvalidInput("pairs", "at least one (barcode, test code) pair is needed")
        if len(pairs) > MAX_PAIRS:
            raise InvalidInput("pairs", f"at most {MAX_PAIRS} pairs per lookup")
        cleaned = [
            (clean_barcode(f"pairs[{i}].barcode", barcode), code.strip().upper())
            for i, (barcode, code) in enumerate(pairs)
        ]
        with self._unit(ctx, Permission.RESULT_ENTER) as unit:
            indexes = {barcode: barcode_index(unit.keys, barcode) for barcode, _ in cleaned}
            by_index: dict[bytes, Specimen] = {}
            wanted = list(dict.fromkeys(indexes.values()))
            for chunk in chunks(wanted):
                by_index.update(
                    (row.barcode_bidx, row)
                    for row in unit.session.scalars(select(Specimen).where(Specimen.barcode_bidx.in_(chunk)))
                )
            specimens: dict[str, Specimen] = {}
            for barcode, index in indexes.items():
                row = by_index.get(index)
                if row is not None and specimen_record(unit, row).barcode == barcode:
                    specimens[barcode] = row
            items: dict[tuple[uuid.UUID, str], OrderItem] = {}
            ids = list({row.id for row in specimens.values()})
            for chunk_ids in chunks(ids):
                items.update(
                    ((item.specimen_id, item.test_code), item)  # type: ignore[misc]
                    for item in unit.session.scalars(
                        select(OrderItem).where(OrderItem.specimen_id.in_(chunk_ids))
                    )
                )
            found: list[uuid.UUID] = []
            for position, (barcode, code) in enumerate(cleaned):
                where = f"pairs[{position}]"
                specimen = specimens.get(barcode)
                if specimen is None:
                    raise UnknownId(
                        f"{where}.barcode",
                        "no tube with this barcode in this laboratory",
                        {"barcode": barcode},
                    )
                if specimen.status == "rejected":
                    raise InvalidInput(
                        f"{where}.barcode", "this tube was rejected: its tests await the replacement tube"
                    )
                if specimen.status != "received":
                    raise InvalidInput(
                        f"{where}.barcode", f"this tube is {specimen.status}, not yet received"
                    )
                item = items.get((specimen.id, code))
                if item is None:
                    if unit.catalog.get(code) is None:
                        raise InvalidInput(
                            f"{where}.test_code", f"unknown test code in catalogue {unit.catalog.version}"
                        )
                    raise UnknownId(
                        f"{where}.test_code", NOT_ON_TUBE, {"barcode": barcode, "test_code": code}
                    )
                if item.restricted and not sees_restricted(ctx, Permission.RESULT_ENTER):  # as not ordered
                    absent = UnknownId(
                        f"{where}.test_code", NOT_ON_TUBE, {"barcode": barcode, "test_code": code}
                    )
                    raise refuse_unseen_item(unit, ctx, item, absent, where, "entered")
                if item.calculated:
                    raise InvalidInput(f"{where}.test_code", "is calculated by labvault, not entered")
                found.append(item.id)
            used = {specimens[barcode].id: specimens[barcode] for barcode, _ in cleaned}
            patients = patients_of_orders(unit, [row.order_id for row in used.values()])
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord(
                        "specimen.resolve",
                        "specimen",
                        str(row.id),
                        {"order": str(row.order_id)},
                        patient_id=patients.get(row.order_id),
                    )
                    for row in used.values()
                ],
            )
            return found

    def rehearse_entry(self, ctx: AccessContext, entries: Sequence[ResultEntry]) -> list[ResultSummary]:
        """What :meth:`ResultEntryService.enter` would do with ``entries`` (same checks, same flags and
        calculated results), rolled back. The rehearsal itself is audited, item by item."""
        summaries = self.rehearsal.enter(ctx, entries)
        with self._unit(ctx, Permission.RESULT_ENTER) as unit:
            patients = patients_of_items(unit, [entry.item_id for entry in entries])
            audit.append_many(
                unit.session,
                ctx,
                [
                    AuditRecord(
                        "result.rehearse",
                        "order_item",
                        str(entry.item_id),
                        {"written": False},
                        patient_id=patients.get(entry.item_id),
                    )
                    for entry in entries
                ],
            )
        return summaries
