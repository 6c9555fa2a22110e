"""The signed manifest over the set of chains (both backends).

Each chain's checkpoint note is signed on its own, so without the manifest whoever can write the
checkpoint directory and the database could drop one chain's note, rewrite that chain, and have it
taken for "never signed" and then signed as rewritten. The manifest lists every chain with its size
and root under one signature: a missing, extra or different note, or a manifest edited or signed by
another key, is refused; a chain left out of a genuine manifest although older than it is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from labvault.security.audit import AuditUnavailable
from labvault.security.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    read_signed_state,
    write_checkpoints,
)
from labvault.security.merkle import Frontier
from labvault.security.signed_checkpoint import KEY_NAME, Checkpoint, Manifest, NoteSigner, origin_of
from tests.factories import Factory
from tests.security.test_audit_tamper import (
    POPULATED_SIZE,
    Lab,
    as_entry,
    chain_rows,
    drop_append_only_guards,
    populated,
    rewrite,
    touch,
)


def checkpoint_path(lab: Lab) -> Path:
    return lab.platform.settings.resolved_checkpoint_dir() / CHECKPOINT_FILE


def load(lab: Lab) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(checkpoint_path(lab).read_text())
    return document


def save(lab: Lab, document: dict[str, Any]) -> None:
    checkpoint_path(lab).write_text(json.dumps(document))


def test_the_file_holds_a_manifest_matching_every_chain_note(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    state = read_signed_state(lab.platform.settings.resolved_checkpoint_dir(), lab.platform.audit.verifier)
    assert state is not None
    assert set(state.manifest.heads) == set(state.chains) == {"platform", lab.chain}
    for chain, stored in state.chains.items():
        assert state.manifest.heads[chain] == (stored.checkpoint.size, stored.checkpoint.root)
    assert state.manifest.heads[lab.chain][0] == POPULATED_SIZE


def test_dropping_one_chains_note_is_detected_and_refused(fresh_factory: Factory) -> None:
    """The attack of the review: drop the lab's note, rewrite its log consistently."""
    lab = populated(fresh_factory)
    document = load(lab)
    del document["chains"][lab.chain]
    save(lab, document)
    with lab.platform.db.owner_engine.begin() as conn:
        drop_append_only_guards(conn)
        rows = chain_rows(conn, lab.chain)
        rewrite(conn, lab.chain, [as_entry(r) for r in rows if r.chain_seq != 4])
    missing = f"chain {lab.chain} is in the signed manifest but its note is missing"
    with pytest.raises(CheckpointError, match=missing):
        lab.platform.audit.verify()
    with pytest.raises(CheckpointError, match=missing):
        lab.platform.audit.checkpoint_heads()
    with pytest.raises(CheckpointError, match=missing):
        lab.platform.audit.checkpoint()
    assert lab.chain not in load(lab)["chains"]  # nothing was signed over the rewritten log


def test_an_extra_or_an_older_genuine_note_is_refused(fresh_factory: Factory) -> None:
    lab = populated(fresh_factory)
    older = load(lab)["chains"][lab.chain]
    touch(fresh_factory, lab.staff, 1)
    lab.platform.audit.checkpoint_heads()
    current = load(lab)
    document = json.loads(json.dumps(current))
    document["chains"][lab.chain] = older  # a genuine signature, but not what the manifest says
    save(lab, document)
    with pytest.raises(CheckpointError, match=f"chain {lab.chain}'s note does not match"):
        lab.platform.audit.verify()

    document = current
    ghost = "00000000-0000-0000-0000-000000000000"
    note = lab.platform.audit.signer.sign(Checkpoint(origin_of(ghost), 0, Frontier().root()).text())
    document["chains"][ghost] = {"note": note, "frontier": []}
    save(lab, document)
    with pytest.raises(CheckpointError, match=f"chain {ghost} has a note but is not in the signed manifest"):
        lab.platform.audit.verify()


