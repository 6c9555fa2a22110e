"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs: pure functions, no database.

The audit log keeps one tree per chain; its leaves are the chain's ``entry_hash`` values in
``chain_seq`` order. Leaves and nodes are domain-separated (``0x00`` / ``0x01``) so a leaf can never
pass for a node. Proofs are built in two steps: which subtrees ``[lo, hi)`` a proof is made of
(fixed by the sizes alone), then the hash of each, from whatever source holds the leaves; the
verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.

``Frontier`` is the compact range ``[0, n)``: the roots of the perfect subtrees that make up the
first n leaves (one per set bit of n), enough to append a leaf and give the root in O(log n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
RangeHasher = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof, or the sizes and indexes it is about, is malformed or does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where MTH splits a tree of n leaves."""
    if n < 2:
        raise ValueError("a tree of fewer than 2 leaves has no split")
    return 1 << ((n - 1).bit_length() - 1)


# --- the compact range [0, n) ---------------------------------------------------------------------


@dataclass
class Frontier:
    """Roots of the perfect subtrees covering leaves ``[0, size)``, largest (leftmost) first."""

    size: int = 0
    nodes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash*; merges as many equal-sized subtrees as the new size allows."""
        self.nodes.append(leaf)
        self.size += 1
        merges = (self.size & -self.size).bit_length() - 1  # trailing zeros of the new size
        for _ in range(merges):
            right = self.nodes.pop()
            self.nodes[-1] = node_hash(self.nodes[-1], right)

    def extend(self, leaves: Iterable[bytes]) -> Frontier:
        for leaf in leaves:
            self.append(leaf)
        return self

    def root(self) -> bytes:
        """MTH of the first ``size`` leaves: fold the subtrees from the right."""
        if not self.nodes:
            return EMPTY_ROOT
        digest = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            digest = node_hash(node, digest)
        return digest

    def ranges(self) -> list[Range]:
        return frontier_ranges(self.size)

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.nodes))

    def to_bytes(self) -> bytes:
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a stored frontier; its length must match the size (one hash per set bit)."""
        count = size.bit_count() if size >= 0 else -1
        if count < 0 or len(data) != count * HASH_SIZE:
            raise ProofError(f"a frontier of size {size} holds {count} hashes, not {len(data)} bytes")
        nodes = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        return cls(size, nodes)


def frontier_ranges(size: int) -> list[Range]:
    """The perfect subtrees making up ``[0, size)``, left to right."""
    ranges: list[Range] = []
    start = 0
    for bit in reversed(range(size.bit_length())):
        if size >> bit & 1:
            ranges.append((start, start + (1 << bit)))
            start += 1 << bit
    return ranges


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (iterative: no recursion depth, O(n) hashes)."""
    return Frontier().extend(leaves).root()


def hasher_over(leaves: Sequence[bytes]) -> RangeHasher:
    """A range hasher over leaf hashes held in memory (``leaves[i]`` is leaf i)."""

    def subtree(lo: int, hi: int) -> bytes:
        return root_of(leaves[lo:hi])

    return subtree


# --- which subtrees a proof is made of ------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(index, D[size]) as subtree ranges, leaf-side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + split_point(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def is_valid_subtree(start: int, end: int) -> bool:
    """``[start, end)`` is a node of some tree: start is a multiple of BIT_CEIL(end - start)."""
    if start < 0 or end < start:
        return False
    size = end - start
    ceiling = 1 << (size - 1).bit_length() if size > 1 else 1
    return start % ceiling == 0


