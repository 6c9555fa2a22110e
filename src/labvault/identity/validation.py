"""Validation and normalisation of French identity and health-system identifiers.

Every function here is pure: it either returns the canonical form that labvault stores (and
blind-indexes), or raises :class:`~labvault.errors.InvalidInput` with a reason precise enough for
the user to fix the input. Reasons never echo the refused value, because the value is usually
personal data and error messages end up in logs.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Final

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import nir as stdnum_nir

from labvault.errors import InvalidInput

__all__ = [
    "INS_OIDS",
    "INS_OID_NIA",
    "INS_OID_NIR",
    "INS_OID_TEST_NIA",
    "INS_OID_TEST_NIR",
    "INS_STATUSES",
    "nir_consistency_issues",
    "normalize_name_for_index",
    "normalize_nir",
    "validate_email",
    "validate_finess",
    "validate_ins",
    "validate_ins_status",
    "validate_insee_commune",
    "validate_phone",
    "validate_rpps",
    "validate_sex",
]

# --------------------------------------------------------------------------- NIR

_NIR_SEPARATORS: Final = re.compile(r"[\s.\-]+")
_NIR_SHAPE: Final = re.compile(r"^\d{5}(?:\d{2}|2A|2B)\d{8}$")
# 1/2: person registered at birth (male/female). 3/4: historical codes for persons born abroad
# registered under special procedures. 7/8: temporary numbers (NIA, "numéro d'attente").
# 0, 5, 6 and 9 are never assigned, so a leading one of those is a typo, not a rare case.
_NIR_FIRST_DIGITS: Final = frozenset("123478")
_NIR_SEX_DIGITS: Final = {"1": "M", "2": "F"}


def normalize_nir(value: str, field: str = "nir") -> str:
    """Return the compact 15-character NIR (uppercase) or raise InvalidInput.

    Separators people actually type (spaces, dots, dashes) are dropped so that the same person
    always gets the same stored and blind-indexed form. Corsican births carry "2A"/"2B" as the
    department (positions 6-7); the key is computed by ``stdnum.fr.nir`` which substitutes 19/18.

    NIA / temporary numbers (first digit 7 or 8) are accepted: they have the NIR layout and key,
    and ``stdnum`` validates them like any NIR. The first digit is otherwise restricted to the
    values INSEE assigns (1, 2, 3, 4, 7, 8).
    """
    compact = _NIR_SEPARATORS.sub("", value).upper()
    if not compact:
        raise InvalidInput(field, "is empty")
    if not (compact.isascii() and compact.isalnum()):
        raise InvalidInput(
            field, "may only contain digits, the letters A/B of 2A/2B, spaces, dots and dashes"
        )
    if len(compact) != 15:
        raise InvalidInput(field, "must be 15 characters long (13 digits and a 2-digit control key)")
    if not _NIR_SHAPE.fullmatch(compact):
        raise InvalidInput(field, "letters are only allowed as 2A or 2B at positions 6-7 (Corsican births)")
    if compact[0] not in _NIR_FIRST_DIGITS:
        raise InvalidInput(field, "first digit must be 1, 2, 3, 4, 7 or 8")
    try:
        stdnum_nir.validate(compact)
    except InvalidChecksum:
        raise InvalidInput(field, "control key does not match") from None
    except ValidationError:
        # Unreachable given the checks above; kept so a stdnum change cannot leak its exception.
        raise InvalidInput(field, "is not a well-formed NIR") from None
    return compact


def nir_consistency_issues(nir: str, sex: str, birth_date: datetime.date) -> list[str]:
    """List the ways a NIR contradicts the declared sex and birth date (empty when consistent).

    Identity vigilance wants mismatches surfaced, not silently refused: a legitimate record may
    still need to be saved and reviewed. Digits that INSEE uses as placeholders are not compared:
    first digit 3, 4, 7 or 8 (no sex meaning), sex "U" (unknown), and months 20-42 or 50-99
    (unknown or fictitious birth month). Months 00, 13-19 and 43-49 are reported because they are
    neither a calendar month nor a placeholder.
    """
    compact = normalize_nir(nir)
    declared_sex = validate_sex(sex)
    issues: list[str] = []

    nir_sex = _NIR_SEX_DIGITS.get(compact[0])
    if nir_sex is not None and declared_sex != "U" and nir_sex != declared_sex:
        issues.append("NIR sex digit does not match sex")

    if compact[1:3] != f"{birth_date.year % 100:02d}":
        issues.append("NIR year of birth does not match birth date")

    month = int(compact[3:5])
    if 1 <= month <= 12:
        if month != birth_date.month:
            issues.append("NIR month of birth does not match birth date")
    elif not (20 <= month <= 42 or 50 <= month <= 99):
        issues.append("NIR month digits are neither a calendar month nor a placeholder value")
    return issues


# --------------------------------------------------------------------------- FINESS / RPPS


def _luhn_identifier(value: str, field: str, length: int, label: str) -> str:
    """Shared shape + Luhn check for fixed-length numeric identifiers."""
    compact = re.sub(r"\s+", "", value)
    if not compact:
        raise InvalidInput(field, "is empty")
    if not (compact.isascii() and compact.isdigit()):
        raise InvalidInput(field, f"{label} must contain only digits")
    if len(compact) != length:
        raise InvalidInput(field, f"{label} must be exactly {length} digits")
    try:
        luhn.validate(compact)
    except ValidationError:
        raise InvalidInput(field, "control key does not match (Luhn)") from None
    return compact


def validate_finess(value: str) -> str:
    """Return a 9-digit FINESS (establishment number) whose last digit is its Luhn key.

    Corsican establishments have FINESS numbers starting with "2A"/"2B". No authoritative source
    for how their key is computed could be confirmed (third-party code disagrees: some map the
    letters to "20", some to "21"/"22"), so they are refused with their own reason rather than
    accepted on a guess; only all-digit FINESS numbers are validated.
    """
    compact = re.sub(r"\s+", "", value).upper()
    if compact.startswith(("2A", "2B")):
        raise InvalidInput("finess", "Corsican 2A/2B FINESS numbers are not supported yet")
    return _luhn_identifier(compact, "finess", 9, "FINESS")


def validate_rpps(value: str) -> str:
    """Return an 11-digit RPPS (health professional number); its last digit is a Luhn key."""
    return _luhn_identifier(value, "rpps", 11, "RPPS")


# --------------------------------------------------------------------------- places

_INSEE_COMMUNE: Final = re.compile(r"^(?:\d{2}|2A|2B)\d{3}$")


def validate_insee_commune(value: str) -> str:
    """Return a 5-character INSEE commune code (COG), uppercase.

    The general shape covers metropolitan ("75056"), Corsican ("2A004") and overseas codes whose
    department has three digits ("97411"), as well as "99xxx" country codes for births abroad.
    """
    compact = value.strip().upper()
    if not compact:
        raise InvalidInput("insee_commune", "is empty")
    if len(compact) != 5:
        raise InvalidInput("insee_commune", "must be 5 characters long")
    if not _INSEE_COMMUNE.fullmatch(compact):
        raise InvalidInput("insee_commune", "must be 5 digits, or 2A/2B followed by 3 digits")
    return compact


# --------------------------------------------------------------------------- INS

INS_OID_NIR: Final = "1.2.250.1.213.1.4.8"
INS_OID_NIA: Final = "1.2.250.1.213.1.4.9"
INS_OID_TEST_NIR: Final = "1.2.250.1.213.1.4.10"
INS_OID_TEST_NIA: Final = "1.2.250.1.213.1.4.11"
INS_OIDS: Final = frozenset({INS_OID_NIR, INS_OID_NIA, INS_OID_TEST_NIR, INS_OID_TEST_NIA})

# Identity vigilance statuses (RNIV): provisional, retrieved (from INSi), validated (ID
# document checked), qualified (both). Stored without accents so comparisons are exact.
INS_STATUSES: Final = ("provisoire", "recuperee", "validee", "qualifiee")


def validate_ins(value: str, oid: str) -> str:
    """Return the compact INS value after checking its OID names a known INS kind.

    The INS value is the patient's NIR or NIA, so it gets the NIR checks; the OID is what tells a
    NIR from a NIA (and production from test identities), so an unknown one is refused.
    """
    if oid.strip() not in INS_OIDS:
        raise InvalidInput("ins_oid", "is not a known INS OID (NIR, NIA or their test variants)")
    return normalize_nir(value, field="ins")


def validate_ins_status(value: str) -> str:
    """Return the canonical INS status; accents and case are ignored ("Qualifiée" → "qualifiee")."""
    canonical = _strip_accents(value.strip()).lower()
    if canonical not in INS_STATUSES:
        raise InvalidInput("ins_status", "must be one of: " + ", ".join(INS_STATUSES))
    return canonical


# --------------------------------------------------------------------------- names / sex

# Characters that separate name parts: apostrophes and hyphens of every Unicode flavour people
# paste in, plus any whitespace. All collapse to one space so "d'Anjou", "d’Anjou" and "d Anjou"
# share a blind index.
_NAME_SEPARATORS: Final = re.compile(r"['\u2018\u2019\u02bc\u0060\u00b4\-\u2010\u2011\u2012\u2013\u2014\s]+")
# Ligatures NFKD leaves intact but that French civil status spells out.
_LIGATURES: Final = str.maketrans({"Œ": "OE", "œ": "OE", "Æ": "AE", "æ": "AE"})


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_name_for_index(name: str) -> str:
    """Return the canonical name used for blind-index lookups ("  Lefèvre-d'Anjou " → "LEFEVRE D ANJOU").

    The blind index only matches byte-identical input, so every spelling variation a clerk may
    type (accents, case, apostrophe/hyphen style, extra spaces) must map to one form.
    """
    text = _strip_accents(name.translate(_LIGATURES)).upper()
    text = _NAME_SEPARATORS.sub(" ", text).strip()
    if not text:
        raise InvalidInput("name", "empty")
    return text


def validate_sex(value: str) -> str:
    """Return "M", "F" or "U" (unknown), accepting any case."""
    canonical = value.strip().upper()
    if canonical not in ("M", "F", "U"):
        raise InvalidInput("sex", "must be M, F or U (unknown)")
    return canonical


# --------------------------------------------------------------------------- contact

_PHONE_ALLOWED: Final = re.compile(r"^\+?[\d .]+$")


def validate_phone(value: str) -> str:
    """Return the phone number with spaces and dots removed (a leading "+" is kept).

    Only the structure is checked (French or international, 6-20 digits) because labvault cannot
    know every numbering plan; the compact form makes stored numbers comparable.
    """
    stripped = value.strip()
    if not stripped:
        raise InvalidInput("phone", "is empty")
    if not _PHONE_ALLOWED.fullmatch(stripped):
        raise InvalidInput("phone", "may only contain digits, spaces, dots and a leading +")
    compact = re.sub(r"[ .]", "", stripped)
    digits = compact.removeprefix("+")
    if not 6 <= len(digits) <= 20:
        raise InvalidInput("phone", "must contain between 6 and 20 digits")
    return compact


_EMAIL_LOCAL: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def validate_email(value: str) -> str:
    """Return the address with its domain lowercased, after a structural (offline) check.

    The local part keeps its case (it may be case-sensitive); the domain is case-insensitive, so
    lowercasing it makes equal addresses compare equal. Internationalised domains must be given
    in their ASCII ("xn--") form.
    """
    stripped = value.strip()
    if not stripped:
        raise InvalidInput("email", "is empty")
    if len(stripped) > 254:
        raise InvalidInput("email", "must be at most 254 characters long")
    if stripped.count("@") != 1:
        raise InvalidInput("email", "must contain exactly one @")
    local, domain = stripped.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise InvalidInput("email", "the part before @ is not a valid mailbox name")
    domain = domain.lower()
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput("email", "the part after @ is not a valid domain name")
    if labels[-1].isdigit():
        raise InvalidInput("email", "the part after @ is not a valid domain name")
    return f"{local}@{domain}"
