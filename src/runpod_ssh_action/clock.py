"""Time as a seam: every wait and backoff in the action goes through a ``Clock``.

``SystemClock`` sleeps for real but wakes at once when the step is cancelled, so a
SIGTERM never waits out a poll interval, and within ``STOP_POLL`` once the step has
ended (``stop``), so no worker outlives it: Python joins worker threads at exit, and one
still waiting for a pod would keep the step from finishing. ``FakeClock`` advances
instantly, for tests and for benchmarks that compress the provider's time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import CancelledError

# How late a sleep notices ``stop``: it waits on the cancel signal's event, which only
# the signal handler may set, so the end of the step is looked at between slices.
STOP_POLL = 0.1


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for deadlines and durations."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware UTC; for timestamps and API dates."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; raises ``CancelledError`` if the step is cancelled or has ended."""
        ...


class SystemClock:
    def __init__(self, cancelled: threading.Event | None = None):
        self.cancelled = cancelled or threading.Event()
        self._stopped = threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def stop(self) -> None:
        """The step is over: every sleep, now or later, raises ``CancelledError``."""
        self._stopped.set()

    def sleep(self, seconds: float) -> None:
        ends = time.monotonic() + max(0.0, seconds)
        while not self._stopped.is_set():
            if self.cancelled.wait(min(STOP_POLL, max(0.0, ends - time.monotonic()))):
                break
            if time.monotonic() >= ends:
                return
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
