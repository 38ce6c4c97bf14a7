"""How GitHub says "slow down", as a ``RateLimitRule`` for the transport.

GitHub's documented rule: a 403 or 429 is a rate limit if it carries ``retry-after``
(wait that long), or ``x-ratelimit-remaining: 0`` (wait until ``x-ratelimit-reset``),
or says so in its body (a secondary limit: wait at least a minute, longer each time).
Any other 403 is a missing permission and goes back to the caller untouched.
"""

from __future__ import annotations

import threading

import requests

from ..clock import Clock
from ..transport import retry_after_seconds

SECONDARY_LIMIT_WAIT = 60.0
# ``x-ratelimit-reset`` has whole-second resolution; GitHub asks to retry only after it.
RESET_MARGIN_SECONDS = 1.0
_LIMITED_STATUSES = (403, 429)
_LIMIT_WORDS = ("rate limit", "abuse detection")


class GitHubRateLimitRule:
    """Stateful only in the secondary-limit streak, which grows the wait 60, 120, 240 s
    while GitHub keeps refusing and resets with the first answer that is not limited."""

    def __init__(self) -> None:
        self._streak = 0
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, clock: Clock) -> float | None:
        if response.status_code not in _LIMITED_STATUSES:
            self._reset()
            return None
        retry_after = retry_after_seconds(response.headers.get("retry-after"), clock)
        if retry_after is not None:
            return retry_after
        headers = response.headers
        if headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(headers.get("x-ratelimit-reset", ""))
            except ValueError:
                reset = None
            if reset is not None:
                return max(0.0, reset - clock.now().timestamp()) + RESET_MARGIN_SECONDS
        # A 429 means "too many requests" by definition, with or without a reason.
        if response.status_code == 429 or _says_rate_limited(response):
            with self._lock:
                self._streak += 1
                return float(SECONDARY_LIMIT_WAIT * 2 ** (self._streak - 1))
        self._reset()
        return None

    def _reset(self) -> None:
        with self._lock:
            self._streak = 0


def _says_rate_limited(response: requests.Response) -> bool:
    try:
        text = response.text.lower()
    except (UnicodeDecodeError, LookupError):
        return False
    return any(word in text for word in _LIMIT_WORDS)
