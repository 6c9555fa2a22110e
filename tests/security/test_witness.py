"""The witness that ships with labvault (both backends): it polls the API with an operator token,
verifies every note with the pinned key, and holds every chain to the last checkpoint it accepted.

What a local attacker can do to the server and what the witness sees: the checkpoint file rolled
back to an older genuine copy (rollback, a chain missing), a rewritten log signed afresh by the
server once its checkpoint file is gone (fork, or a consistency proof that fails), a note signed by
another key or a chain dropped, in the file (the server itself refuses to serve: server error) or
in the answer on the way (bad signature, missing chain). After every failure the witness's state
file is byte for byte what it was.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from labvault.cli import app as cli
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.security.checkpoint import CHECKPOINT_FILE
from labvault.security.signed_checkpoint import KEY_NAME, Manifest, NoteSigner
from labvault.security.witness import Witness
from labvault.security.witness_fetch import CHECKPOINTS, CONSISTENCY, plain_http_warning
from labvault.security.witness_result import Kind, RoundResult
from labvault.security.witness_state import WitnessStateError
from labvault.web.app import create_app
from tests.factories import Factory
from tests.security.test_audit_tamper import (
    POPULATED_SIZE,
    as_entry,
    chain_rows,
    drop_append_only_guards,
    forged_entry,
    populated,
    rewrite,
    touch,
)
from tests.web.support import TestClient, bearer, token_for
from tests.web.test_live_server import free_port, wait_for

Edit = Callable[[str, dict[str, Any]], dict[str, Any]]
STRANGER = NoteSigner.from_seed(KEY_NAME, bytes(range(32)))  # the platform's key name, not its key


class Watched(TestClient):
    """The API as the witness sees it: records the paths asked, and lets a test play the man in
    the middle (``edit``), or add what the server does not serve yet (the manifest)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[httpx.URL] = []
        self.edit: Edit | None = None

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = super().request(method, url, *args, **kwargs)
        self.asked.append(response.request.url)
        if self.edit is None or response.status_code != 200:
            return response
        body = self.edit(response.request.url.path, response.json())
        return httpx.Response(200, json=body, request=response.request)


@contextmanager
def watched(platform: Platform, token: str) -> Iterator[Watched]:
    with Watched(create_app(platform), headers=bearer(token)) as client:
        yield client


def operator_token(factory: Factory) -> str:
    return token_for(factory.platform, factory.user(None, Role.PLATFORM_OPERATOR))


def checkpoint_file(platform: Platform) -> Path:
    return platform.settings.resolved_checkpoint_dir() / CHECKPOINT_FILE


def signed_sizes(path: Path) -> dict[str, int]:
    """Each chain's signed size in a checkpoint file, from its manifest's text."""
    text = json.loads(path.read_text())["manifest"].partition("\n\n")[0]
    return {line.split(" ")[0]: int(line.split(" ")[1]) for line in text.split("\n")[2:]}


def text_of(note: str) -> str:
    """A signed note's text, without its signatures (what another key would sign)."""
    return note.partition("\n\n")[0] + "\n"


def problems(result: RoundResult) -> set[tuple[Kind, str | None]]:
    return {(problem.kind, problem.chain) for problem in result.problems}


def refused(witness: Witness, state_before: bytes) -> RoundResult:
    """A round that must fail, and leave the state file exactly as it was."""
    result = witness.run_once()
    assert not result.ok and not result.state_written
    assert witness.state_path.read_bytes() == state_before
    return result


# --- rounds through the API ---------------------------------------------------------------------