def subtree_consistency_ranges(start: int, end: int, size: int) -> list[Range]:
    """The subtrees proving that the (valid, non-empty) subtree ``[start, end)`` sits in the tree of
    ``size`` leaves. With ``start == 0`` this is RFC 9162 §2.1.4.1 PROOF(end, D[size])."""
    if not (start < end <= size and is_valid_subtree(start, end)):
        raise ProofError(f"[{start}, {end}) is not a valid non-empty subtree of a tree of {size}")
    out: list[Range] = []
    lo, hi, known = 0, size, True
    suffix: list[Range] = []
    while not (start == lo and end == hi):
        mid = lo + split_point(hi - lo)
        if end <= mid:
            suffix.append((mid, hi))
            hi = mid
        elif start >= mid:
            suffix.append((lo, mid))
            lo = mid
        else:  # a valid subtree straddling the split starts at lo: the old tree of RFC 9162
            suffix.append((lo, mid))
            start, lo, known = mid, mid, False
    if not known:
        out.append((lo, hi))
    out.extend(reversed(suffix))
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """RFC 9162 §2.1.4.1 PROOF(first, D[second]) as subtree ranges."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    return [] if first == second else subtree_consistency_ranges(0, first, second)


def prove_inclusion(index: int, size: int, subtree: RangeHasher) -> list[bytes]:
    return [subtree(lo, hi) for lo, hi in inclusion_ranges(index, size)]


def prove_consistency(first: int, second: int, subtree: RangeHasher) -> list[bytes]:
    return [subtree(lo, hi) for lo, hi in consistency_ranges(first, second)]


def prove_subtree_consistency(start: int, end: int, size: int, subtree: RangeHasher) -> list[bytes]:
    return [subtree(lo, hi) for lo, hi in subtree_consistency_ranges(start, end, size)]


# --- verification ---------------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes], *named: tuple[str, bytes]) -> None:
    for name, value in named:
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")
    for i, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofError(f"proof[{i}] is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root a leaf and its inclusion path lead to."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hashes(proof, ("leaf hash", leaf))
    fn, sn = index, size - 1
    digest = leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return digest


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``leaf`` is leaf ``index`` of the tree ``(size, root)``."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """RFC 9162 §2.1.4.2: raise :class:`ProofError` unless the tree ``(second, second_root)``
    extends the tree ``(first, first_root)``."""
    if second < first:
        raise ProofError(f"size {second} is smaller than size {first}")
    if first == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if first == second:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if first_root != second_root:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof, ("first root", first_root), ("second root", second_root))
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("consistency proof does not lead to the second root")


def verify_subtree_inclusion(
    index: int, start: int, end: int, leaf: bytes, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Leaf ``index`` (absolute) is in the subtree ``[start, end)`` whose hash is ``subtree_root``."""
    if not (start < end and is_valid_subtree(start, end)):
        raise ProofError(f"[{start}, {end}) is not a valid non-empty subtree")
    if not start <= index < end:
        raise ProofError(f"leaf {index} is outside [{start}, {end})")
    verify_inclusion(index - start, end - start, leaf, proof, subtree_root)


def _hash_over(lo: int, hi: int, known: dict[Range, bytes]) -> bytes:
    if (lo, hi) in known:
        return known[(lo, hi)]
    if hi - lo < 2:
        raise ProofError(f"the proof does not cover [{lo}, {hi})")
    mid = lo + split_point(hi - lo)
    return node_hash(_hash_over(lo, mid, known), _hash_over(mid, hi, known))


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: Sequence[bytes], subtree_root: bytes, root: bytes
) -> None:
    """The subtree ``[start, end)`` with hash ``subtree_root`` sits at those positions in the tree
    ``(size, root)``. Each proof hash is assigned the subtree it stands for (fixed by the sizes);
    both hashes are then recomputed from those subtrees alone."""
    if not (is_valid_subtree(start, end) and end <= size):
        raise ProofError(f"[{start}, {end}) is not a valid subtree of a tree of {size}")
    if start == end:  # the empty subtree is in every tree
        if proof or subtree_root != EMPTY_ROOT:
            raise ProofError("an empty subtree has the empty hash and an empty proof")
        return
    if start == 0 and end == size:
        if proof or subtree_root != root:
            raise ProofError("the whole tree: an empty proof and equal roots")
        return
    ranges = subtree_consistency_ranges(start, end, size)
    if len(proof) != len(ranges):
        raise ProofError(f"proof has {len(proof)} hashes, {len(ranges)} expected")
    _check_hashes(proof, ("subtree root", subtree_root), ("root", root))
    known = dict(zip(ranges, proof, strict=True))
    # A subtree that is a node of the tree is given, not proven; one that is not (an old tree of
    # RFC 9162) is rebuilt from the proof hashes that lie inside it.
    inside = {(lo, hi): h for (lo, hi), h in known.items() if start <= lo and hi <= end}
    if inside and _hash_over(start, end, inside) != subtree_root:
        raise ProofError("consistency proof does not lead to the subtree root")
    known[(start, end)] = subtree_root
    if _hash_over(0, size, known) != root:
        raise ProofError("consistency proof does not lead to the root")
