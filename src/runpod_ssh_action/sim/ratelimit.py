"""The RunPod side's optional request budget: sliding windows per API key."""

from __future__ import annotations

import threading
from collections import deque

from ..clock import Clock


class KeyRateLimit:
    """At most ``per_minute`` requests in any 60 s and ``per_second`` in any 1 s per
    key. A refused request does not count, so a client that waits the advertised
    ``Retry-After`` is served."""

    def __init__(self, clock: Clock, per_minute: int, per_second: int):
        self._clock = clock
        self._windows = ((60.0, per_minute), (1.0, per_second))
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> float | None:
        """Count a request and return None, or return the seconds until one would pass."""
        with self._lock:
            now = self._clock.monotonic()
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            wait = 0.0
            for span, limit in self._windows:
                recent = [t for t in seen if now - t < span]
                if len(recent) >= limit:
                    wait = max(wait, recent[-limit] + span - now)
            if wait > 0:
                return wait
            seen.append(now)
            return None