def test_first_round_records_then_a_grown_log_is_proven(fresh_factory: Factory, tmp_path: Path) -> None:
    lab = populated(fresh_factory)
    platform = lab.platform
    state = tmp_path / "witness" / "state.json"
    with watched(platform, operator_token(fresh_factory)) as client:
        witness = Witness(client, platform.audit.public_key(), state)
        first = witness.run_once()
        assert first.ok and first.state_written and first.exit_code == 0, first.problems
        assert {o.chain for o in first.chains} == {"platform", lab.chain}
        assert all(o.previous is None for o in first.chains)
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        recorded = json.loads(state.read_text())
        served = json.loads(checkpoint_file(platform).read_text())["chains"][lab.chain]["note"]
        assert (
            recorded["chains"][lab.chain]["size"] == POPULATED_SIZE
            and recorded["chains"][lab.chain]["note"] == served
        )
        assert recorded["public_key"] == platform.audit.public_key()

        touch(fresh_factory, lab.staff, 2)
        platform.audit.checkpoint_heads()
        # A proof that does not join the two roots (one hash altered on the way) is refused...
        before = state.read_bytes()

        def flip(path: str, body: dict[str, Any]) -> dict[str, Any]:
            if path == CONSISTENCY and body["chain"] == lab.chain:
                digest = bytearray(base64.b64decode(body["proof"][0]))
                digest[0] ^= 1
                body["proof"][0] = base64.b64encode(bytes(digest)).decode()
            return body

        client.edit = flip
        bad = refused(witness, before)
        assert problems(bad) == {(Kind.BAD_PROOF, lab.chain)} and bad.exit_code == 1

        # ...the server's own proof is verified, and the grown chain accepted.
        client.edit = None
        client.asked.clear()
        grown = witness.run_once()
        assert grown.ok, grown.problems
        outcome = {o.chain: o for o in grown.chains}[lab.chain]
        grown_size = POPULATED_SIZE + 4  # two patients registered and read
        assert (outcome.previous, outcome.size) == (POPULATED_SIZE, grown_size)
        assert "consistency proof verified" in str(outcome)
        proofs = [url for url in client.asked if url.path == CONSISTENCY]
        first_size = str(POPULATED_SIZE)
        assert any(url.params["chain"] == lab.chain and url.params["first"] == first_size for url in proofs)
        assert json.loads(state.read_text())["chains"][lab.chain]["size"] == grown_size

        again = witness.run_once()
        assert again.ok and all(o.previous == o.size for o in again.chains)


def test_a_rolled_back_checkpoint_file_is_caught(fresh_factory: Factory, tmp_path: Path) -> None:
    """The attack no local check sees: an older genuine file put back. Every chain that shrank is
    a rollback, a chain signed since and now absent is missing; once the real file is back, the
    witness accepts again (its state was not touched)."""
    lab = populated(fresh_factory)
    platform = lab.platform
    older = tmp_path / "older-checkpoint.json"
    shutil.copy2(checkpoint_file(platform), older)
    later = populated(fresh_factory)  # a lab whose chain the older file does not know
    touch(fresh_factory, lab.staff, 1)
    platform.audit.checkpoint_heads()
    state = tmp_path / "state.json"
    with watched(platform, operator_token(fresh_factory)) as client:
        witness = Witness(client, platform.audit.public_key(), state)
        assert witness.run_once().ok
        before = state.read_bytes()
        current = tmp_path / "current-checkpoint.json"
        shutil.copy2(checkpoint_file(platform), current)
        shutil.copy2(older, checkpoint_file(platform))

        result = refused(witness, before)
        old, new = signed_sizes(older), signed_sizes(current)
        shrank = {chain for chain in old if old[chain] < new[chain]}
        assert lab.chain in shrank
        assert problems(result) == {(Kind.ROLLBACK, c) for c in shrank} | {(Kind.MISSING_CHAIN, later.chain)}
        assert result.exit_code == 1

        shutil.copy2(current, checkpoint_file(platform))
        assert witness.run_once().ok


@pytest.mark.parametrize("rewritten", ["same-length", "longer"])
def test_a_rewritten_log_signed_afresh_is_a_fork(
    fresh_factory: Factory, tmp_path: Path, rewritten: str
) -> None:
    """An attacker with the database rewrites a chain, deletes the checkpoint file, and the server
    signs the rewritten log as if it were new. Locally nothing is left to compare with; the
    witness has the old signed root: same size, another root (a fork), or a larger tree that no
    consistency proof joins to it."""
    lab = populated(fresh_factory)
    platform = lab.platform
    state = tmp_path / "state.json"
    with watched(platform, operator_token(fresh_factory)) as client:
        witness = Witness(client, platform.audit.public_key(), state)
        assert witness.run_once().ok
        before = state.read_bytes()
        with platform.db.owner_engine.begin() as conn:
            drop_append_only_guards(conn)
            entries = [as_entry(row) for row in chain_rows(conn, lab.chain)]
            entries[2] = forged_entry(entries[2], fresh_factory.rng)
            if rewritten == "longer":
                entries.append(forged_entry(entries[-1], fresh_factory.rng))
            rewrite(conn, lab.chain, entries)
        checkpoint_file(platform).unlink()
        platform.audit.checkpoint_heads()  # nothing signed to compare with: signed as it stands

        result = refused(witness, before)
        kind = Kind.FORK if rewritten == "same-length" else Kind.BAD_PROOF
        assert problems(result) == {(kind, lab.chain)}, result.problems


