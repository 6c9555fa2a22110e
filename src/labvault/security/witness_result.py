"""What one witness round found: per chain what was accepted, and every problem, named.

A problem names its chain (None when it concerns the whole answer: the manifest, an unreachable
server) and its kind. The kinds split in two: the server answered and what it answered does not
hold up (exit 1: evidence, or at least a server that no longer backs what it signed), or the
witness could not ask (exit 2: network, credentials), in which case it holds no evidence either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

EXIT_OK = 0
EXIT_INCONSISTENT = 1
EXIT_UNAVAILABLE = 2


class Kind(StrEnum):
    ROLLBACK = "rollback"  # a chain signed at a smaller size than one already accepted
    FORK = "fork"  # two signed trees of one size with different roots
    BAD_PROOF = "bad proof"  # the consistency proof does not join the accepted and the new root
    BAD_SIGNATURE = "bad signature"  # a note or the manifest not signed by the pinned key
    MISSING_CHAIN = "missing chain"  # a chain accepted before (or in the manifest) is not served
    MANIFEST_MISMATCH = "manifest mismatch"  # the notes and the signed manifest disagree
    SERVER_ERROR = "server error"  # an HTTP error or a malformed answer
    NETWORK = "network error"  # the server could not be reached
    CREDENTIALS = "credentials refused"  # HTTP 401/403: the token is wrong, expired or lacks audit.read

    @property
    def exit_code(self) -> int:
        return EXIT_UNAVAILABLE if self in (Kind.NETWORK, Kind.CREDENTIALS) else EXIT_INCONSISTENT


@dataclass(frozen=True)
class Problem:
    kind: Kind
    chain: str | None
    detail: str

    def __str__(self) -> str:
        where = f"chain {self.chain}" if self.chain is not None else "checkpoints"
        return f"{where}: {self.kind.value}: {self.detail}"


@dataclass(frozen=True)
class ChainOutcome:
    """A chain that passed: its signed size now, and the size accepted before (None: new)."""

    chain: str
    size: int
    previous: int | None

    def __str__(self) -> str:
        if self.previous is None:
            return f"chain {self.chain}: new, recorded at size {self.size}"
        if self.previous == self.size:
            return f"chain {self.chain}: unchanged at size {self.size}"
        if self.previous == 0:
            return f"chain {self.chain}: grew from 0 to {self.size} (every tree extends the empty one)"
        return f"chain {self.chain}: grew from {self.previous} to {self.size}, consistency proof verified"


@dataclass
class RoundResult:
    """Everything one round found; the state was written only if ``ok``."""

    problems: list[Problem] = field(default_factory=list)
    chains: list[ChainOutcome] = field(default_factory=list)
    state_written: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 if consistent; 1 if anything the server answered fails (evidence wins over a network
        error met on another chain); 2 if the witness could not ask."""
        if self.ok:
            return EXIT_OK
        return min(problem.kind.exit_code for problem in self.problems)

    def kinds(self, chain: str | None) -> set[Kind]:
        return {problem.kind for problem in self.problems if problem.chain == chain}
