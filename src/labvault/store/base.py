"""Declarative base and the tenant mixin every per-laboratory table uses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import DateTime, Dialect, ForeignKey, LargeBinary, MetaData, TypeDecorator, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps come back aware, in UTC, on every engine: SQLite drops the time zone on the way
    in, and a naive value read back would compare (and print) differently from the one written."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime: labvault stores UTC instants only")
        return value.astimezone(dt.UTC)  # SQLite keeps the wall-clock digits and drops the offset

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: Uuid(),
        dt.datetime: UtcDateTime(),
        bytes: LargeBinary(),
    }


class TenantScoped:
    """Rows that belong to one laboratory; the session layer filters them by the caller's lab."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)

    @declared_attr
    def lab_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("labs.id"), index=True)


def encrypted() -> Mapped[bytes | None]:
    """An encrypted field column: bytes, tagged so re-encryption finds every one of them."""
    return mapped_column(LargeBinary(), nullable=True, info={"encrypted": True})