def test_a_note_signed_by_another_key_is_refused(fresh_factory: Factory, tmp_path: Path) -> None:
    lab = populated(fresh_factory)
    platform = lab.platform
    state = tmp_path / "state.json"
    with watched(platform, operator_token(fresh_factory)) as client:
        witness = Witness(client, platform.audit.public_key(), state)
        assert witness.run_once().ok
        before = state.read_bytes()
        touch(fresh_factory, lab.staff, 1)
        platform.audit.checkpoint_heads()

        def resign(path: str, body: dict[str, Any]) -> dict[str, Any]:
            for head in body.get("checkpoints", []):
                if head["chain"] == lab.chain:
                    head["note"] = STRANGER.sign(text_of(head["note"]))
            return body

        client.edit = resign  # on the way: the witness's own check
        result = refused(witness, before)
        assert problems(result) == {(Kind.BAD_SIGNATURE, lab.chain)}
        assert "no signature of labvault-audit+" in result.problems[0].detail

        client.edit = None  # in the file: the server refuses to serve it at all
        document = json.loads(checkpoint_file(platform).read_text())
        entry = document["chains"][lab.chain]
        entry["note"] = STRANGER.sign(text_of(entry["note"]))
        checkpoint_file(platform).write_text(json.dumps(document))
        result = refused(witness, before)
        assert problems(result) == {(Kind.SERVER_ERROR, None)} and result.exit_code == 1
        assert "HTTP 503" in result.problems[0].detail


def test_a_dropped_chain_is_refused(fresh_factory: Factory, tmp_path: Path) -> None:
    lab = populated(fresh_factory)
    platform = lab.platform
    state = tmp_path / "state.json"
    with watched(platform, operator_token(fresh_factory)) as client:
        witness = Witness(client, platform.audit.public_key(), state)
        assert witness.run_once().ok
        before = state.read_bytes()

        def drop(path: str, body: dict[str, Any]) -> dict[str, Any]:
            if path == CHECKPOINTS:
                body["checkpoints"] = [h for h in body["checkpoints"] if h["chain"] != lab.chain]
            return body

        client.edit = drop  # on the way
        result = refused(witness, before)
        assert problems(result) == {(Kind.MISSING_CHAIN, lab.chain)}
        assert any(f"accepted at size {POPULATED_SIZE}" in problem.detail for problem in result.problems)

        client.edit = None  # in the file: its signed manifest still lists the chain, the server refuses
        document = json.loads(checkpoint_file(platform).read_text())
        del document["chains"][lab.chain]
        checkpoint_file(platform).write_text(json.dumps(document))
        result = refused(witness, before)
        assert problems(result) == {(Kind.SERVER_ERROR, None)}
        assert "HTTP 503" in result.problems[0].detail


# --- the signed manifest, once the server serves it -----------------------------------------------


