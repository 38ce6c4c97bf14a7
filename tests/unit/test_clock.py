"""The system clock's sleeps end early, with ``CancelledError``, on a cancel signal
and once the step has ended (``stop``): no worker may outlive its step."""

from __future__ import annotations

import threading

import pytest

from runpod_ssh_action.clock import SystemClock
from runpod_ssh_action.errors import CancelledError

# Far longer than any of these tests may take: a sleep still running at the look
# would have run its full length.
FOREVER = 3600.0
LOOK_AFTER = 30.0


def _sleeper(clock: SystemClock) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []
    started = threading.Event()

    def sleep() -> None:
        started.set()
        try:
            clock.sleep(FOREVER)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=sleep, daemon=True)
    thread.start()
    started.wait()
    return thread, raised


def test_stop_ends_a_sleep_under_way() -> None:
    clock = SystemClock()
    thread, raised = _sleeper(clock)

    clock.stop()
    thread.join(LOOK_AFTER)

    assert not thread.is_alive()
    assert [type(e) for e in raised] == [CancelledError]


def test_a_cancel_ends_a_sleep_under_way() -> None:
    cancelled = threading.Event()
    clock = SystemClock(cancelled)
    thread, raised = _sleeper(clock)

    cancelled.set()
    thread.join(LOOK_AFTER)

    assert not thread.is_alive()
    assert [type(e) for e in raised] == [CancelledError]


def test_after_stop_every_sleep_raises_at_once_and_a_plain_sleep_returns() -> None:
    clock = SystemClock()
    clock.sleep(0)
    clock.sleep(0.01)

    clock.stop()

    for seconds in (0.0, FOREVER):
        with pytest.raises(CancelledError):
            clock.sleep(seconds)
    # Stopping is the step's end, not a cancel signal: the teardown can still tell them apart.
    assert not clock.cancelled.is_set()
