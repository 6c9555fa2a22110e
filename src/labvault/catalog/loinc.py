"""LOINC code syntax: a typo in a code would silently send results under another analyte."""

from __future__ import annotations

import re

LOINC_FORMAT = re.compile(r"^[1-9][0-9]{0,6}-[0-9]$")


def loinc_check_digit(body: str) -> int:
    """The LOINC mod-10 check digit (Luhn) of the part before the hyphen."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # rightmost digit and every other one are doubled
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def loinc_check_digit_ok(code: str) -> bool:
    """True if ``code`` has the LOINC shape (e.g. ``2345-7``) and a correct check digit."""
    if not LOINC_FORMAT.match(code):
        return False
    body, check = code.split("-")
    return loinc_check_digit(body) == int(check)
