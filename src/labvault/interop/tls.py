"""TLS for the interface channels: the contexts and the certificate fingerprint.

Inbound, a listener with TLS requires a client certificate signed by the CA it is given
(``CERT_REQUIRED``), TLS 1.2 at least, and identifies the interface account by the SHA-256 of that
certificate (the fingerprint pinned on the account, interop/certificates.py): the CA says who may
connect at all, the pin says who is connecting. Outbound, labvault verifies the receiver's
certificate against the receiver's CA, host name included, and may present its own.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from labvault.errors import InvalidInput

MINIMUM = ssl.TLSVersion.TLSv1_2
FINGERPRINT_LENGTH = 64


def fingerprint(der: bytes) -> str:
    """The SHA-256 of a certificate's DER bytes, as 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


def fingerprint_of_pem(pem: bytes) -> str:
    """The fingerprint of the first certificate of a PEM file (what ``interface pin`` reads)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise InvalidInput("cert", "not a PEM certificate") from None
    return fingerprint(certificate.public_bytes(Encoding.DER))


def clean_fingerprint(value: str) -> str:
    """A fingerprint as written by tools (``AB:CD:...`` or plain hex) in the stored form."""
    cleaned = value.replace(":", "").strip().lower()
    if len(cleaned) != FINGERPRINT_LENGTH or any(c not in "0123456789abcdef" for c in cleaned):
        raise InvalidInput("fingerprint", "a SHA-256 fingerprint is 64 hex digits")
    return cleaned


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The fingerprint of the certificate the peer presented, if any."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return fingerprint(der) if der else None


def server_context(cert: Path, key: Path, client_ca: Path) -> ssl.SSLContext:
    """A listener's context: its certificate, and client certificates required, signed by ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile=client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True)
class ClientTls:
    """How labvault reaches a receiver over TLS: the CA certificates (PEM text) that sign the
    receiver's certificate, the name its certificate must carry (else the host), and labvault's own
    certificate and key files when the receiver asks for one."""

    ca_pem: str
    server_name: str | None = None
    cert_path: str | None = None
    key_path: str | None = None


def client_context(tls: ClientTls) -> ssl.SSLContext:
    """Verify the receiver (its chain to ``ca_pem`` and its host name), TLS 1.2 at least."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    context.minimum_version = MINIMUM
    context.load_verify_locations(cadata=tls.ca_pem)
    if tls.cert_path:
        context.load_cert_chain(tls.cert_path, tls.key_path or None)
    return context


def check_ca_pem(pem: str) -> str:
    """The CA certificates given for a receiver, refused unless they read as PEM certificates."""
    try:
        found = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise InvalidInput("tls_ca", "not a PEM certificate") from None
    if not found:
        raise InvalidInput("tls_ca", "not a PEM certificate")
    return pem
