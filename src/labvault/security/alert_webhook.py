"""Optional push of new alerts to a webhook (``LABVAULT_ALERT_WEBHOOK_URL``): ids, kind, severity
and lab code only, never personal data.

Posted after the alert's transaction commits (an alert rolled back was never raised), from one
background thread with a bounded queue and a timeout: a slow or dead receiver never delays a
request, and at worst notifications are dropped (the alert itself is in the database regardless).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

import httpx

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
_STOP = object()


class WebhookNotifier:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, payloads: list[dict[str, Any]]) -> None:
        """Queue ``payloads``; never blocks, never raises."""
        self._start()
        for payload in payloads:
            try:
                self._queue.put_nowait(payload)
            except queue.Full:
                self.dropped += 1

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        # No proxies from the environment, no redirects: the alert goes where it was configured to.
        with httpx.Client(timeout=self.timeout, trust_env=False, follow_redirects=False) as client:
            while True:
                payload = self._queue.get()
                try:
                    if payload is _STOP:
                        return
                    response = client.post(self.url, json=payload)
                    if response.status_code >= 300:
                        self.failed += 1
                        log.warning("alert webhook answered %s", response.status_code)
                except httpx.HTTPError as exc:
                    self.failed += 1
                    log.warning("alert webhook unreachable: %s", type(exc).__name__)
                finally:
                    self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification was attempted (tests; shutdown)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