def edited(text: str, edit: str, chain: str) -> str:
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(chain + " "))
    name, size, root = lines[i].split(" ")
    if edit == "size":
        lines[i] = f"{name} {int(size) - 2} {root}"
    elif edit == "root":
        lines[i] = f"{name} {size} {base64.b64encode(bytes(32)).decode()}"
    elif edit == "chain-list":
        del lines[i]
    else:
        lines[1] = "2000-01-01T00:00:00+00:00"
    return "\n".join(lines)


@pytest.mark.parametrize("edit", ["size", "root", "chain-list", "time", "other-key", "none"])
def test_an_edited_or_foreign_manifest_is_refused(fresh_factory: Factory, edit: str) -> None:
    lab = populated(fresh_factory)
    document = load(lab)
    text, _, signature = document["manifest"].partition("\n\n")
    if edit == "other-key":
        document["manifest"] = NoteSigner.from_seed(KEY_NAME, bytes(range(32))).sign(text + "\n")
    elif edit == "none":
        del document["manifest"]
    else:
        document["manifest"] = f"{edited(text, edit, lab.chain)}\n\n{signature}"
    save(lab, document)
    with pytest.raises(CheckpointError, match=r"refused|unreadable"):
        lab.platform.audit.verify()
    with pytest.raises(CheckpointError):
        lab.platform.audit.checkpoint_heads()


def test_a_lab_created_after_a_checkpoint_is_signed_normally(fresh_factory: Factory) -> None:
    first = populated(fresh_factory)
    second = populated(fresh_factory)  # its chain is absent from the first one's manifest
    second.platform.audit.checkpoint_heads()
    state = read_signed_state(
        first.platform.settings.resolved_checkpoint_dir(), first.platform.audit.verifier
    )
    assert state is not None and {first.chain, second.chain} <= set(state.manifest.heads)
    assert state.chains[second.chain].checkpoint.size == POPULATED_SIZE
    result = first.platform.audit.verify()
    assert result.ok and result.signed[second.chain].size == POPULATED_SIZE


def test_a_chain_older_than_the_manifest_but_missing_from_it_is_refused(fresh_factory: Factory) -> None:
    """A genuine manifest (here re-signed with the platform key, as a rolled-back or buggy state
    would be) that lacks a chain whose entries predate it: that chain is not taken for new."""
    lab = populated(fresh_factory)
    platform = lab.platform
    state = read_signed_state(platform.settings.resolved_checkpoint_dir(), platform.audit.verifier)
    assert state is not None
    later = state.written_at.replace(year=state.written_at.year + 1)
    heads = {c: h for c, h in state.manifest.heads.items() if c != lab.chain}
    notes = {c: (s.note, Frontier()) for c, s in state.chains.items() if c != lab.chain}  # no cache
    manifest = platform.audit.signer.sign(Manifest(later, heads).text())
    write_checkpoints(
        platform.settings.resolved_checkpoint_dir(), platform.audit.public_key(), manifest, notes
    )
    with pytest.raises(AuditUnavailable, match=f"chain {lab.chain} is missing from the signed manifest"):
        platform.audit.checkpoint_heads()
    assert any(f"chain {lab.chain} is missing" in p for p in platform.audit.verify().problems)


def test_manifest_text_round_trips_and_is_never_a_chain_checkpoint() -> None:
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    manifest = Manifest(at, {"zeta": (3, bytes(32)), "platform": (0, bytes(range(32)))})
    text = manifest.text()
    assert text.split("\n")[:3] == [
        "labvault-audit-manifest/1",
        "2026-03-01T12:00:00+00:00",
        "platform 0 " + base64.b64encode(bytes(range(32))).decode(),
    ]
    assert Manifest.parse(text) == manifest
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)  # the time is not a size: a manifest cannot pass for a chain's note
    with pytest.raises(CheckpointError, match="twice"):
        Manifest.parse(text + text.split("\n")[2] + "\n")
