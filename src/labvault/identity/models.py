"""Laboratories, staff accounts, API tokens, patients and physicians.

Every identifying field of a patient or physician is an encrypted column (``*_enc``) bound to its
lab, table, column and row; lookups go through blind indexes (``*_bidx``) keyed per laboratory.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from labvault.store.base import Base, TenantScoped, encrypted, utcnow


class Lab(Base):
    """A laboratory: the tenant. Its name and FINESS are public registry data, kept clear."""

    __tablename__ = "labs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    finess: Mapped[str] = mapped_column(String(9), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[dt.datetime | None] = mapped_column(default=None)


# A prescriber account is a physician's, and only a prescriber account names one (0010).
PRESCRIBER_HAS_PHYSICIAN = (
    "(role = 'prescriber' AND physician_id IS NOT NULL) OR (role <> 'prescriber' AND physician_id IS NULL)"
)


class User(Base):
    """An individual account (never shared): lab staff, a lab's prescriber (one physician of that
    lab, ``physician_id``), or a platform operator (no lab)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(PRESCRIBER_HAS_PHYSICIAN, name="prescriber_physician"),
        # One active account per physician: a second one would be a shared identity by another name.
        Index(
            "uq_users_active_physician",
            "physician_id",
            unique=True,
            sqlite_where=text("active AND physician_id IS NOT NULL"),
            postgresql_where=text("active AND physician_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    lab_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("labs.id"), index=True)
    # The physician (of the same lab: AccountService checks it) a prescriber account acts for.
    physician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("physicians.id"), index=True, default=None
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    full_name_enc: Mapped[bytes | None] = encrypted()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set by anyone but the owner (an administrator creating the account): it works once, only for
    # its owner to replace it (AccountService.set_own_password), never to sign in or enrol a factor.
    password_temporary: Mapped[bool] = mapped_column(Boolean, default=True, server_default=false())
    # TOTP: the secret sealed under a platform key bound to this row (crypto/totp_secrets.py); set
    # at enrolment, active once confirmed (mfa_enabled_at). totp_last_step makes codes single-use.
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(), default=None)
    mfa_enabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    # Consecutive refused attempts, reset by a success or by a lockout (which sets locked_until).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    # An interface account's TLS client certificate, pinned by its SHA-256 (interop/certificates.py):
    # a TLS listener knows the account by it. A hash of a public certificate, not a secret.
    client_cert_sha256: Mapped[str | None] = mapped_column(String(64), index=True, unique=True, default=None)


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored; it expires and can be revoked.

    ``session`` tokens come from a login (both factors) and also expire after a period without
    use; ``script`` tokens (``POST /tokens``, ``labvault token create``) only at their expiry."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(16), default="script", server_default="script")
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # to the minute
    reauthenticated_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # both factors again


class Patient(TenantScoped, Base):
    """A patient of one laboratory; registering the same person in two labs makes two records."""

    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_nir_bidx", "lab_id", "nir_bidx"),
        Index("ix_patients_ins_bidx", "lab_id", "ins_bidx"),
        Index("ix_patients_name_birth_bidx", "lab_id", "name_birth_bidx"),
        Index("ix_patients_used_name_birth_bidx", "lab_id", "used_name_birth_bidx"),
    )

    birth_name_enc: Mapped[bytes | None] = encrypted()
    used_name_enc: Mapped[bytes | None] = encrypted()
    first_names_enc: Mapped[bytes | None] = encrypted()
    sex_enc: Mapped[bytes | None] = encrypted()
    birth_date_enc: Mapped[bytes | None] = encrypted()
    birthplace_insee_enc: Mapped[bytes | None] = encrypted()
    nir_enc: Mapped[bytes | None] = encrypted()
    ins_enc: Mapped[bytes | None] = encrypted()
    address_enc: Mapped[bytes | None] = encrypted()
    phone_enc: Mapped[bytes | None] = encrypted()
    email_enc: Mapped[bytes | None] = encrypted()
    note_enc: Mapped[bytes | None] = encrypted()
    ins_oid: Mapped[str | None] = mapped_column(String(32))
    ins_status: Mapped[str | None] = mapped_column(String(16))
    nir_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    ins_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    name_birth_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    used_name_birth_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # An identity an interface sent with an order and no known patient matched: reception confirms
    # it (or merges it into an existing patient) before it counts as checked (workflow/pending_identities.py).
    identity_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Physician(TenantScoped, Base):
    """A prescriber known to one laboratory, identified by RPPS."""

    __tablename__ = "physicians"
    __table_args__ = (Index("ix_physicians_rpps_bidx", "lab_id", "rpps_bidx"),)

    rpps_enc: Mapped[bytes | None] = encrypted()
    family_name_enc: Mapped[bytes | None] = encrypted()
    given_names_enc: Mapped[bytes | None] = encrypted()
    phone_enc: Mapped[bytes | None] = encrypted()
    email_enc: Mapped[bytes | None] = encrypted()
    specialty: Mapped[str | None] = mapped_column(String(80))
    rpps_bidx: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
