"""An in-process sliding-window limiter for the password-taking routes, keyed by client origin.

Memory is bounded: at most ``max_keys`` origins are tracked, the least recently seen forgotten
first, and each keeps at most ``limit`` timestamps. Per-account lockout (in the database) still
holds for an attacker who rotates addresses; this only slows spraying from one address.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one request from ``key``: None if allowed, else the seconds until one is.
        Refused requests are not counted, so a client that waits gets through."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = deque(maxlen=self.limit)
                self._hits[key] = hits
                while len(self._hits) > self.max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            return None

    def __len__(self) -> int:
        return len(self._hits)
