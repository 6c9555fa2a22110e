"""TOTP second factor (RFC 6238) as every authenticator app speaks it: SHA-1, 6 digits, 30 s.

A code is accepted for the current time step or one step either side (clock drift), and only if
its step is later than the last one accepted for that account: a code seen over a shoulder, in a
proxy log or by a phishing page cannot be replayed, not even within its own 30 seconds.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re

import pyotp

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_CHARS = 32  # base32: 160 bits, the RFC 4226 recommendation
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    return pyotp.random_base32(SECRET_CHARS)


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app imports (usually shown as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )


def step_of(at: dt.datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def code_at(secret: str, at: dt.datetime) -> str:
    return code_at_step(secret, step_of(at))


def normalise_code(code: str) -> str:
    """Codes are often typed or pasted as ``123 456``."""
    return code.replace(" ", "").strip()


def matching_step(secret: str, code: str, at: dt.datetime) -> int | None:
    """The time step ``code`` belongs to within the drift window around ``at``, or None. Every
    candidate step is compared (constant time). Single use is the caller's part: a step at or
    before the last one accepted for the account is a replay."""
    code = normalise_code(code)
    if not _CODE.match(code):
        return None
    now = step_of(at)
    found: int | None = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at_step(secret, step), code):
            found = step
    return found
