"""Per-lab catalogues: which one is active, importing a new one, exporting it.

A lab starts on the catalogue shipped with labvault; importing a document (validated whole by the
loader) makes it the lab's active catalogue, and the previous ones stay in the history.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labvault.catalog.loader import default_catalog, dump_catalog, load_catalog_dict
from labvault.catalog.model import Catalog
from labvault.catalog.storage import LabCatalog
from labvault.errors import NotFound
from labvault.identity.models import Lab
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.security.policy import require_lab_object
from labvault.store.database import Database, declared_lab


class CatalogService:
    def __init__(self, db: Database) -> None:
        self._parsed: dict[tuple[uuid.UUID, int], Catalog] = {}
        self._lock = threading.Lock()
        self.gate = Gate(db)

    def active(self, lab_id: uuid.UUID) -> Catalog:
        """The lab's latest imported catalogue, or the shipped default."""
        with self.gate.lookup() as session:
            return self.active_in(session, lab_id)

    def active_in(self, session: Session, lab_id: uuid.UUID) -> Catalog:
        """Same, inside the caller's transaction. A parsed catalogue is kept per (lab, revision):
        revisions are immutable, so only the cheap revision number is read each time."""
        with declared_lab(session, lab_id):
            revision = session.scalar(
                select(func.max(LabCatalog.revision)).where(LabCatalog.lab_id == lab_id)
            )
            if revision is None:
                return default_catalog()
            cached = self._parsed.get((lab_id, revision))
            if cached is not None:
                return cached
            document = session.scalar(
                select(LabCatalog.document).where(
                    LabCatalog.lab_id == lab_id, LabCatalog.revision == revision
                )
            )
        catalog = load_catalog_dict(document or {})
        with self._lock:
            self._parsed[(lab_id, revision)] = catalog
        return catalog

    def export(self, ctx: AccessContext, lab_id: uuid.UUID) -> dict[str, object]:
        require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
        return dump_catalog(self.active(lab_id))

    def import_document(
        self, ctx: AccessContext, lab_id: uuid.UUID, document: Mapping[str, object]
    ) -> Catalog:
        """Validate a whole catalogue, then make it the lab's active one (all or nothing)."""
        with self.gate.platform(ctx, Permission.CATALOG_MANAGE, lab_id=lab_id) as session:
            catalog = load_catalog_dict(document)  # decided first; no statement sent yet
            if session.get(Lab, lab_id) is None:
                raise NotFound(f"no laboratory {lab_id}")
            with declared_lab(session, lab_id):
                latest = session.scalar(
                    select(func.max(LabCatalog.revision)).where(LabCatalog.lab_id == lab_id)
                )
                revision = (latest or 0) + 1
                session.add(
                    LabCatalog(
                        lab_id=lab_id,
                        revision=revision,
                        version=catalog.version,
                        document=dump_catalog(catalog),
                        imported_by=ctx.actor_label,
                    )
                )
            audit.append(
                session,
                ctx,
                AuditRecord(
                    "catalog.import",
                    "lab",
                    str(lab_id),
                    {"version": catalog.version, "revision": revision, "tests": len(catalog.tests)},
                ),
            )
        return catalog
