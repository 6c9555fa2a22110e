"""The sealed fields of ``orders``: the prescription's date and its clinical context."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from labvault.crypto.keyset import LabKeySet
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.models import Order

ORDERS = SealedColumns(Order, "prescribed_on", "fasting", "clinical_info", "drugs")


def seal_order(
    keys: LabKeySet,
    order_id: uuid.UUID,
    *,
    prescribed_on: dt.date | None,
    fasting: Any,
    clinical_info: str | None,
    drugs: Any,
) -> dict[str, bytes]:
    """Column values (``<field>_enc``) for an order's clinical context (``fasting`` and ``drugs``:
    JSON values)."""
    clear = {
        "prescribed_on": prescribed_on.isoformat() if prescribed_on else None,
        "clinical_info": clinical_info,
    }
    return ORDERS.seal_all(keys.cipher, order_id, clear, {"fasting": fasting, "drugs": drugs})


def open_prescribed_on(keys: LabKeySet, order: Order) -> dt.date | None:
    text = ORDERS.open(keys.cipher, order, "prescribed_on")
    return dt.date.fromisoformat(text) if text else None


def open_fasting(keys: LabKeySet, order: Order) -> Any:
    return ORDERS.open_json(keys.cipher, order, "fasting")


def open_clinical_info(keys: LabKeySet, order: Order) -> str | None:
    return ORDERS.open(keys.cipher, order, "clinical_info")


def open_drugs(keys: LabKeySet, order: Order) -> tuple[str, ...]:
    return tuple(ORDERS.open_json(keys.cipher, order, "drugs") or ())
