"""Request and response bodies of the JSON API, with size limits on every field."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from labvault.identity.accounts import Account
from labvault.identity.patient_data import PatientData, PatientRecord
from labvault.identity.physician_service import PhysicianData, PhysicianRecord
from labvault.security.access import Role
from labvault.web.bounds import Version

Name = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(min_length=1, max_length=40)]
# Passwords are taken exactly as typed (the models strip other strings): the CLI does not strip.
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=256)]


def _holds_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 8:
        return False
    if isinstance(value, dict):
        return any(_holds_nul(k, depth + 1) or _holds_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item, depth + 1) for item in value)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        """No NUL anywhere in a request body: PostgreSQL refuses it in text (a 500 otherwise), and
        no field of labvault has a use for one."""
        if _holds_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


# No control character: PostgreSQL refuses a NUL in the username lookup (a 500 before this).
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
TotpCode = Annotated[
    str,
    Field(
        min_length=6,
        max_length=7,
        pattern=r"^[0-9]{3} ?[0-9]{3}$",
        description="The current 6-digit code of the authenticator app (each code works once)",
    ),
]


class LoginIn(Strict):
    username: Username
    password: Password
    totp_code: TotpCode


class TokenOut(BaseModel):
    token_id: uuid.UUID
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type name
    expires_at: dt.datetime
    kind: str = Field(description="session (login: also expires when idle) or script (absolute expiry only)")


class MfaEnrollIn(Strict):
    username: Username
    password: Password


class MfaEnrollOut(BaseModel):
    """Shown once: import ``otpauth_uri`` (or type ``secret``) in an authenticator app, then
    confirm with a first code."""

    otpauth_uri: str
    secret: str
    digits: int
    period: int


class MfaConfirmIn(Strict):
    username: Username
    password: Password
    totp_code: TotpCode


class ReauthIn(Strict):
    password: Password
    totp_code: TotpCode


class ReauthOut(BaseModel):
    reauthenticated_at: dt.datetime
    valid_until: dt.datetime


class PasswordChangeIn(Strict):
    current_password: Password
    totp_code: TotpCode
    new_password: Annotated[Password, Field(min_length=12)]


class InitialPasswordIn(Strict):
    """The owner replaces the password their administrator gave them (its only use)."""

    username: Username
    password: Password = Field(description="the password you were given")
    new_password: Annotated[Password, Field(min_length=12)]
    totp_code: TotpCode | None = Field(
        default=None, description="only if the account already has an authenticator (not a new account)"
    )


class AccountActionOut(BaseModel):
    """A platform operator's request on an account of the lab, which its admins may cancel until
    ``effective_at``."""

    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    requested_by: uuid.UUID | None = Field(description="the operator; null: the server's console")
    requested_at: dt.datetime
    effective_at: dt.datetime
    status: str = Field(description="pending, cancelled or applied")
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None


class UserPatch(Strict):
    """Give one or both; any change revokes every token of the user."""

    role: Role | None = None
    active: bool | None = None


class TokenIn(Strict):
    label: Annotated[str, Field(min_length=1, max_length=100)] = "api"
    ttl_hours: Annotated[int, Field(ge=1, le=24 * 365)] = 24 * 30


class MeOut(BaseModel):
    id: uuid.UUID
    username: str
    role: Role
    lab_id: uuid.UUID | None
    physician_id: uuid.UUID | None = Field(default=None, description="a prescriber's physician")


class PatientIn(Strict):
    birth_name: Name
    first_names: Name
    sex: Annotated[str, Field(pattern="^[MFUmfu]$")]
    birth_date: dt.date
    used_name: Name | None = None
    birthplace_insee: Annotated[str, Field(max_length=5)] | None = None
    nir: Short | None = None
    ins: Short | None = None
    ins_oid: Short | None = None
    ins_status: Annotated[str, Field(max_length=16)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    phone: Short | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    accept_homonym: bool = False

    def to_domain(self) -> PatientData:
        return PatientData(**self.model_dump(exclude={"accept_homonym"}))


class PatientPatch(Strict):
    """Fields to change; absent fields are kept, explicit nulls clear optional ones."""

    birth_name: Name | None = None
    first_names: Name | None = None
    sex: Annotated[str, Field(pattern="^[MFUmfu]$")] | None = None
    birth_date: dt.date | None = None
    used_name: Name | None = None
    birthplace_insee: Annotated[str, Field(max_length=5)] | None = None
    nir: Short | None = None
    ins: Short | None = None
    ins_oid: Short | None = None
    ins_status: Annotated[str, Field(max_length=16)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    phone: Short | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    expected_revision: Version | None = None


class PatientOut(BaseModel):
    id: uuid.UUID
    lab_id: uuid.UUID
    revision: int
    birth_name: str
    used_name: str | None
    first_names: str
    sex: str
    birth_date: dt.date
    birthplace_insee: str | None
    nir: str | None
    ins: str | None
    ins_oid: str | None
    ins_status: str | None
    address: str | None
    phone: str | None
    email: str | None
    note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, record: PatientRecord) -> PatientOut:
        return cls(
            id=record.id,
            lab_id=record.lab_id,
            revision=record.revision,
            created_at=record.created_at,
            updated_at=record.updated_at,
            **record.data.__dict__,
        )


class SearchByNirIn(Strict):
    nir: Short


class SearchByInsIn(Strict):
    ins: Short


class SearchByNameIn(Strict):
    name: Name
    birth_date: dt.date


class PatientList(BaseModel):
    results: list[PatientOut]


class LabIn(Strict):
    code: Annotated[str, Field(min_length=2, max_length=16)]
    name: Annotated[str, Field(min_length=2, max_length=200)]
    finess: Annotated[str, Field(min_length=9, max_length=9)]


class LabOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    finess: str
    shredded: bool


class UserIn(Strict):
    username: Annotated[str, Field(min_length=3, max_length=64)]
    password: Annotated[Password, Field(min_length=12)]
    role: Role
    full_name: Annotated[str, Field(max_length=200)] | None = None
    physician_id: uuid.UUID | None = Field(
        default=None,
        description="role prescriber only, and required then: the lab's physician the account acts for "
        "(POST /api/v1/physicians); one active account per physician",
    )


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    role: Role
    lab_id: uuid.UUID | None
    active: bool
    physician_id: uuid.UUID | None = None

    @classmethod
    def of(cls, account: Account) -> UserOut:
        return cls(
            id=account.id,
            username=account.username,
            role=account.role,
            lab_id=account.lab_id,
            active=account.active,
            physician_id=account.physician_id,
        )


class KeyRotationOut(BaseModel):
    lab_id: uuid.UUID
    active_version: int


class PhysicianIn(Strict):
    rpps: Annotated[str, Field(min_length=1, max_length=20)]
    family_name: Name
    given_names: Name
    specialty: Annotated[str, Field(max_length=80)] | None = None
    phone: Short | None = None
    email: Annotated[str, Field(max_length=254)] | None = None

    def to_domain(self) -> PhysicianData:
        return PhysicianData(**self.model_dump())


class PhysicianOut(BaseModel):
    id: uuid.UUID
    lab_id: uuid.UUID
    rpps: str
    family_name: str
    given_names: str
    specialty: str | None
    phone: str | None
    email: str | None

    @classmethod
    def of(cls, record: PhysicianRecord) -> PhysicianOut:
        return cls(id=record.id, lab_id=record.lab_id, **dataclasses.asdict(record.data))


class SearchByRppsIn(Strict):
    rpps: Annotated[str, Field(min_length=1, max_length=20)]
