"""A witness's view: signed checkpoints and proofs over HTTP and the CLI, checked with nothing but
the public key ``labvault audit pubkey`` prints, and the C2SP signed-note format byte for byte."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labvault.cli import app as cli
from labvault.platform import Platform
from labvault.security import merkle
from labvault.security.access import Role
from labvault.security.signed_checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_manifest,
    origin_of,
)
from labvault.web.app import create_app
from tests.conftest import build_platform
from tests.factories import Factory
from tests.web.support import API, TestClient, bearer, token_for

# golang.org/x/mod/sumdb/note: the reference signed note, its signer seed and verifier key.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signed_notes_match_the_go_reference_byte_for_byte() -> None:
    signer = NoteSigner.from_seed("PeterNeumann", GO_SKEY_SEED)
    assert signer.verifier.vkey() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE
    assert NoteVerifier.parse(GO_VKEY).open(GO_NOTE) == GO_TEXT
    for forged in (GO_NOTE.replace("problem,", "problem;"), GO_NOTE.replace("x08go", "x08gp"), GO_TEXT):
        with pytest.raises(CheckpointError):
            NoteVerifier.parse(GO_VKEY).open(forged)
    with pytest.raises(CheckpointError, match="id"):
        NoteVerifier.parse(GO_VKEY.replace("c74f20a3", "c74f20a4"))


def test_checkpoint_text_is_the_tlog_checkpoint_format() -> None:
    root = merkle.root_of([merkle.leaf_hash(b"x")])
    checkpoint = Checkpoint(origin_of("platform"), 1, root)
    assert checkpoint.text() == f"labvault/platform\n1\n{base64.b64encode(root).decode()}\n"
    assert Checkpoint.parse(checkpoint.text()) == checkpoint
    for bad in ("labvault/platform\n01\nAAAA\n", "labvault/platform\n1\n", "labvault/platform\n-1\nAAAA\n"):
        with pytest.raises(CheckpointError):
            Checkpoint.parse(bad)


def test_a_witness_checks_the_log_over_http(fresh_factory: Factory) -> None:
    platform = fresh_factory.platform
    lab = fresh_factory.lab()
    staff = fresh_factory.ctx(lab, Role.BIOLOGIST)
    records = [platform.patients.register(staff, fresh_factory.patient_data()) for _ in range(5)]
    platform.audit.checkpoint()
    operator = token_for(platform, fresh_factory.user(None, Role.PLATFORM_OPERATOR))
    verifier = NoteVerifier.parse(platform.audit.public_key())  # pinned out of band
    chain = str(lab.id)
    with TestClient(create_app(platform)) as client:

        def signed() -> Checkpoint:
            body = client.get(f"{API}/audit/checkpoints", headers=bearer(operator)).json()
            note = {head["chain"]: head["note"] for head in body["checkpoints"]}[chain]
            return open_checkpoint(verifier, note, origin_of(chain))

        first = signed()
        response = client.get(
            f"{API}/audit/proof/inclusion",
            params={"chain": chain, "seq": first.size, "size": first.size},
            headers=bearer(operator),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        leaf = base64.b64decode(body["leaf"])
        proof = [base64.b64decode(h) for h in body["proof"]]
        merkle.verify_inclusion(first.size - 1, first.size, merkle.leaf_hash(leaf), proof, first.root)

        for record in records:
            platform.patients.get(staff, record.id)
        platform.audit.checkpoint_heads()
        second = signed()
        response = client.get(
            f"{API}/audit/proof/consistency",
            params={"chain": chain, "first": first.size, "second": second.size},
            headers=bearer(operator),
        )
        proof = [base64.b64decode(h) for h in response.json()["proof"]]
        merkle.verify_consistency(first.size, second.size, proof, first.root, second.root)

        too_far = client.get(
            f"{API}/audit/proof/inclusion",
            params={"chain": chain, "seq": 1, "size": second.size + 1},
            headers=bearer(operator),
        )
        assert too_far.status_code == 422 and too_far.json()["detail"][0]["loc"][-1] == "size"
        unknown = client.get(
            f"{API}/audit/proof/consistency",
            params={"chain": "00000000-0000-0000-0000-000000000000", "first": 1, "second": 1},
            headers=bearer(operator),
        )
        assert unknown.status_code == 404


def cli_run(platform: Platform, *args: str) -> tuple[int, str]:
    dirs = ["--data-dir", str(platform.settings.data_dir), "--key-dir", str(platform.settings.key_dir)]
    result = CliRunner().invoke(cli, [*args, *dirs])
    return result.exit_code, result.output


def test_cli_pubkey_proof_and_pinned_verify(tmp_path: Path) -> None:
    platform, _ = build_platform(tmp_path, "sqlite")
    try:
        factory = Factory(platform)
        lab = factory.lab()
        platform.patients.register(factory.ctx(lab, Role.RECEPTION), factory.patient_data())
        code, output = cli_run(platform, "audit", "checkpoint")
        assert code == 0, output
        code, vkey = cli_run(platform, "audit", "pubkey")
        assert code == 0 and vkey.strip() == platform.audit.public_key()
        code, output = cli_run(platform, "audit", "proof", str(lab.id), "--seq", "1")
        assert code == 0, output
        document = json.loads(output)
        assert document["verified_against"].startswith(f"labvault/{lab.id}\n")
        code, output = cli_run(platform, "audit", "verify", "--public-key", vkey.strip())
        assert code == 0 and "audit log verified" in output, output
        stranger = NoteSigner.from_seed("labvault-audit", bytes(32)).verifier.vkey()
        code, output = cli_run(platform, "audit", "verify", "--public-key", stranger)
        assert code == 1 and "no signature" in output, output
    finally:
        platform.close()


def test_the_manifest_is_served_to_the_operator_only(factory: Factory) -> None:
    """It names every lab's chain: the operator's witness verifies it, a lab admin's does without."""
    platform = factory.platform
    lab = factory.lab()
    platform.patients.register(factory.ctx(lab, Role.RECEPTION), factory.patient_data())
    platform.audit.checkpoint_heads()
    operator = token_for(platform, factory.user(None, Role.PLATFORM_OPERATOR))
    admin = token_for(platform, factory.user(lab, Role.LAB_ADMIN))
    verifier = NoteVerifier.parse(platform.audit.public_key())
    with TestClient(create_app(platform)) as client:
        served = client.get(f"{API}/audit/checkpoints", headers=bearer(operator)).json()
        manifest = open_manifest(verifier, served["manifest"])
        notes = {head["chain"]: head["note"] for head in served["checkpoints"]}
        assert set(manifest.heads) == set(notes) and str(lab.id) in manifest.heads
        for chain, note in notes.items():
            checkpoint = open_checkpoint(verifier, note, origin_of(chain))
            assert manifest.heads[chain] == (checkpoint.size, checkpoint.root)
        own = client.get(f"{API}/audit/checkpoints", headers=bearer(admin)).json()
        assert own["manifest"] is None and [h["chain"] for h in own["checkpoints"]] == [str(lab.id)]
