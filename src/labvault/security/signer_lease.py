"""Which of several server processes signs the audit heads on schedule: the one holding the lease.

``labvault serve --workers N`` runs N processes on one database and one checkpoint directory, each
with the app's checkpoint schedule. Signing is safe from any number of them (the heads are read and
signed under ``signing_lock``, security/checkpoint.py), but N schedules would sign the same heads N
times an interval. The lease is an exclusive ``flock`` on a file beside the checkpoints, taken
without waiting: one process holds it and signs on schedule, the others poll for it. The kernel
drops it when its holder exits, even on SIGKILL, so a dead worker's successor or a sibling takes
over at its next poll. Every process still signs once at its own graceful stop, after its last
request.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

LEASE_FILE = ".audit-signer.lease"


class SignerLease:
    """A non-blocking, process-wide exclusive lock on ``<directory>/.audit-signer.lease``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LEASE_FILE
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """True if this process holds the lease (already, or from now on); never waits. Raises
        OSError if the directory cannot hold the lease file."""
        with self._lock:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return True

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # closing the only descriptor drops the flock
                self._fd = None
