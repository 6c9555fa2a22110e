"""Every link column in the schema is sealed with its row, read from the schema itself.

A link is a column that leads from a row to whose data it is or shows: a foreign key to a patient,
physician, order, item, result, specimen or report anywhere, and any ``*_id`` / ``*_ids`` column
of a workflow table (``order_items.current_result_id`` has no foreign key). A new one fails here
until it is tagged ``bound()`` in its model (store/bound_links.py), or exempted below with the
reason it does not decide whose data is shown.
"""

from __future__ import annotations

import re

import labvault.platform  # noqa: F401 - imports every model, so the metadata is whole
from labvault.store.base import Base
from labvault.store.bound_links import MAC_COLUMN, bound_columns, bound_tables
from labvault.workflow import models as workflow_models

LINK_TARGETS = {"patients", "physicians", "orders", "order_items", "results", "specimens", "reports"}
ID_COLUMN = re.compile(r".+_ids?")
WORKFLOW_TABLES = {
    value.__tablename__
    for value in vars(workflow_models).values()
    if isinstance(value, type) and issubclass(value, Base) and hasattr(value, "__tablename__")
}
# Links outside the workflow left unsealed on purpose, each with its reason (docs/SECURITY.md).
EXEMPT = {
    ("users", "physician_id"): "an account's identity, decided at sign-in: a known gap (SECURITY.md)",
}


def schema_links() -> set[tuple[str, str]]:
    found = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name in ("id", "lab_id"):
                continue
            targets = {fk.column.table.name for fk in column.foreign_keys}
            named = table.name in WORKFLOW_TABLES and ID_COLUMN.fullmatch(column.name)
            if targets & LINK_TARGETS or named:
                found.add((table.name, column.name))
    return found


def sealed() -> set[tuple[str, str]]:
    return {(table.name, column) for table in bound_tables() for column in bound_columns(table)}


def test_the_schema_has_the_links_the_probe_moved() -> None:
    """The enumeration itself finds what issue 10's probe moved (it would pass vacuously otherwise)."""
    assert {("orders", "patient_id"), ("order_items", "current_result_id")} <= schema_links()
    assert {"orders", "order_items", "specimens", "results", "reports"} <= WORKFLOW_TABLES


def test_every_link_column_is_sealed() -> None:
    missing = sorted(schema_links() - sealed() - set(EXEMPT))
    assert not missing, f"link columns not bound to their row (tag them bound()): {missing}"


def test_exemptions_are_still_needed() -> None:
    assert set(EXEMPT) <= schema_links() - sealed()


def test_every_workflow_table_with_a_link_has_a_seal_column() -> None:
    for table in Base.metadata.sorted_tables:
        links = {column for name, column in schema_links() if name == table.name}
        if table.name in WORKFLOW_TABLES and links:
            assert MAC_COLUMN in table.columns, table.name
            assert links <= set(bound_columns(table)), table.name
