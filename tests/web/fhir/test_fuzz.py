"""Whatever a client sends to /fhir (any parameter, any value, any body, any id), the answer is a
200 or a 4xx OperationOutcome: never a 500, never another content type."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labvault.interop.fhir.capability import SEARCH_PARAMS
from labvault.security.access import Role
from tests.web.fhir.support import FHIR, World, parsed

TYPES = sorted(SEARCH_PARAMS)
NAMES = sorted(
    {name for params in SEARCH_PARAMS.values() for name in params} | {"_count", "_offset", "_format"}
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
VALUES = st.one_of(
    TEXT,
    st.sampled_from(["Patient/", "urn:oid:1.2.250.1.213.1.4.8|", "ge2024", "1", "-1", "|", "true"]).flatmap(
        lambda prefix: TEXT.map(lambda rest: prefix + rest)
    ),
    st.uuids().map(lambda u: f"Patient/{u}"),
)
PARAMS = st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), TEXT.filter(bool)), VALUES), max_size=5)
ALLOWED = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429}


def check(response: Any) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    resource = parsed(response)
    if response.status_code >= 400:
        assert resource.get_resource_type() == "OperationOutcome"


settings_ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@settings_
@given(resource_type=st.sampled_from(TYPES), params=PARAMS, posted=st.booleans())
def test_searches_never_fail_the_server(
    fhir_world: World, resource_type: str, params: list[tuple[str, str]], posted: bool
) -> None:
    headers = fhir_world.headers(Role.BIOLOGIST)
    client = fhir_world.labs.client
    if posted:
        response = client.post(f"{FHIR}/{resource_type}/_search", data=dict(params), headers=headers)
    else:
        response = client.get(f"{FHIR}/{resource_type}", params=params, headers=headers)
    check(response)


@settings_
@given(
    resource_type=st.sampled_from(TYPES),
    body=st.one_of(st.binary(max_size=200), TEXT.map(str.encode)),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data"]
    ),
)
def test_bodies_never_fail_the_server(
    fhir_world: World, resource_type: str, body: bytes, content_type: str
) -> None:
    headers = {**fhir_world.headers(Role.BIOLOGIST), "Content-Type": content_type}
    check(fhir_world.labs.client.post(f"{FHIR}/{resource_type}/_search", content=body, headers=headers))


@settings_
@given(resource_type=st.sampled_from([*TYPES, "Nothing"]), ident=TEXT.filter(lambda s: s.strip("/.") != ""))
def test_reads_never_fail_the_server(fhir_world: World, resource_type: str, ident: str) -> None:
    check(fhir_world.get(f"/{resource_type}/{quote(ident, safe='')}"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
ENTRY = st.fixed_dictionaries(
    {
        "resource": st.fixed_dictionaries(
            {"resourceType": st.sampled_from(["Patient", "ServiceRequest"])},
            optional={"code": JSON, "subject": JSON, "identifier": JSON},
        )
    },
    optional={"request": JSON, "fullUrl": TEXT},
)
SHAPES = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Patient", "Bundle", "ServiceRequest", "x"])},
    optional={
        "type": st.sampled_from(["transaction", "batch"]) | TEXT,
        "entry": st.lists(ENTRY, max_size=3),
        "name": JSON,
        "identifier": JSON,
        "birthDate": TEXT,
        "gender": TEXT,
    },
)


@settings_
@given(path=st.sampled_from(["", "/Patient"]), document=st.one_of(JSON, SHAPES))
def test_written_resources_never_fail_the_server(fhir_world: World, path: str, document: Any) -> None:
    headers = {**fhir_world.headers(Role.RECEPTION), "Content-Type": "application/fhir+json"}
    check(fhir_world.labs.client.post(f"{FHIR}{path}", json=document, headers=headers))
