"""One SQLite writer at a time, across threads and processes, and the next one woken at once.

SQLite lets one transaction write at a time; a writer that finds the lock taken (``BEGIN
IMMEDIATE``) waits in SQLite's busy handler, which sleeps and polls with growing pauses (up to
100 ms each). Two server processes each committing groups of audited reads (security/audit_group.py)
then spent most of their time asleep while the lock was free: two workers were no faster than
one, and the slowest reads waited hundreds of ms. Writers queue instead on an ``flock`` of a file
beside the database (and, in one process, on a lock of their own, since ``flock`` is per open
file): the kernel wakes the next writer the moment the lock is released, and ``BEGIN IMMEDIATE``
then finds SQLite's lock free. Read-only transactions take neither. A writer that does not take
it (another program on the file) is still serialised by SQLite itself, as before.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = "-writer.lock"


class WriterLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + SUFFIX)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._thread = threading.RLock()  # re-entered by a refusal recorded as its transaction ends
        self._depth = 0
        weakref.finalize(self, os.close, self._fd)

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread:
            self._depth += 1
            try:
                if self._depth == 1:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
