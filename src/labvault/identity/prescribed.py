"""Which patients a prescriber may see: those with at least one order they prescribed.

Orders sit above identities (workflow builds on identity), so identity only states what it needs
(:class:`PrescribedPatients`) and the platform hands PatientService the workflow's answer
(workflow/prescribed_patients.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from labvault.crypto.keyset import LabKeySet


class PrescribedPatients(Protocol):
    def condition(self, physician_id: uuid.UUID) -> ColumnElement[bool]:
        """A condition on ``Patient``: at least one order of ``physician_id`` names it (in the
        query, so that searches neither show nor count the others)."""
        ...

    def verify(
        self, session: Session, keys: LabKeySet, physician_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]
    ) -> None:
        """Load whole the orders that tied ``physician_id`` to ``patient_ids`` (the condition only
        joined through their clear links), so that their sealed links are checked: a link moved in
        the database raises IntegrityError instead of opening an identity."""
        ...
