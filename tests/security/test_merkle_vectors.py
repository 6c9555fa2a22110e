"""RFC 6962 / 9162 Merkle proofs: the transparency-dev vectors, then properties of our own proofs.

Data: ``../shared/testdata/merkle/`` relative to the project root (see SOURCES.md there): every JSON
file holds the inputs of one verification and whether it must fail. Missing data skips locally and
fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labvault.security import merkle
from labvault.security.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    hasher_over,
    leaf_hash,
    node_hash,
    root_of,
)

MERKLE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "merkle"
IN_CI = os.environ.get("CI", "").lower() == "true"


def vector_files(folder: str) -> list[Path]:
    files = sorted((MERKLE / folder).rglob("*.json"))
    if not files:
        if IN_CI:
            pytest.fail(f"no Merkle vectors under {MERKLE / folder}")
        return []
    return files


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def proof_of(vector: dict[str, Any]) -> list[bytes]:
    return [b64(p) for p in vector["proof"] or []]


def outcome(check: Callable[..., None], *args: Any) -> bool:
    """True if the verification passed, False if it raised ProofError (anything else is a bug)."""
    try:
        check(*args)
    except ProofError:
        return False
    return True


def cases(folder: str) -> list[Any]:
    return [pytest.param(path, id=str(path.relative_to(MERKLE))) for path in vector_files(folder)]


@pytest.mark.parametrize("path", cases("inclusion"))
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = outcome(
        merkle.verify_inclusion, v["leafIdx"], v["treeSize"], b64(v["leafHash"]), proof_of(v), b64(v["root"])
    )
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", cases("consistency"))
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = outcome(
        merkle.verify_consistency, v["size1"], v["size2"], proof_of(v), b64(v["root1"]), b64(v["root2"])
    )
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", cases("subtreeinclusion"))
def test_subtree_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = outcome(
        merkle.verify_subtree_inclusion,
        v["leafIdx"],
        v["start"],
        v["end"],
        b64(v["leafHash"]),
        proof_of(v),
        b64(v["root"]),
    )
    assert ok is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", cases("subtreeconsistency"))
def test_subtree_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    ok = outcome(
        merkle.verify_subtree_consistency,
        v["start"],
        v["end"],
        v["size"],
        proof_of(v),
        b64(v["root1"]),
        b64(v["root2"]),
    )
    assert ok is not v["wantErr"], v["desc"]


def test_the_vectors_are_all_there() -> None:
    counts = {folder: len(vector_files(folder)) for folder in ("inclusion", "consistency")}
    counts |= {f"subtree{k}": len(vector_files(f"subtree{k}")) for k in ("inclusion", "consistency")}
    if not any(counts.values()):
        pytest.skip(f"no Merkle vectors under {MERKLE}")
    assert all(count >= 50 for count in counts.values()), counts


# --- our own trees --------------------------------------------------------------------------------

# RFC 6962 §2.1.3 example tree: leaves d0..d6 (the transparency-dev vectors use the same inputs).
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
RFC_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC's recursive definition."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_known_root_of_the_rfc_tree() -> None:
    assert root_of([leaf_hash(d) for d in RFC_LEAVES]).hex() == RFC_ROOT_8
    assert root_of([]) == hashlib.sha256(b"").digest()


def test_frontier_matches_the_recursive_definition_at_every_size() -> None:
    rng = random.Random(9162)
    leaves = [leaf_hash(rng.randbytes(8)) for _ in range(300)]
    frontier = Frontier()
    for n in range(301):
        assert frontier.root() == reference_root(leaves[:n]), n
        assert len(frontier.nodes) == n.bit_count()
        restored = Frontier.from_bytes(n, frontier.to_bytes())
        assert restored.root() == frontier.root()
        if n < 300:
            frontier.append(leaves[n])


def test_stored_frontier_of_the_wrong_length_is_refused() -> None:
    frontier = Frontier().extend([leaf_hash(b"x")] * 5)
    with pytest.raises(ProofError):
        Frontier.from_bytes(7, frontier.to_bytes())  # 7 = 4 + 2 + 1: three hashes, not two
    with pytest.raises(ProofError):
        Frontier.from_bytes(5, frontier.to_bytes()[:-1])


def flip(value: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(value))
    return value[:i] + bytes([value[i] ^ (1 << rng.randrange(8))]) + value[i + 1 :]


def test_generated_inclusion_proofs_verify_and_break_when_touched() -> None:
    rng = random.Random(6962)
    for _ in range(150):
        size = rng.randint(1, 200)
        leaves = [leaf_hash(rng.randbytes(16)) for _ in range(size)]
        root = root_of(leaves)
        index = rng.randrange(size)
        proof = merkle.prove_inclusion(index, size, hasher_over(leaves))
        merkle.verify_inclusion(index, size, leaves[index], proof, root)
        if proof:
            bad = list(proof)
            j = rng.randrange(len(bad))
            bad[j] = flip(bad[j], rng)
            assert not outcome(merkle.verify_inclusion, index, size, leaves[index], bad, root)
            assert not outcome(merkle.verify_inclusion, index, size, leaves[index], proof[:-1], root)
        other = (index + rng.randrange(1, size)) % size if size > 1 else None
        if other is not None:
            assert not outcome(merkle.verify_inclusion, other, size, leaves[index], proof, root)
        # (A wrong size of the same path shape leads to the same root: only the root is bound.)
        assert not outcome(merkle.verify_inclusion, index, size * 2, leaves[index], proof, root)
        assert not outcome(merkle.verify_inclusion, index, size, flip(leaves[index], rng), proof, root)
        assert not outcome(merkle.verify_inclusion, index, size, leaves[index], proof, flip(root, rng))


def test_generated_consistency_proofs_verify_and_break_when_touched() -> None:
    rng = random.Random(2013)
    for _ in range(150):
        second = rng.randint(1, 200)
        first = rng.randint(1, second)
        leaves = [leaf_hash(rng.randbytes(16)) for _ in range(second)]
        r1, r2 = root_of(leaves[:first]), root_of(leaves)
        proof = merkle.prove_consistency(first, second, hasher_over(leaves))
        merkle.verify_consistency(first, second, proof, r1, r2)
        assert not outcome(merkle.verify_consistency, first, second, proof, flip(r1, rng), r2)
        assert not outcome(merkle.verify_consistency, first, second, proof, r1, flip(r2, rng))
        if proof:
            bad = list(proof)
            j = rng.randrange(len(bad))
            bad[j] = flip(bad[j], rng)
            assert not outcome(merkle.verify_consistency, first, second, bad, r1, r2)
        if first < second:
            assert not outcome(merkle.verify_consistency, first + 1, second, proof, r1, r2)
            assert not outcome(merkle.verify_consistency, first, second * 2, proof, r1, r2)
        # A forked log (one old leaf changed) is never consistent with the original.
        forked = list(leaves)
        forked[rng.randrange(first)] = leaf_hash(b"forged")
        fork_proof = merkle.prove_consistency(first, second, hasher_over(forked))
        assert not outcome(merkle.verify_consistency, first, second, fork_proof, r1, root_of(forked))


def test_generated_subtree_proofs_verify() -> None:
    rng = random.Random(7)
    for _ in range(200):
        size = rng.randint(1, 130)
        leaves = [leaf_hash(rng.randbytes(8)) for _ in range(size)]
        width = 1 << rng.randrange(size.bit_length())
        start = rng.randrange(0, size, width)
        end = min(size, start + rng.randint(1, width))
        assert merkle.is_valid_subtree(start, end)
        sub_root = root_of(leaves[start:end])
        proof = merkle.prove_subtree_consistency(start, end, size, hasher_over(leaves))
        merkle.verify_subtree_consistency(start, end, size, proof, sub_root, root_of(leaves))
        assert not outcome(
            merkle.verify_subtree_consistency, start, end, size, proof, flip(sub_root, rng), root_of(leaves)
        )
        index = rng.randrange(start, end)
        inner = merkle.prove_inclusion(index - start, end - start, hasher_over(leaves[start:end]))
        merkle.verify_subtree_inclusion(index, start, end, leaves[index], inner, sub_root)


def test_proof_shapes_follow_the_rfc_examples() -> None:
    """RFC 6962 §2.1.3: the consistency proofs of the 7-leaf example tree."""
    assert merkle.consistency_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]
    assert merkle.consistency_ranges(4, 7) == [(4, 7)]
    assert merkle.consistency_ranges(6, 7) == [(4, 6), (6, 7), (0, 4)]
    assert merkle.inclusion_ranges(0, 7) == [(1, 2), (2, 4), (4, 7)]
    assert merkle.inclusion_ranges(3, 7) == [(2, 3), (0, 2), (4, 7)]
    assert merkle.inclusion_ranges(6, 7) == [(4, 6), (0, 4)]
