"""Resolved tokens kept in one process's memory, each valid for one credential epoch.

Resolving a token on every request read the token, its account and its lab, and opened a write
transaction (SQLite's write lock) to note its use. A process keeps what it resolved under the
token's digest, tagged with the credential epoch it was read after (identity/credential_epoch.py);
a request reads the epoch (one row, no write lock) and trusts memory only when it has not moved.
A revocation, a password or role change or a disabled account moves it by trigger: the very next
request resolves again, in every process. Entries also age out (:data:`MAX_AGE`), so nothing the
epoch would not cover lives long, and their number is bounded (:data:`MAX_ENTRIES`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from labvault.identity.accounts import Account

MAX_ENTRIES = 10_000
MAX_AGE = 60.0  # seconds


@dataclass(frozen=True)
class ResolvedToken:
    """What a token resolved to: its account (as ``resolve_token`` returns it), when it was last
    used as far as this process knows, and the epoch it was read after."""

    account: Account
    last_used: dt.datetime
    epoch: int
    cached_at: float  # monotonic seconds


class TokenCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_age: float = MAX_AGE) -> None:
        self._entries: OrderedDict[bytes, ResolvedToken] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_age = max_age

    def get(self, digest: bytes, epoch: int | None) -> ResolvedToken | None:
        """The entry for ``digest`` if it was read at ``epoch`` and is young enough; else None
        (and a stale entry is dropped)."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if epoch is None or entry.epoch != epoch or time.monotonic() - entry.cached_at > self.max_age:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry

    def put(self, digest: bytes, account: Account, last_used: dt.datetime, epoch: int | None) -> None:
        if epoch is None:
            return
        with self._lock:
            self._entries[digest] = ResolvedToken(account, last_used, epoch, time.monotonic())
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def used(self, digest: bytes, at: dt.datetime) -> None:
        """Note a use written to the database (the entry's idle clock restarts)."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and at > entry.last_used:
                self._entries[digest] = ResolvedToken(entry.account, at, entry.epoch, entry.cached_at)
