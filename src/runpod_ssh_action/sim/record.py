"""The stand-in's record of every request it answered (or refused to answer)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request as the stand-in saw it.

    ``api`` is "runpod", "github" or "runner"; ``operation`` the GraphQL root field
    or the GitHub operation name. ``status`` is None when no answer was sent (a reset
    or a timeout). ``fault`` names the injected fault, ``acted`` says whether the
    request was carried out. ``started`` is ``time.monotonic()`` when the request
    arrived, ``wall`` the epoch time. ``principal`` is "account", "pod:<id>" or None.
    """

    api: str
    operation: str
    method: str
    path: str
    status: int | None
    started: float
    wall: float
    duration: float
    fault: str | None
    acted: bool
    pod_ids: tuple[str, ...]
    principal: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Recorder:
    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def requests(self, api: str | None = None, operation: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self._records
                if (api is None or r.api == api) and (operation is None or r.operation == operation)
            ]
