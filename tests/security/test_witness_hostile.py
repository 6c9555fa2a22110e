"""A hostile server (or a man in the middle) answering 200 with crafted bodies: every one is a
named failure of the witness (exit 1), never a traceback (found by review)."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import httpx
import pytest

from labvault.security.signed_checkpoint import KEY_NAME, CheckpointError, NoteSigner, NoteVerifier
from labvault.security.witness import Witness
from labvault.security.witness_fetch import (
    MAX_ANSWER_BYTES,
    FetchFailed,
    fetch_checkpoints,
    fetch_consistency,
)
from labvault.security.witness_result import Kind, RoundResult
from labvault.security.witness_state import state_lock

SIGNER = NoteSigner.from_seed(KEY_NAME, bytes(range(32)))
ROOT = base64.b64encode(bytes(32)).decode()


def client_answering(body: str | bytes) -> httpx.Client:
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=content))
    return httpx.Client(transport=transport, base_url="http://127.0.0.1")


@pytest.mark.parametrize(
    "body",
    [
        '{"checkpoints":' + "[" * 200_000 + "]" * 200_000 + "}",  # nested past the parser's depth
        b"\xff\xfe not utf-8 json",
        b" " * (MAX_ANSWER_BYTES + 1),
    ],
    ids=["deep-nesting", "not-json", "oversized"],
)
def test_unreadable_answers_are_server_errors(body: str | bytes) -> None:
    with pytest.raises(FetchFailed) as failed:
        fetch_checkpoints(client_answering(body))
    assert failed.value.kind is Kind.SERVER_ERROR


def test_a_non_ascii_proof_hash_is_a_bad_proof() -> None:
    answer = json.dumps({"chain": "platform", "first": 1, "second": 2, "proof": ["\u00e9"]})
    with pytest.raises(FetchFailed) as failed:
        fetch_consistency(client_answering(answer), "platform", 1, 2)
    assert failed.value.kind is Kind.BAD_PROOF


@pytest.mark.parametrize(
    "note",
    [
        f"labvault/platform\n1\n{ROOT}\n\n\u2014 {KEY_NAME} \u00e9\n",  # non-ASCII signature
        f"labvault/platform\n1\n{ROOT}\ud800\n\n\u2014 {KEY_NAME} "
        + base64.b64encode(SIGNER.verifier.key_id + bytes(64)).decode()
        + "\n",  # a lone surrogate in the text
    ],
    ids=["non-ascii-signature", "lone-surrogate"],
)
def test_malformed_notes_are_refused_as_notes(note: str) -> None:
    verifier = NoteVerifier.parse(SIGNER.verifier.vkey())
    with pytest.raises(CheckpointError):
        verifier.open(note)


def test_rounds_on_one_state_file_take_turns(tmp_path: Path) -> None:
    """A round waits while another holds the state file's lock (a cron run overlapping a loop),
    so no older view replaces a newer state (found by review)."""
    good = json.dumps(
        {"checkpoints": [{"chain": "platform", "note": SIGNER.sign(f"labvault/platform\n1\n{ROOT}\n")}]}
    )
    state = tmp_path / "witness.json"
    witness = Witness(client_answering(good), SIGNER.verifier.vkey(), state)
    results: list[RoundResult] = []
    other = threading.Thread(target=lambda: results.append(witness.run_once()))
    with state_lock(state):
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive() and not state.exists(), "the round must wait for the lock"
    other.join(timeout=30)
    assert results and results[0].ok and state.exists()
