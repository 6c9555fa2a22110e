"""When the server signs the audit heads: the unsigned tail stays bounded in time and in events.

Entries appended after the last signed checkpoint can be deleted from the database unseen (the
hash chain and the head are recomputable; only the signature is not). So the server signs at
least every ``interval`` seconds, sooner once ``events`` entries were appended since the last
signature (counted from the chain heads, so entries other processes append count too), and once
more when it stops gracefully (``stop``, called from the app's lifespan shutdown: SIGTERM and
SIGINT alike). A crash or SIGKILL leaves at most about ``interval`` seconds or ``events`` entries
(plus one poll's worth) unsigned; a refused checkpoint (a tampered log) is reported, never silent.

Several processes serving one platform share a :class:`SignerLease`: only its holder signs on
schedule (the others poll for it, and take over when the holder exits); every one of them signs at
its own stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Table, func, select

from labvault.security.audit_verifier import AuditVerifier
from labvault.security.gate import Gate
from labvault.security.models import AuditHead
from labvault.security.signer_lease import SignerLease
from labvault.store.database import Database

_HEADS: Table = AuditHead.__table__  # type: ignore[assignment]
POLL_SECONDS = 1.0  # how often the heads are counted: the event bound is exceeded by one poll at most


class CheckpointSchedule:
    """A thread that signs the audit heads when due; ``stop`` signs one last time."""

    def __init__(
        self,
        db: Database,
        audit: AuditVerifier,
        *,
        interval: float,
        events: int,
        report: Callable[[str], None],
        poll: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        lease: SignerLease | None = None,
    ) -> None:
        self.db, self.audit = db, audit
        self.lease = lease  # None: this schedule is the only signer
        self.gate = Gate(db)
        self.interval, self.events, self.poll = interval, events, min(poll, interval)
        self.report = report
        self.clock = clock
        self.signed = 0  # checkpoints this schedule signed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._signed_at = clock()
        self._signed_total: int | None = None  # entries in all chains at the last signature

    def appended(self) -> int:
        """Entries in every chain together, from the heads (one small indexed read)."""
        with self.gate.maintenance() as session:
            return int(session.execute(select(func.coalesce(func.sum(_HEADS.c.last_seq), 0))).scalar_one())

    def due(self, total: int) -> bool:
        if self._signed_total is None:  # first poll: what came before this process is signed now
            return True
        return total - self._signed_total >= self.events or self.clock() - self._signed_at >= self.interval

    def tick(self) -> bool:
        """One poll: sign if due. True if a checkpoint was signed. Never raises: a failure is
        reported, and retried at the next interval rather than at every poll."""
        try:
            total = self.appended()
            if not self.due(total):
                return False
            self._signed_at, self._signed_total = self.clock(), total
            self.audit.checkpoint_heads()
        except Exception as exc:  # a broken log or database must not stop the schedule
            self.report(f"audit checkpoint refused: {exc}")
            return False
        self.signed += 1
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            if self._leading():
                self.tick()
            if self._stop.wait(self.poll):
                return

    def _leading(self) -> bool:
        """Whether this schedule signs now: it has no lease to share, or holds it. A lease that
        cannot be taken (an unwritable directory) is reported once, and this schedule signs anyway:
        several signers are safe, none is not."""
        if self.lease is None:
            return True
        try:
            return self.lease.acquire()
        except OSError as exc:
            self.report(f"audit signer lease unavailable, signing on schedule anyway: {exc}")
            self.lease = None
            return True

    def stop(self) -> bool:
        """Stop the thread, then sign the heads as they are now (the graceful-stop checkpoint).
        True if it was signed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.audit.checkpoint_heads()
        except Exception as exc:  # reported: the operator must see an unsigned stop
            self.report(f"audit checkpoint at shutdown refused: {exc}")
            return False
        finally:
            if self.lease is not None:
                self.lease.release()  # after the last signature: a sibling takes over
        self.signed += 1
        return True
