"""Patient identity as the domain sees it (clear values), and its validation. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, fields, replace

from labvault.errors import InvalidInput
from labvault.identity import validation as v

MAX_TEXT = 200
MAX_NOTE = 2000


@dataclass(frozen=True)
class PatientData:
    """Identity traits of one patient (INS referential: birth name, first names, sex, birth date,
    birthplace) plus contact details and a free-text note."""

    birth_name: str
    first_names: str
    sex: str
    birth_date: dt.date
    used_name: str | None = None
    birthplace_insee: str | None = None
    nir: str | None = None
    ins: str | None = None
    ins_oid: str | None = None
    ins_status: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    note: str | None = None


FIELD_NAMES = tuple(f.name for f in fields(PatientData))
ENCRYPTED_FIELDS = tuple(name for name in FIELD_NAMES if name not in ("ins_oid", "ins_status"))


@dataclass(frozen=True)
class PatientRecord:
    """A stored patient, decrypted for one authorised caller."""

    id: uuid.UUID
    lab_id: uuid.UUID
    revision: int
    data: PatientData
    created_at: dt.datetime
    updated_at: dt.datetime


def _text(field: str, value: str | None, limit: int = MAX_TEXT, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(field, "is required")
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        if required:
            raise InvalidInput(field, "must not be empty")
        return None
    if len(cleaned) > limit:
        raise InvalidInput(field, f"is longer than {limit} characters")
    return cleaned


def validate_patient(data: PatientData, today: dt.date | None = None) -> PatientData:
    """Normalise every field; raise InvalidInput naming the first bad field and why."""
    today = today or dt.date.today()
    if data.birth_date > today:
        raise InvalidInput("birth_date", "is in the future")
    if data.birth_date.year < 1880:
        raise InvalidInput("birth_date", "is before 1880")
    birth_name = _text("birth_name", data.birth_name, required=True)
    first_names = _text("first_names", data.first_names, required=True)
    assert birth_name is not None and first_names is not None
    v.normalize_name_for_index(birth_name)
    sex = v.validate_sex(data.sex)
    nir = v.normalize_nir(data.nir) if data.nir else None
    if nir:
        issues = v.nir_consistency_issues(nir, sex, data.birth_date)
        if issues:
            raise InvalidInput("nir", "; ".join(issues))
    ins, ins_oid = None, None
    if data.ins or data.ins_oid:
        if not (data.ins and data.ins_oid):
            raise InvalidInput("ins", "the INS and its OID go together")
        ins = v.validate_ins(data.ins, data.ins_oid)
        ins_oid = data.ins_oid
    note = data.note
    if note is not None:
        if len(note) > MAX_NOTE:
            raise InvalidInput("note", f"is longer than {MAX_NOTE} characters")
        note = note.strip() or None
    return replace(
        data,
        birth_name=birth_name,
        first_names=first_names,
        sex=sex,
        used_name=_text("used_name", data.used_name),
        birthplace_insee=v.validate_insee_commune(data.birthplace_insee) if data.birthplace_insee else None,
        nir=nir,
        ins=ins,
        ins_oid=ins_oid,
        ins_status=v.validate_ins_status(data.ins_status) if data.ins_status else None,
        address=_text("address", data.address, limit=300),
        phone=v.validate_phone(data.phone) if data.phone else None,
        email=v.validate_email(data.email) if data.email else None,
        note=note,
    )


def name_birth_key(name: str, birth_date: dt.date) -> str:
    """What the name + birth date blind index is computed over."""
    return f"{v.normalize_name_for_index(name)}|{birth_date.isoformat()}"
