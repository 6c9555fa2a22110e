"""The sealed fields of ``reports``: the released PDF, and the context it was rendered from (lab,
patient, prescriber, signatories as released), so that it can be rendered again and compared."""

from __future__ import annotations

import uuid
from typing import Any

from labvault.crypto.keyset import LabKeySet
from labvault.store.sealed_fields import SealedColumns
from labvault.workflow.models import Report

REPORTS = SealedColumns(Report, "pdf", "context")


def seal_pdf(keys: LabKeySet, report_id: uuid.UUID, pdf: bytes) -> bytes:
    return REPORTS.seal_bytes(keys.cipher, "pdf", report_id, pdf)


def seal_context(keys: LabKeySet, report_id: uuid.UUID, context: dict[str, Any]) -> bytes:
    return REPORTS.seal_json(keys.cipher, "context", report_id, context)


def open_pdf(keys: LabKeySet, row: Report) -> bytes | None:
    return REPORTS.open_bytes(keys.cipher, row, "pdf")


def open_context(keys: LabKeySet, row: Report) -> Any:
    return REPORTS.open_json(keys.cipher, row, "context")
