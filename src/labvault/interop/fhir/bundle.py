"""Search results as a ``searchset`` Bundle, paged: ``_count`` per page, a ``next`` link while
more remain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode


def page_url(base: str, resource_type: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{base}/{resource_type}" + (f"?{urlencode(params)}" if params else "")


def searchset(
    base: str,
    resources: Sequence[dict[str, Any]],
    *,
    total: int | None,
    self_url: str,
    next_url: str | None = None,
) -> dict[str, Any]:
    """``resources``: the page's resources, dumped (each with its ``resourceType`` and ``id``)."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if total is not None:  # unknown for a log read page by page
        bundle["total"] = total
    if resources:  # FHIR JSON has no empty arrays
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    return bundle
