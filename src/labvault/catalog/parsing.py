"""Typed readers for the catalogue JSON: each refusal names the exact field, so a bad edit is found."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

from labvault.errors import InvalidInput


def as_object(value: object, where: str, allowed: Collection[str]) -> Mapping[str, object]:
    """A JSON object whose keys are all known: a misspelt key would otherwise drop data silently."""
    if not isinstance(value, Mapping):
        raise InvalidInput(where, "must be an object")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise InvalidInput(where, f"unknown field {key!r}")
    return value


def req_str(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where}.{key}", "must be a non-empty string")
    return value


def opt_str(data: Mapping[str, object], key: str, where: str) -> str | None:
    value = data.get(key)
    return None if value is None else req_str(data, key, where)


def opt_int(data: Mapping[str, object], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}.{key}", "must be an integer")
    return value


def req_int(data: Mapping[str, object], key: str, where: str) -> int:
    value = opt_int(data, key, where)
    if value is None:
        raise InvalidInput(f"{where}.{key}", "is required")
    return value


def opt_num(data: Mapping[str, object], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}.{key}", "must be a number")
    return finite(value, f"{where}.{key}")


def finite(value: int | float, field: str) -> float:
    """A float that is a number (Python's json reads NaN, Infinity and integers of any size)."""
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput(field, "must be a finite number") from None
    if not math.isfinite(number):
        raise InvalidInput(field, "must be a finite number")
    return number


def req_bool(data: Mapping[str, object], key: str, where: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}.{key}", "must be true or false")
    return value


def str_list(data: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{where}.{key}", "must be a list of non-empty strings")
    return tuple(value)


def object_list(data: Mapping[str, object], key: str, where: str) -> list[object]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{where}.{key}", "must be a list")
    return value
