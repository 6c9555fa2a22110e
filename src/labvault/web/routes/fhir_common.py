"""What every FHIR route shares: the ``application/fhir+json`` answer, the search parameters of a
GET query or a POSTed form (``[type]/_search``), the server's base URL, and paging a searchset."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from labvault.errors import NotFound
from labvault.interop.fhir.bundle import page_url, searchset
from labvault.interop.fhir.capability import supported
from labvault.interop.fhir.outcome import ISSUE_CODES
from labvault.interop.fhir.search import BadSearch, Search
from labvault.interop.fhir.systems import FHIR_JSON

FHIR_PREFIX = "/fhir"
FORM = "application/x-www-form-urlencoded"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcome_schema(description: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"resourceType": {"const": "OperationOutcome"}}}
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


# The errors every FHIR route may answer, all as an OperationOutcome (web/errors.py builds them).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: _outcome_schema(f"OperationOutcome ({code})")
    for status, code in ISSUE_CODES.items()
    if status in (400, 401, 403, 404, 410, 422, 429, 503)
}
ERRORS[401]["headers"] = {
    "WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}
}


@dataclass(frozen=True)
class SearchInput:
    """A search's raw parameters: the query string's, then a POSTed form's."""

    pairs: list[tuple[str, str]]
    posted: bool


async def search_input(request: Request) -> SearchInput:
    pairs = list(request.query_params.multi_items())
    posted = request.method == "POST"
    if posted:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != FORM:
            if await request.body():
                raise BadSearch("body", f"a search body must be form-encoded ({FORM})")
        else:
            form = await request.form()
            pairs += [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    return SearchInput(pairs, posted)


SearchDep = Annotated[SearchInput, Depends(search_input)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


def parse(raw: SearchInput, resource_type: str) -> Search:
    return Search(raw.pairs, supported(resource_type))


def resource_id(resource_type: str, value: str) -> uuid.UUID:
    """A read's id: labvault's ids are UUIDs; anything else names nothing here (never echoed)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {resource_type} with this id in this laboratory") from None


def answer(resource: Any) -> FhirResponse:
    """One resource (an R4B model) as the answer."""
    return FhirResponse(resource.model_dump(mode="json"))


def search_answer(
    request: Request,
    raw: SearchInput,
    search: Search,
    resource_type: str,
    resources: Sequence[dict[str, Any]],
    *,
    next_params: Callable[[Sequence[dict[str, Any]], int], list[tuple[str, str]]] | None = None,
) -> FhirResponse:
    """A searchset of ``resources`` (as JSON, all the matches), one page of them: ``_count`` from
    ``_offset``. The next page's link repeats the search with the next offset; ``next_params``
    gives another link (Patient: the remaining ids, so no identifier or name sits in a URL)."""
    base = base_url(request)
    count, offset = search.count, search.offset
    shown = resources[offset : offset + count]
    next_url = None
    if count and offset + count < len(resources):
        if next_params is not None:
            params = next_params(resources[offset + count :], count)
        else:
            params = [(k, v) for k, values in search.values.items() if k != "_offset" for v in values]
            params.append(("_offset", str(offset + count)))
        next_url = page_url(base, resource_type, params)
    self_url = f"{base}/{resource_type}/_search" if raw.posted else str(request.url)
    body = searchset(
        base,
        shown,
        total=len(resources),
        self_url=self_url,
        next_url=next_url,
    )
    return FhirResponse(body)
