"""Fresh, mutable copies of the packaged catalogue, so each loader test breaks exactly one thing."""

from __future__ import annotations

from typing import Any

from labvault.catalog import default_catalog, dump_catalog


def packaged_data() -> dict[str, Any]:
    return dump_catalog(default_catalog())


def entry_for(data: dict[str, Any], code: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(t for t in data["tests"] if t["code"] == code)
    return entry


def panel_for(data: dict[str, Any], code: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in data["panels"] if p["code"] == code)
    return entry
