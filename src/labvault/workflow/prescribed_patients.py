"""The patients a prescriber may see, through their orders (identity/prescribed.py states the need;
the platform hands this to PatientService)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from labvault.crypto.keyset import LabKeySet
from labvault.identity.models import Patient
from labvault.store.bound_links import bind_session
from labvault.workflow.models import Order


class PrescribedThroughOrders:
    """:class:`labvault.identity.prescribed.PrescribedPatients` over :class:`Order`."""

    def condition(self, physician_id: uuid.UUID) -> ColumnElement[bool]:
        return Patient.id.in_(select(Order.patient_id).where(Order.prescriber_id == physician_id))

    def verify(
        self, session: Session, keys: LabKeySet, physician_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]
    ) -> None:
        if not patient_ids:
            return
        bind_session(session, keys)
        session.scalars(
            select(Order).where(Order.patient_id.in_(patient_ids), Order.prescriber_id == physician_id)
        ).all()
