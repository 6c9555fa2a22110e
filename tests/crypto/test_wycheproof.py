"""Project Wycheproof vectors run through labvault's OWN wrappers (not the library underneath).

Data: ``../shared/testdata/wycheproof/`` relative to the project root (see SOURCES.md there). If it is
missing the tests skip locally and fail under ``CI=true``.

Policy for Wycheproof's three results:

* ``valid``: the wrapper must produce exactly the expected output and accept it.
* ``invalid``: the wrapper must refuse (IntegrityError for AEAD decryption, ``False`` from the MAC
  check, an exception from HKDF) and a computed value must never equal the bogus expected one.
* ``acceptable``: decided per flags (see ``_expectation``). Flags that only describe parameters an
  implementation may legitimately refuse (weak or unusual IV sizes, counter wrap) allow either
  behaviour, provided the wrapper is never *wrong*: it either gives the expected result or refuses.
  Any other flag on an acceptable vector is held to the ``valid`` standard, since the parameters we
  select (AES-256, 96-bit IV, 128-bit tag; full or >= 10-byte HMAC tags) leave nothing to refuse.
  The vector files shipped today contain no acceptable vector; the selection tests count them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labvault.crypto.aead import KEY_BYTES, NONCE_BYTES, TAG_BYTES, Aead
from labvault.crypto.errors import IntegrityError
from labvault.crypto.kdf import hkdf_sha256, hmac_sha256, hmac_sha256_verify

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
WYCHEPROOF = TESTDATA / "wycheproof"
IN_CI = os.environ.get("CI", "").lower() == "true"

AES_GCM_FILE = "aes_gcm_test.json"
HMAC_FILE = "hmac_sha256_test.json"
HKDF_FILE = "hkdf_sha256_test.json"

# The only AES-GCM parameters the Aead wrapper implements.
GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS = KEY_BYTES * 8, NONCE_BYTES * 8, TAG_BYTES * 8
MIN_VERIFY_TAG_BYTES = 10  # hmac_sha256_verify refuses shorter tags (documented in kdf.py)
HKDF_MAX_BYTES = 255 * 32

# Flags on an "acceptable" vector that allow the wrapper to refuse it (see module docstring).
REFUSABLE_FLAGS = frozenset({"SmallIv", "LongIv", "ZeroLengthIv", "CounterWrap"})


def _expectation(result: str, flags: list[str]) -> str:
    """'valid', 'invalid' or 'either' (acceptable vectors with only refusable parameters)."""
    if result in ("valid", "invalid"):
        return result
    assert result == "acceptable", f"unknown Wycheproof result {result!r}"
    return "either" if flags and set(flags) <= REFUSABLE_FLAGS else "valid"


@dataclass
class Selection:
    """The vectors of one file that run here, and what was left out (and why)."""

    present: bool
    algorithm: str = ""
    declared_tests: int = 0
    total_groups: int = 0
    total_vectors: int = 0
    cases: list[dict[str, Any]] = field(default_factory=list)
    skipped_groups: list[dict[str, Any]] = field(default_factory=list)
    acceptable: int = 0

    @property
    def ran(self) -> int:
        return len(self.cases)

    @property
    def skipped_vectors(self) -> int:
        return sum(len(group["tests"]) for group in self.skipped_groups)

    def params(self) -> list[Any]:
        if not self.present:
            return [pytest.param(None, id="vectors-missing")]
        return [pytest.param(case, id=f"tc{case['tcId']}-{case['result']}") for case in self.cases]


def _select(name: str, keep_group: Any = lambda group: True) -> Selection:
    path = WYCHEPROOF / name
    if not path.is_file():
        return Selection(present=False)
    data = json.loads(path.read_text(encoding="utf-8"))
    selection = Selection(
        present=True,
        algorithm=data["algorithm"],
        declared_tests=data["numberOfTests"],
        total_groups=len(data["testGroups"]),
    )
    for group in data["testGroups"]:
        selection.total_vectors += len(group["tests"])
        if not keep_group(group):
            selection.skipped_groups.append(group)
            continue
        for test in group["tests"]:
            selection.acceptable += test["result"] == "acceptable"
            selection.cases.append({**test, "group": {k: v for k, v in group.items() if k != "tests"}})
    return selection


def _require(selection: Selection) -> None:
    if selection.present:
        return
    message = f"Wycheproof vectors not found in {WYCHEPROOF} (expected ../shared/testdata/wycheproof/)"
    if IN_CI:
        pytest.fail(message + " and CI=true: the vectors are required")
    pytest.skip(message)


def _is_wrapper_gcm_group(group: dict[str, Any]) -> bool:
    return (group["keySize"], group["ivSize"], group["tagSize"]) == (GCM_KEY_BITS, GCM_IV_BITS, GCM_TAG_BITS)


AES_GCM = _select(AES_GCM_FILE, _is_wrapper_gcm_group)
HMAC = _select(HMAC_FILE)
HKDF = _select(HKDF_FILE)


def _hex(case: dict[str, Any], key: str) -> bytes:
    return bytes.fromhex(case[key])


# --- vector selection (counts are part of the contract: a silently empty run must fail) -----------


def test_aes_gcm_selection() -> None:
    _require(AES_GCM)
    assert AES_GCM.algorithm == "AES-GCM"
    assert AES_GCM.total_vectors == AES_GCM.declared_tests, "vector file looks truncated"
    assert AES_GCM.ran > 0, "no AES-256-GCM / 96-bit IV / 128-bit tag vector selected"
    assert all(_is_wrapper_gcm_group(case["group"]) for case in AES_GCM.cases)
    assert 0 < AES_GCM.total_groups - len(AES_GCM.skipped_groups) < AES_GCM.total_groups
    assert AES_GCM.ran + AES_GCM.skipped_vectors == AES_GCM.total_vectors
    kinds = {case["result"] for case in AES_GCM.cases}
    assert {"valid", "invalid"} <= kinds, "need both valid and invalid vectors to mean anything"


def test_aes_gcm_skipped_groups_are_refused_by_the_wrapper() -> None:
    """Skipped groups are not silently supported: the wrapper refuses their key or IV size."""
    _require(AES_GCM)
    for group in AES_GCM.skipped_groups:
        assert group["tagSize"] == GCM_TAG_BITS  # only key and IV sizes vary in this file
        for test in group["tests"]:
            key, iv = _hex(test, "key"), _hex(test, "iv")
            if len(key) != KEY_BYTES:
                with pytest.raises(ValueError):
                    Aead(key)
            else:
                with pytest.raises(ValueError):
                    Aead(key).encrypt(_hex(test, "msg"), _hex(test, "aad"), nonce=iv)


def test_hmac_selection() -> None:
    _require(HMAC)
    assert HMAC.algorithm == "HMACSHA256"
    assert HMAC.total_vectors == HMAC.declared_tests, "vector file looks truncated"
    assert HMAC.ran > 0 and not HMAC.skipped_groups
    assert {case["result"] for case in HMAC.cases} >= {"valid", "invalid"}


def test_hkdf_selection() -> None:
    _require(HKDF)
    assert HKDF.algorithm == "HKDF-SHA-256"
    assert HKDF.total_vectors == HKDF.declared_tests, "vector file looks truncated"
    assert HKDF.ran > 0 and not HKDF.skipped_groups
    assert {case["result"] for case in HKDF.cases} >= {"valid", "invalid"}


# --- AES-256-GCM through labvault.crypto.aead.Aead ----------------------------------------------------


@pytest.mark.parametrize("case", AES_GCM.params())
def test_aes_gcm(case: dict[str, Any] | None) -> None:
    _require(AES_GCM)
    assert case is not None
    key, iv, aad, msg = (_hex(case, k) for k in ("key", "iv", "aad", "msg"))
    expected_blob = iv + _hex(case, "ct") + _hex(case, "tag")
    aead = Aead(key)
    expectation = _expectation(case["result"], case["flags"])

    if expectation == "valid":
        assert aead.encrypt(msg, aad, nonce=iv) == expected_blob
        assert aead.decrypt(expected_blob, aad) == msg
    elif expectation == "invalid":
        # Our encryption of the same inputs is correct, hence never the tampered blob...
        assert aead.encrypt(msg, aad, nonce=iv) != expected_blob
        # ...and the tampered blob is refused with the project's error, not the library's.
        with pytest.raises(IntegrityError):
            aead.decrypt(expected_blob, aad)
    else:
        try:
            opened = aead.decrypt(expected_blob, aad)
        except IntegrityError:
            return
        assert opened == msg
        assert aead.encrypt(msg, aad, nonce=iv) == expected_blob


# --- HMAC-SHA256 through labvault.crypto.kdf ----------------------------------------------------------


@pytest.mark.parametrize("case", HMAC.params())
def test_hmac_sha256(case: dict[str, Any] | None) -> None:
    _require(HMAC)
    assert case is not None
    key, msg, tag = _hex(case, "key"), _hex(case, "msg"), _hex(case, "tag")
    tag_bytes = case["group"]["tagSize"] // 8
    full = hmac_sha256(key, msg)
    assert len(full) == 32
    computed = full[:tag_bytes]  # truncated-tag groups compare the leftmost bytes (RFC 2104 §5)
    verified = hmac_sha256_verify(key, msg, tag)
    expectation = _expectation(case["result"], case["flags"])

    if expectation == "valid":
        assert computed == tag
        # The verifier refuses tags shorter than 10 bytes even when they are right: by design.
        assert verified is (len(tag) >= MIN_VERIFY_TAG_BYTES)
    elif expectation == "invalid":
        assert computed != tag
        assert verified is False
    else:
        assert not verified or computed == tag


def test_hmac_verify_refuses_short_tags_even_when_correct() -> None:
    """The <10-byte refusal, exercised on real vectors (the file has no group that short)."""
    _require(HMAC)
    valid = [case for case in HMAC.cases if case["result"] == "valid"]
    assert valid
    for case in valid[:5]:
        key, msg, tag = _hex(case, "key"), _hex(case, "msg"), _hex(case, "tag")
        assert hmac_sha256_verify(key, msg, tag[:MIN_VERIFY_TAG_BYTES])
        assert not hmac_sha256_verify(key, msg, tag[: MIN_VERIFY_TAG_BYTES - 1])
        assert not hmac_sha256_verify(key, msg, b"")


# --- HKDF-SHA256 through labvault.crypto.kdf ----------------------------------------------------------


@pytest.mark.parametrize("case", HKDF.params())
def test_hkdf_sha256(case: dict[str, Any] | None) -> None:
    _require(HKDF)
    assert case is not None
    ikm, salt, info, okm = (_hex(case, k) for k in ("ikm", "salt", "info", "okm"))
    size = case["size"]
    expectation = _expectation(case["result"], case["flags"])

    if expectation == "valid":
        assert hkdf_sha256(ikm, info, size, salt) == okm
    elif expectation == "invalid":
        assert size > HKDF_MAX_BYTES, "only oversize requests are invalid in this file"
        with pytest.raises(ValueError):
            hkdf_sha256(ikm, info, size, salt)
    else:
        try:
            derived = hkdf_sha256(ikm, info, size, salt)
        except ValueError:
            return
        assert derived == okm
