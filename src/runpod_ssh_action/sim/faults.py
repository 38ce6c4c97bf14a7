"""Faults the stand-in injects, one per request, in the order they were scheduled.

A schedule is a FIFO per operation name: each request to that operation takes the
next fault, and once the queue is empty requests are served normally again. Every
fault says whether the request is carried out ("acts") before the fault shows; a
fault that acts and then loses the answer is the case a client must reconcile.

=================  =======================================================  ========
kind               what the client sees                                     acts
=================  =======================================================  ========
status             that HTTP status (body and headers as given)             ``act``
graphql_error      HTTP 200 with ``errors[]`` (message, extensions.code)    ``act``
delay              the normal answer, ``seconds`` late                      yes
timeout            nothing for ``hold`` seconds, then a closed connection   ``act``
reset_before       a TCP reset before anything is done                      no
reset_after        a TCP reset after the request was carried out            yes
malformed          HTTP 200 with a truncated JSON body                      ``act``
rate_limited       HTTP 429, with ``Retry-After`` when given                no
=================  =======================================================  ========
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "status",
    "graphql_error",
    "delay",
    "timeout",
    "reset_before",
    "reset_after",
    "malformed",
    "rate_limited",
)


@dataclass(frozen=True)
class Fault:
    kind: str
    act: bool = False
    http_status: int | None = None
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    code: str | None = None
    seconds: float | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")

    @staticmethod
    def status(
        code: int,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        act: bool = False,
    ) -> Fault:
        return Fault("status", act=act, http_status=code, body=body, headers=dict(headers or {}))

    @staticmethod
    def graphql_error(message: str, code: str | None = None, *, act: bool = False) -> Fault:
        return Fault("graphql_error", act=act, message=message, code=code)

    @staticmethod
    def delay(seconds: float) -> Fault:
        return Fault("delay", act=True, seconds=seconds)

    @staticmethod
    def timeout(hold: float | None = None, *, act: bool = False) -> Fault:
        """``hold`` defaults to the stand-in's ``timeout_hold``."""
        return Fault("timeout", act=act, seconds=hold)

    @staticmethod
    def reset_before() -> Fault:
        return Fault("reset_before")

    @staticmethod
    def reset_after() -> Fault:
        return Fault("reset_after", act=True)

    @staticmethod
    def malformed(*, act: bool = True) -> Fault:
        """By default the request is carried out and its answer arrives cut in half,
        as from a proxy that dropped the connection mid-body."""
        return Fault("malformed", act=act)

    @staticmethod
    def rate_limited(retry_after: float | None = None) -> Fault:
        return Fault("rate_limited", retry_after=retry_after)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["headers"] = dict(self.headers)
        return {key: value for key, value in data.items() if value not in (None, {})}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Fault:
        known = set(Fault.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return Fault(**{**data, "headers": dict(data.get("headers") or {})})


class FaultSchedule:
    """Per-operation FIFO queues of faults; safe to use from any thread."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, *faults: Fault) -> None:
        with self._lock:
            self._queues.setdefault(operation, deque()).extend(faults)

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            queue = self._queues.get(operation)
            return queue.popleft() if queue else None

    def pending(self) -> dict[str, list[Fault]]:
        with self._lock:
            return {op: list(queue) for op, queue in self._queues.items() if queue}

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
