"""How RunPod says "slow down": the ``RateLimitRule`` its transport runs on every answer.

RunPod documents no GraphQL limit, so both shapes that may appear are honoured: HTTP
429 with an optional ``Retry-After`` (seconds or an HTTP date), and the spec's HTTP 200
whose ``errors[]`` say ``RATE_LIMITED`` (with ``extensions.resetAt``) or "rate limit".
A returned 0 tells the transport to use its own exponential backoff.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

from ..clock import Clock
from ..transport import retry_after_seconds
from .errors import is_rate_limit_error


def runpod_rate_limit(response: requests.Response, clock: Clock) -> float | None:
    if response.status_code == 429:
        return retry_after_seconds(response.headers.get("Retry-After"), clock) or 0.0
    if response.status_code != 200:
        return None
    content = response.content or b""
    # Cheap pre-check so ordinary answers are not parsed twice.
    if b"RATE_LIMITED" not in content and b"rate limit" not in content.lower():
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return None
    limited = [e for e in errors if is_rate_limit_error(e)]
    if not limited:
        return None
    return max(_reset_at(e, clock) for e in limited)


def _reset_at(error: Any, clock: Clock) -> float:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    reset = extensions.get("resetAt") if isinstance(extensions, dict) else None
    if not isinstance(reset, str):
        return 0.0
    try:
        when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return _until(when, clock)


def _until(when: datetime, clock: Clock) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())
