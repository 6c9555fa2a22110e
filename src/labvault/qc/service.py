"""Analyzer QC for the lab's staff: control lots declared (biologists, lab admins), QC values
typed for a manual analyzer, a biologist's decision on a rejection (which releases its hold on
technical validation), and the Levey-Jennings series. QC is lab data, not patient data: decided
by the role table (security/permissions.py), in the caller's lab only; every write is audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labvault.catalog.service import CatalogService
from labvault.crypto.keyset import LabKeySet
from labvault.errors import Conflict, InvalidInput, NotFound
from labvault.identity.interface_accounts import interface_of_lab
from labvault.identity.models import User
from labvault.keys.store import KeyStore
from labvault.qc import recording
from labvault.qc.holds import pending_rejections
from labvault.qc.models import DECISIONS, QcLot, QcResult
from labvault.qc.westgard import NotAQcValue, Status, decimal_of
from labvault.security import audit
from labvault.security.access import AccessContext
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.base import utcnow
from labvault.store.database import Database

MANUAL = "manual"
MAX_LOT = 64
MAX_COMMENT = 500
MAX_POINTS = 1000
TABLE = QcResult.__tablename__


@dataclass(frozen=True)
class LotInfo:
    id: uuid.UUID
    instrument: str  # the interface account's username
    instrument_id: uuid.UUID
    test_code: str
    lot: str
    level: int | None
    mean: str
    sd: str
    active: bool


@dataclass(frozen=True)
class QcPoint:
    """One point of a Levey-Jennings chart, and where it stands."""

    id: uuid.UUID
    number: int
    at: dt.datetime
    value: str
    z: float
    rules: tuple[str, ...]
    status: str
    source: str
    decision: str | None
    decided_at: dt.datetime | None
    decision_comment: str | None = None  # opened where the lab's keys are loaded (series, decide)


@dataclass(frozen=True)
class Series:
    lot: LotInfo
    points: tuple[QcPoint, ...]


@dataclass(frozen=True)
class Event:
    """A rejection awaiting (or having had) a biologist's decision."""

    point: QcPoint
    lot: LotInfo


class QcService:
    def __init__(self, db: Database, keys: KeyStore, catalogs: CatalogService) -> None:
        self.gate = Gate(db, keys)
        self.catalogs = catalogs

    # --- control lots --------------------------------------------------------------------------

    def add_lot(
        self,
        ctx: AccessContext,
        instrument: str,
        test_code: str,
        lot: str,
        mean: str,
        sd: str,
        level: int | None = None,
    ) -> LotInfo:
        """Declare a control lot as run on ``instrument`` for ``test_code``, with its targets."""
        lot_id, test_code = clean_lot(lot), test_code.strip().upper()
        mean_value, sd_value = _number("mean", mean), _number("sd", sd)
        if sd_value <= 0:
            raise InvalidInput("sd", "must be greater than 0")
        if level is not None and not 1 <= level <= 9:
            raise InvalidInput("level", "1 to 9")
        with self.gate.lab_rows(ctx, Permission.QC_MANAGE) as lab:
            catalog = self.catalogs.active_in(lab.session, lab.lab_id)
            if catalog.get(test_code) is None:
                raise InvalidInput("test_code", f"not in catalogue {catalog.version}")
            account_id = instrument_id(lab.session, lab.lab_id, instrument)
            row = QcLot(
                id=uuid.uuid4(),
                lab_id=lab.lab_id,
                instrument_id=account_id,
                test_code=test_code,
                lot=lot_id,
                level=level,
                mean=str(mean_value),
                sd=str(sd_value),
                active=True,
                created_by=ctx.actor_id,
            )
            lab.session.add(row)
            try:
                lab.session.flush()
            except IntegrityError:
                raise Conflict(f"lot {lot_id} is already declared for {test_code} on {instrument}") from None
            detail = {"instrument": str(account_id), "test": test_code, "lot": lot_id, "level": level}
            audit.append(lab.session, ctx, AuditRecord("qc.lot_add", "qc_lot", str(row.id), detail))
            return _lot_info(row, instrument.strip().lower())

    def lots(self, ctx: AccessContext, instrument: str | None = None) -> list[LotInfo]:
        with self.gate.lab_rows(ctx, Permission.QC_READ) as lab:
            query = select(QcLot).order_by(QcLot.test_code, QcLot.lot)
            if instrument is not None:
                query = query.where(QcLot.instrument_id == instrument_id(lab.session, lab.lab_id, instrument))
            rows = list(lab.session.scalars(query))
            names = _usernames(lab.session, {r.instrument_id for r in rows})
            return [_lot_info(r, names.get(r.instrument_id, "")) for r in rows]

    # --- QC results ----------------------------------------------------------------------------

    def record(
        self, ctx: AccessContext, instrument: str, test_code: str, lot: str, value: str
    ) -> tuple[QcPoint, LotInfo]:
        """A QC value typed by a person (a manual analyzer, or a QC the instrument did not send),
        evaluated like one that came through a channel."""
        with self.gate.lab_rows(ctx, Permission.QC_ENTER) as lab:
            row = _lot(lab.session, lab.lab_id, instrument, test_code, lot)
            try:
                stored = recording.record(lab.session, ctx, row, value, at=utcnow(), source=MANUAL)
            except NotAQcValue as exc:
                raise InvalidInput("value", str(exc)) from None
            point = lab.session.get(QcResult, stored.id)
            assert point is not None
            return _point(point), _lot_info(row, instrument.strip().lower())

    def series(
        self, ctx: AccessContext, instrument: str, test_code: str, lot: str, *, limit: int = 200
    ) -> Series:
        """The lot's Levey-Jennings series, oldest first (its last ``limit`` points)."""
        limit = max(1, min(limit, MAX_POINTS))
        with self.gate.read(ctx, Permission.QC_READ) as lab:  # read-only: no write lock
            row = _lot(lab.session, lab.lab_id, instrument, test_code, lot)
            points = lab.session.scalars(
                select(QcResult)
                .where(QcResult.lot_id == row.id)
                .order_by(QcResult.number.desc())
                .limit(limit)
            )
            shown = tuple(_point(p, _comment(lab.keys, p)) for p in reversed(list(points)))
            return Series(_lot_info(row, instrument.strip().lower()), shown)

    def pending(self, ctx: AccessContext) -> list[Event]:
        """The rejections awaiting a biologist's decision (each holding technical validation)."""
        with self.gate.lab_rows(ctx, Permission.QC_READ) as lab:
            rejections = pending_rejections(lab.session)
            lots = {
                lot.id: lot
                for lot in lab.session.scalars(
                    select(QcLot).where(QcLot.id.in_({p.lot_id for p in rejections}))
                )
            }
            names = _usernames(lab.session, {lot.instrument_id for lot in lots.values()})
            return [
                Event(_point(p), _lot_info(lots[p.lot_id], names.get(p.instrument_id, "")))
                for p in rejections
            ]

    # --- the biologist's decision -------------------------------------------------------------

    def decide(self, ctx: AccessContext, qc_result_id: uuid.UUID, decision: str, comment: str) -> Event:
        """Accept (a false rejection: the run counts as accepted QC) or reject (the run was bad;
        the comment says what was done) a rejected QC result. Either releases its hold on the
        technical validation of the instrument's results; audited, the comment sealed."""
        if decision not in DECISIONS:
            raise InvalidInput("decision", f"one of {', '.join(DECISIONS)}")
        text = " ".join(comment.split())
        if not 3 <= len(text) <= MAX_COMMENT:
            raise InvalidInput("comment", f"3 to {MAX_COMMENT} characters: what was checked or done")
        with self.gate.lab(ctx, Permission.QC_DECIDE) as unit:
            audit.lock_chain(unit.session, ctx)  # two biologists deciding at once: one gets a 409
            row = unit.session.get(QcResult, qc_result_id)
            if row is None:
                raise NotFound(f"no QC result {qc_result_id} in this laboratory")
            if row.status != Status.REJECTED.value:
                raise Conflict("this QC result broke no rejection rule: there is nothing to decide")
            if row.decision is not None:
                raise Conflict(f"this QC rejection was already decided ({row.decision})")
            row.decision, row.decided_by, row.decided_at = decision, ctx.actor_id, utcnow()
            row.decision_comment_enc = unit.keys.cipher.encrypt(TABLE, "decision_comment_enc", row.id, text)
            unit.session.flush()
            lot = unit.session.get(QcLot, row.lot_id)
            assert lot is not None
            detail = {
                "decision": decision,
                "lot": str(lot.id),
                "instrument": str(lot.instrument_id),
                "test": lot.test_code,
                "rules": row.rules.split(",") if row.rules else [],
            }
            audit.append(unit.session, ctx, AuditRecord("qc.decide", "qc_result", str(row.id), detail))
            names = _usernames(unit.session, {lot.instrument_id})
            return Event(_point(row, text), _lot_info(lot, names.get(lot.instrument_id, "")))


