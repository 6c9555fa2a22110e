"""The witness's two requests: the signed checkpoints, and a consistency proof between two sizes.

Nothing here is trusted: the answers are only parsed (shape, chain names, base64), and every
failure becomes a :class:`FetchFailed` with the kind of problem it is. The signatures and the
proof are checked by the caller with the pinned key and ``merkle.py``, never by the server.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import httpx

from labvault.security.witness_result import Kind

CHECKPOINTS = "/api/v1/audit/checkpoints"
CONSISTENCY = "/api/v1/audit/proof/consistency"
CHAIN = re.compile(r"[A-Za-z0-9-]{1,36}")
DETAIL_CHARS = 200
# Checkpoints of thousands of labs, or a 64-hash proof, are well under this: more is not an answer.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class FetchFailed(Exception):
    """A request the witness could not complete, or an answer it cannot read."""

    def __init__(self, kind: Kind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Served:
    """The notes as served, chain by chain, and the manifest note if the server serves one."""

    notes: dict[str, str]
    manifest: str | None


def witness_client(url: str, token: str, timeout: float = 30.0) -> httpx.Client:
    """A client for ``url`` (the server's base address) sending ``token`` as a bearer token.
    Redirects are not followed: a witness talks to the server it was pointed at."""
    check_url(url)
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, follow_redirects=False
    )


def check_url(url: str) -> httpx.URL:
    """The URL, if it is an http(s) address with a host; ValueError otherwise."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"invalid URL {url!r}: an http:// or https:// address with a host is needed")
    return parsed


def plain_http_warning(url: str) -> str | None:
    """Why plain http to this host is a bad idea, or None (https, or a loopback address): the
    bearer token and the answers would cross the network in clear, and a man in the middle could
    withhold new checkpoints (it cannot forge them: the key is pinned)."""
    parsed = check_url(url)
    if parsed.scheme == "https" or parsed.host == "localhost":
        return None
    try:
        if ipaddress.ip_address(parsed.host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"{url} is plain http to a host that is not loopback: the token travels in clear; "
        "use https (or a tunnel) for a witness on another machine"
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    text = detail if isinstance(detail, str) else response.reason_phrase
    return f"HTTP {response.status_code} {text[:DETAIL_CHARS]}".rstrip()


def get_json(client: httpx.Client, path: str, params: dict[str, str | int] | None = None) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise FetchFailed(Kind.NETWORK, f"GET {path}: {exc.__class__.__name__}: {exc}") from None
    if response.status_code in (401, 403):
        raise FetchFailed(Kind.CREDENTIALS, f"GET {path}: {_detail(response)}")
    if response.status_code != 200:
        raise FetchFailed(Kind.SERVER_ERROR, f"GET {path}: {_detail(response)}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise FetchFailed(
            Kind.SERVER_ERROR, f"GET {path}: the answer is larger than {MAX_ANSWER_BYTES} bytes"
        )
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to exhaust the parser
        raise FetchFailed(
            Kind.SERVER_ERROR, f"GET {path}: the answer is not JSON the witness reads"
        ) from None


def fetch_checkpoints(client: httpx.Client) -> Served:
    body = get_json(client, CHECKPOINTS)
    entries = body.get("checkpoints") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise FetchFailed(Kind.SERVER_ERROR, "the answer holds no list of checkpoints")
    notes: dict[str, str] = {}
    for entry in entries:
        chain = entry.get("chain") if isinstance(entry, dict) else None
        note = entry.get("note") if isinstance(entry, dict) else None
        if not isinstance(chain, str) or not CHAIN.fullmatch(chain) or not isinstance(note, str):
            raise FetchFailed(Kind.SERVER_ERROR, "a checkpoint without a valid chain name and note")
        if chain in notes:
            raise FetchFailed(Kind.SERVER_ERROR, f"chain {chain} is served twice")
        notes[chain] = note
    manifest = body.get("manifest")
    if manifest is not None and not isinstance(manifest, str):
        raise FetchFailed(Kind.SERVER_ERROR, "the manifest is not a note")
    return Served(notes, manifest)


def fetch_consistency(client: httpx.Client, chain: str, first: int, second: int) -> list[bytes]:
    """The server's proof that its tree of ``second`` entries extends its tree of ``first``."""
    body = get_json(client, CONSISTENCY, {"chain": chain, "first": first, "second": second})
    if not isinstance(body, dict) or (body.get("chain"), body.get("first"), body.get("second")) != (
        chain,
        first,
        second,
    ):
        raise FetchFailed(Kind.SERVER_ERROR, "the consistency proof answers another question")
    hashes = body.get("proof")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise FetchFailed(Kind.BAD_PROOF, "the proof is not a list of hashes")
    try:
        return [base64.b64decode(h, validate=True) for h in hashes]
    except ValueError:  # binascii.Error, or a non-ASCII string
        raise FetchFailed(Kind.BAD_PROOF, "a proof hash is not base64") from None
