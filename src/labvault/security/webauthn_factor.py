"""WebAuthn (FIDO2) as a second factor: the two ceremonies, around the ``webauthn`` library.

The server keeps, per credential, only the public key and the signature counter; a challenge is
random, single-use and short-lived (the caller stores it). A counter that does not grow betrays a
cloned authenticator and the assertion is refused.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import webauthn
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from labvault.errors import InvalidInput, Unauthenticated

CEREMONY_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class RelyingParty:
    """Who the credentials are bound to: the site's domain and the exact origin browsers report."""

    rp_id: str
    name: str
    origin: str


@dataclass(frozen=True)
class Challenge:
    """Options for the browser (JSON) and the challenge bytes the server must remember."""

    options_json: str
    challenge: bytes


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def _parse(credential: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(credential, str):
        try:
            parsed = json.loads(credential)
        except ValueError:
            raise InvalidInput("credential", "is not JSON") from None
        credential = parsed
    if not isinstance(credential, dict):
        raise InvalidInput("credential", "must be a JSON object")
    return credential


def registration_challenge(
    rp: RelyingParty, user_id: uuid.UUID, username: str, existing: list[bytes]
) -> Challenge:
    """Options to register a new authenticator; already registered ones are excluded."""
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=username,
        user_id=user_id.bytes,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            # Discoverable: sign-in then names no key ids, so asking for a challenge reveals
            # neither accounts nor their keys.
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in existing],
    )
    return Challenge(webauthn.options_to_json(options), options.challenge)


def verify_registration(
    rp: RelyingParty, credential: str | dict[str, Any], challenge: bytes
) -> NewCredential:
    """The new credential, if the browser's answer is bound to our challenge, origin and RP."""
    try:
        verified = webauthn.verify_registration_response(
            credential=_parse(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, KeyError, ValueError, TypeError) as exc:
        raise InvalidInput("credential", f"registration refused: {exc}") from None
    return NewCredential(verified.credential_id, verified.credential_public_key, verified.sign_count)


def authentication_challenge(rp: RelyingParty, credential_ids: list[bytes]) -> Challenge:
    """Options for an assertion by one of ``credential_ids`` (none: any discoverable key)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in credential_ids],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Challenge(webauthn.options_to_json(options), options.challenge)


def assertion_credential_id(credential: str | dict[str, Any]) -> bytes:
    """The credential an assertion claims to come from (to find its public key)."""
    raw = _parse(credential).get("rawId") or _parse(credential).get("id")
    if not isinstance(raw, str) or len(raw) > 1400:
        raise InvalidInput("credential", "rawId is missing")
    try:
        return webauthn.base64url_to_bytes(raw)
    except ValueError:
        raise InvalidInput("credential", "rawId is not base64url") from None


def verify_assertion(
    rp: RelyingParty,
    credential: str | dict[str, Any],
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """The authenticator's new signature counter, if the assertion is valid; Unauthenticated if not."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=_parse(credential),
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except (WebAuthnException, KeyError, ValueError, TypeError):
        raise Unauthenticated("security key assertion refused") from None
    return verified.new_sign_count