def with_manifest(platform: Platform, note: Callable[[], str | None] | None = None) -> Edit:
    """Add to the answer the manifest note of the checkpoint file (or ``note()``), as a server
    serving its manifest to the operator would."""

    def edit(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == CHECKPOINTS:
            body["manifest"] = (
                note() if note else json.loads(checkpoint_file(platform).read_text())["manifest"]
            )
        return body

    return edit


def test_the_manifest_is_verified_and_held(factory: Factory, tmp_path: Path) -> None:
    platform = factory.platform
    lab = populated(factory)
    state = tmp_path / "state.json"
    with watched(platform, operator_token(factory)) as client:
        platform.audit.checkpoint_heads()  # the operator's own events, signed
        witness = Witness(client, platform.audit.public_key(), state)
        client.edit = with_manifest(platform)
        assert witness.run_once().ok
        recorded = json.loads(state.read_text())["manifest"]
        assert recorded == json.loads(checkpoint_file(platform).read_text())["manifest"]
        before = state.read_bytes()

        text = text_of(recorded)
        client.edit = with_manifest(platform, lambda: STRANGER.sign(text))
        assert problems(refused(witness, before)) == {(Kind.BAD_SIGNATURE, None)}

        # Genuinely signed (a stolen key, a bug) but without the lab's chain, whose note is served.
        parsed = Manifest.parse(text)
        heads = {chain: head for chain, head in parsed.heads.items() if chain != lab.chain}
        short = platform.audit.signer.sign(Manifest(parsed.written_at, heads).text())
        client.edit = with_manifest(platform, lambda: short)
        assert problems(refused(witness, before)) == {(Kind.MANIFEST_MISMATCH, lab.chain)}

        client.edit = with_manifest(platform, lambda: None)  # no longer served: a downgrade
        assert problems(refused(witness, before)) == {(Kind.MANIFEST_MISMATCH, None)}

        client.edit = with_manifest(platform)
        assert witness.run_once().ok


def test_a_foreign_or_edited_state_is_refused(factory: Factory, tmp_path: Path) -> None:
    platform = factory.platform
    populated(factory)
    state = tmp_path / "state.json"
    with watched(platform, operator_token(factory)) as client:
        assert Witness(client, platform.audit.public_key(), state).run_once().ok
        with pytest.raises(WitnessStateError, match="written for key"):
            Witness(client, STRANGER.verifier.vkey(), state).run_once()
        document = json.loads(state.read_text())
        chain = next(iter(document["chains"]))
        document["chains"][chain]["size"] += 1
        state.write_text(json.dumps(document))
        with pytest.raises(WitnessStateError, match="not the note's"):
            Witness(client, platform.audit.public_key(), state).run_once()


# --- the command line -----------------------------------------------------------------------------


def test_plain_http_is_warned_about_off_loopback_only() -> None:
    for quiet in (
        "http://127.0.0.1:8000",
        "http://[::1]:8000/",
        "http://localhost:8000",
        "https://lis.example",
    ):
        assert plain_http_warning(quiet) is None, quiet
    warning = plain_http_warning("http://lis.example:8000")
    assert warning is not None and "in clear" in warning
    with pytest.raises(ValueError):
        plain_http_warning("ftp://lis.example")


def test_cli_usage_and_network_errors_exit_2(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("lvt_not-a-real-token\n")
    token.chmod(0o600)
    state = tmp_path / "state.json"
    closed = f"http://127.0.0.1:{free_port()}"

    def run(*args: str) -> tuple[int, str]:
        base = {"--url": closed, "--token-file": str(token), "--public-key": STRANGER.verifier.vkey()}
        merged = base | dict(zip(args[::2], args[1::2], strict=True))
        result = CliRunner().invoke(
            cli, ["audit", "witness", "--state", str(state), *[x for kv in merged.items() for x in kv]]
        )
        return result.exit_code, result.output

    code, output = run()
    assert code == 2 and "network error" in output, output
    code, output = run("--public-key", "labvault-audit+00000000+AAAA")
    assert code == 2 and "verifier key" in output, output
    code, output = run("--token-file", str(tmp_path / "missing"))
    assert code == 2 and "token file" in output, output
    code, output = run("--url", "ftp://127.0.0.1")
    assert code == 2 and "invalid URL" in output, output
    assert not state.exists()


def test_cli_witness_against_a_live_server(tmp_path: Path) -> None:
    """`labvault audit witness` as cron would run it, against `labvault serve` on loopback. SQLite
    only: the witness speaks HTTP, the engine behind the server is covered by the tests above."""
    data, keys = tmp_path / "data", tmp_path / "keys"
    env = {**os.environ, "LABVAULT_DATA_DIR": str(data), "LABVAULT_KEY_DIR": str(keys)}
    env.pop("LABVAULT_DATABASE_URL", None)
    labvault = [sys.executable, "-m", "labvault.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*labvault, *args], env=env, capture_output=True, text=True, timeout=120)

    seeded = run("demo", "--labs", "1", "--patients", "5", "--orders", "1", "--no-serve")
    assert seeded.returncode == 0, seeded.stderr
    users = json.loads((data.parent / "demo-credentials.json").read_text())["users"]
    token = tmp_path / "operator.token"
    token.write_text(next(u["token"] for u in users if u["role"] == "platform_operator"))
    token.chmod(0o600)
    reception = next(u["token"] for u in users if u["role"] == "reception")
    vkey = run("audit", "pubkey").stdout.strip()
    state = tmp_path / "witness" / "state.json"
    signed = keys / "audit" / CHECKPOINT_FILE

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*labvault, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    witness = ["audit", "witness", "--url", base, "--token-file", str(token), "--public-key", vkey]
    witness += ["--state", str(state)]
    try:
        wait_for(base, server)
        first = run(*witness, "--rounds", "2", "--interval", "0")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "new, recorded" in first.stdout and "round 2/2" in first.stdout
        assert "warning" not in first.stderr  # loopback: no plain-http warning
        older = tmp_path / "older.json"
        shutil.copy2(signed, older)

        body = {"birth_name": "Témoin", "first_names": "Claire", "sex": "F", "birth_date": "1988-02-03"}
        created = httpx.post(f"{base}/api/v1/patients", json=body, headers=bearer(reception), timeout=5)
        assert created.status_code == 201, created.text
        assert run("audit", "checkpoint").returncode == 0
        grown = run(*witness)
        assert grown.returncode == 0, grown.stdout + grown.stderr
        assert "consistency proof verified" in grown.stdout
        before = state.read_bytes()

        shutil.copy2(older, signed)
        rolled = run(*witness)
        assert rolled.returncode == 1, rolled.stdout + rolled.stderr
        lab_chain = json.loads(signed.read_text())["chains"].keys() - {"platform"}
        assert any(f"chain {c}: rollback" in rolled.stderr for c in lab_chain), rolled.stderr
        assert state.read_bytes() == before
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
