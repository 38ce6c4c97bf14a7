"""Time as a seam: every wait and backoff in the action goes through a ``Clock``.

``SystemClock`` sleeps for real but wakes at once when the step is cancelled, so a
SIGTERM never waits out a poll interval. ``FakeClock`` advances instantly, for tests
and for benchmarks that compress the provider's time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import CancelledError


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for deadlines and durations."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware UTC; for timestamps and API dates."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; raises ``CancelledError`` if the step is cancelled meanwhile."""
        ...


class SystemClock:
    def __init__(self, cancelled: threading.Event | None = None):
        self.cancelled = cancelled or threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if self.cancelled.wait(max(0.0, seconds)):
            raise CancelledError()


class FakeClock:
    """A clock that only moves when slept on; records every sleep for assertions."""

    def __init__(self, start: datetime | None = None):
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += seconds


def remaining(clock: Clock, deadline: float) -> float:
    """Seconds left until ``deadline`` (a ``monotonic`` value), never negative."""
    return max(0.0, deadline - clock.monotonic())
