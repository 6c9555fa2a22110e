"""Interface accounts known by their TLS client certificate.

A lab admin pins one certificate per interface account (its SHA-256, interop/tls.py): a TLS
listener then knows which account a connection acts as from the certificate alone, so one listener
serves several interfaces, of several labs. The pin is read again for every message (unpinning or
disabling takes effect at the next one). A certificate signed by the listener's CA but pinned on no
account of the labs the listener serves is refused, with a HIGH alert to each of those labs, as an
unknown sender would be. Pin and unpin are audited on the lab's chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from labvault.errors import InvalidInput, NotFound
from labvault.identity.accounts import Account, account_of
from labvault.identity.interface_accounts import interface_of_lab
from labvault.identity.models import User
from labvault.interop.intake import SENDER_REFUSED
from labvault.interop.tls import clean_fingerprint, fingerprint_of_pem
from labvault.security import audit
from labvault.security.access import AccessContext, Purpose, Role
from labvault.security.alerts import AlertSpec, Severity, raise_alert
from labvault.security.audit import AuditRecord
from labvault.security.gate import Gate
from labvault.security.permissions import Permission
from labvault.store.database import Database

UNKNOWN_LABEL = "unknown-certificate"


class InterfaceCertificates:
    def __init__(self, db: Database) -> None:
        self.gate = Gate(db)

    # --- pinning, by the lab admin ------------------------------------------------------------

    def pin(self, ctx: AccessContext, interface: str, pem: bytes) -> str:
        """Pin the certificate ``pem`` on the interface account (replacing any); its fingerprint."""
        fingerprint = fingerprint_of_pem(pem)
        with self.gate.lab_rows(ctx, Permission.INTERFACES_MANAGE) as lab:
            user = interface_of_lab(lab.session, lab.lab_id, interface)
            user.client_cert_sha256 = fingerprint
            try:
                lab.session.flush()
            except IntegrityError:  # unique: one certificate, one account
                raise InvalidInput("cert", "this certificate is already pinned on another account") from None
            detail = {"fingerprint": fingerprint}
            audit.append(lab.session, ctx, AuditRecord("interface.cert_pin", "user", str(user.id), detail))
        return fingerprint

    def unpin(self, ctx: AccessContext, interface: str) -> None:
        with self.gate.lab_rows(ctx, Permission.INTERFACES_MANAGE) as lab:
            user = interface_of_lab(lab.session, lab.lab_id, interface)
            if user.client_cert_sha256 is None:
                raise NotFound(f"no certificate pinned on {interface!r}")
            detail = {"fingerprint": user.client_cert_sha256}
            user.client_cert_sha256 = None
            audit.append(lab.session, ctx, AuditRecord("interface.cert_unpin", "user", str(user.id), detail))

    # --- the listener's side ------------------------------------------------------------------

    def account_of(self, fingerprint: str, labs: Iterable[uuid.UUID]) -> Account | None:
        """The interface account, active or not, whose pinned certificate has ``fingerprint``, if
        it belongs to one of ``labs`` (those the listener serves)."""
        try:
            fingerprint = clean_fingerprint(fingerprint)
        except InvalidInput:
            return None
        with self.gate.lookup() as session:
            user = session.scalar(select(User).where(User.client_cert_sha256 == fingerprint))
            if user is None or user.role != Role.INTERFACE.value or user.lab_id not in set(labs):
                return None
            return account_of(user)

    def alert_unknown(self, labs: Iterable[uuid.UUID], fingerprint: str, channel: str, origin: str) -> None:
        """A HIGH alert to each lab the listener serves: a certificate of its CA is pinned nowhere
        (a stolen or forgotten one, or an account unpinned)."""
        why = f"unknown client certificate {fingerprint[:16]}"
        for lab_id in labs:
            ctx = AccessContext(None, UNKNOWN_LABEL, Role.INTERFACE, lab_id, Purpose.CARE, origin[:64])
            with self.gate.own_chain(ctx) as session:
                raise_alert(
                    session, ctx, AlertSpec(SENDER_REFUSED, Severity.HIGH, {"channel": channel, "why": why})
                )