def clean_lot(lot: str) -> str:
    """A lot id as matched against what instruments send: trimmed, upper case."""
    cleaned = lot.strip().upper()
    if not cleaned or len(cleaned) > MAX_LOT:
        raise InvalidInput("lot", f"1 to {MAX_LOT} characters")
    return cleaned


def _number(field: str, text: str) -> Decimal:
    try:
        return decimal_of(text, field)
    except NotAQcValue as exc:
        raise InvalidInput(field, str(exc)) from None


def instrument_id(session: Session, lab_id: uuid.UUID, username: str) -> uuid.UUID:
    """An interface account of this lab (an instrument): another lab's is as absent as a missing one."""
    return interface_of_lab(session, lab_id, username).id


def _lot(session: Session, lab_id: uuid.UUID, instrument: str, test_code: str, lot: str) -> QcLot:
    row = session.scalar(
        select(QcLot).where(
            QcLot.instrument_id == instrument_id(session, lab_id, instrument),
            QcLot.test_code == test_code.strip().upper(),
            QcLot.lot == clean_lot(lot),
        )
    )
    if row is None:
        raise NotFound(f"no control lot {clean_lot(lot)} for {test_code.strip().upper()} on {instrument}")
    return row


def _usernames(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {i: name for i, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def _lot_info(row: QcLot, instrument: str) -> LotInfo:
    return LotInfo(
        row.id, instrument, row.instrument_id, row.test_code, row.lot, row.level, row.mean, row.sd, row.active
    )


def _comment(keys: LabKeySet, row: QcResult) -> str | None:
    if row.decision_comment_enc is None:
        return None
    return keys.cipher.decrypt(TABLE, "decision_comment_enc", row.id, row.decision_comment_enc)


def _point(row: QcResult, comment: str | None = None) -> QcPoint:
    return QcPoint(
        id=row.id,
        number=row.number,
        at=row.at,
        value=row.value,
        z=round(float(Decimal(row.z)), 4),
        rules=tuple(row.rules.split(",")) if row.rules else (),
        status=row.status,
        source=row.source,
        decision=row.decision,
        decided_at=row.decided_at,
        decision_comment=comment,
    )
