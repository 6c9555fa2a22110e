"""The WebAuthn ceremonies against a software authenticator: what must be accepted and refused."""

from __future__ import annotations

import uuid

import pytest

from labvault.errors import InvalidInput, Unauthenticated
from labvault.security.webauthn_factor import (
    RelyingParty,
    assertion_credential_id,
    authentication_challenge,
    registration_challenge,
    verify_assertion,
    verify_registration,
)
from tests.soft_authenticator import SoftAuthenticator

RP = RelyingParty("lab.example.test", "labvault", "https://lab.example.test")


def registered() -> tuple[SoftAuthenticator, bytes, int]:
    key = SoftAuthenticator(RP.origin)
    challenge = registration_challenge(RP, uuid.uuid4(), "amelie.roux", [])
    credential = verify_registration(RP, key.create(challenge.options_json), challenge.challenge)
    assert credential.credential_id == key.credential_id
    return key, credential.public_key, credential.sign_count


def test_register_then_authenticate() -> None:
    key, public_key, count = registered()
    challenge = authentication_challenge(RP, [key.credential_id])
    answer = key.get(challenge.options_json)
    assert assertion_credential_id(answer) == key.credential_id
    assert verify_assertion(RP, answer, challenge.challenge, public_key, count) == 1


def test_registration_bound_to_challenge_and_origin() -> None:
    key = SoftAuthenticator(RP.origin)
    challenge = registration_challenge(RP, uuid.uuid4(), "amelie.roux", [])
    other = registration_challenge(RP, uuid.uuid4(), "amelie.roux", [])
    with pytest.raises(InvalidInput, match="registration refused"):
        verify_registration(RP, key.create(challenge.options_json), other.challenge)
    with pytest.raises(InvalidInput, match="registration refused"):
        verify_registration(
            RP, key.create(challenge.options_json, origin="https://phishing.example"), challenge.challenge
        )


def test_assertion_refused_for_other_challenge_origin_key_or_replay() -> None:
    key, public_key, count = registered()
    challenge = authentication_challenge(RP, [key.credential_id])
    other = authentication_challenge(RP, [key.credential_id])
    with pytest.raises(Unauthenticated):
        verify_assertion(RP, key.get(challenge.options_json), other.challenge, public_key, count)
    with pytest.raises(Unauthenticated):
        verify_assertion(
            RP, key.get(challenge.options_json, origin="https://phishing.example"), challenge.challenge,
            public_key, count,
        )  # fmt: skip
    stranger = SoftAuthenticator(RP.origin, credential_id=key.credential_id)  # same id, other private key
    with pytest.raises(Unauthenticated):
        verify_assertion(RP, stranger.get(challenge.options_json), challenge.challenge, public_key, count)
    answer = key.get(challenge.options_json)
    new_count = verify_assertion(RP, answer, challenge.challenge, public_key, count)
    # The same signed answer again (a replay) carries a counter that did not grow.
    with pytest.raises(Unauthenticated):
        verify_assertion(RP, answer, challenge.challenge, public_key, new_count)


def test_cloned_authenticator_detected_by_counter() -> None:
    key, public_key, _count = registered()
    challenge = authentication_challenge(RP, [key.credential_id])
    latest = verify_assertion(
        RP, key.get(challenge.options_json, count_step=10), challenge.challenge, public_key, 0
    )
    clone = SoftAuthenticator(RP.origin, credential_id=key.credential_id, key=key.key, sign_count=3)
    with pytest.raises(Unauthenticated):
        verify_assertion(RP, clone.get(challenge.options_json), challenge.challenge, public_key, latest)


def test_malformed_credentials_are_clear_errors() -> None:
    challenge = registration_challenge(RP, uuid.uuid4(), "amelie.roux", [])
    with pytest.raises(InvalidInput):
        verify_registration(RP, "not json", challenge.challenge)
    with pytest.raises(InvalidInput):
        verify_registration(RP, {"id": "x"}, challenge.challenge)
    with pytest.raises(InvalidInput):
        assertion_credential_id({"type": "public-key"})
    with pytest.raises(Unauthenticated):
        verify_assertion(RP, {"id": "AA", "rawId": "AA", "response": {}}, challenge.challenge, b"", 0)
