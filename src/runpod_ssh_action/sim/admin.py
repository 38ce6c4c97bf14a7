"""The admin endpoint, for processes other than the one running the stand-in.

All calls need the header ``X-Sim-Admin-Token: <token>`` (else HTTP 403).

- ``POST /_sim/admin/faults`` with ``{"operation": "podTerminate", "faults":
  [{"kind": "reset_after"}, {"kind": "status", "http_status": 502}]}`` appends to
  that operation's schedule; ``{"clear": true}`` empties every schedule. Fault
  fields are those of ``Fault`` (kind, act, http_status, body, headers, message,
  code, seconds, retry_after).
- ``GET /_sim/admin/faults``: the faults still pending, per operation.
- ``GET /_sim/admin/requests[?api=&operation=]``: the record.
- ``GET /_sim/admin/pods``: every pod, terminated ones included.
- ``POST /_sim/admin/switches`` with any of ``{"spot_in_schema": false,
  "spot_terminate_after": false, "no_capacity_answer": "null"}``: how the API answers
  from now on (see ``SimConfig``); answers with the switches as they are.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Callable
from typing import Any

from .cloud import Cloud, PodInfo
from .faults import Fault, FaultSchedule
from .record import Recorder
from .server import ADMIN_PREFIX, Request, Response

TOKEN_HEADER = "X-Sim-Admin-Token"  # noqa: S105 - a header name, not a secret


def _json(status: int, data: Any) -> Response:
    return Response(
        status,
        {"Content-Type": "application/json"},
        json.dumps(data, default=str).encode(),
    )


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


class Admin:
    def __init__(
        self,
        token: str,
        faults: FaultSchedule,
        recorder: Recorder,
        pods: Callable[[], list[PodInfo]],
        cloud: Cloud | None = None,
    ):
        self.token = token
        self.faults = faults
        self.recorder = recorder
        self.pods = pods
        self.cloud = cloud

    def __call__(self, request: Request) -> Response:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _json(403, {"message": f"missing or wrong {TOKEN_HEADER}"})
        route = (request.method, request.path.removeprefix(ADMIN_PREFIX).rstrip("/"))
        if route == ("POST", "faults"):
            return self._add_faults(request.body)
        if route == ("GET", "faults"):
            return _json(200, self._pending())
        if route == ("GET", "requests"):
            api = _first(request.query, "api")
            operation = _first(request.query, "operation")
            return _json(200, [r.to_json() for r in self.recorder.requests(api, operation)])
        if route == ("POST", "switches") and self.cloud is not None:
            return self._set_switches(request.body)
        if route == ("GET", "pods"):
            return _json(200, [dataclasses.asdict(p) for p in self.pods()])
        return _json(404, {"message": f"no admin route {request.method} {request.path}"})

    def _pending(self) -> dict[str, list[dict[str, Any]]]:
        return {op: [f.to_json() for f in faults] for op, faults in self.faults.pending().items()}

    def _add_faults(self, body: bytes) -> Response:
        try:
            data = json.loads(body or b"{}")
            if data.get("clear"):
                self.faults.clear()
                return _json(200, self._pending())
            operation = data["operation"]
            if not isinstance(operation, str) or not operation:
                raise ValueError("'operation' must be a non-empty string")
            faults = [Fault.from_json(f) for f in data["faults"]]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return _json(400, {"message": f"bad fault request: {error}"})
        self.faults.add(operation, *faults)
        return _json(200, self._pending())

    def _set_switches(self, body: bytes) -> Response:
        assert self.cloud is not None
        cloud = self.cloud
        try:
            data = json.loads(body or b"{}")
            unknown = set(data) - {"spot_in_schema", "spot_terminate_after", "no_capacity_answer"}
            if unknown:
                raise ValueError(f"unknown switches: {', '.join(sorted(unknown))}")
            if "no_capacity_answer" in data:
                cloud.set_no_capacity_answer(str(data["no_capacity_answer"]))
        except (ValueError, TypeError, AttributeError) as error:
            return _json(400, {"message": f"bad switch request: {error}"})
        if "spot_in_schema" in data:
            cloud.remove_spot_from_schema(not data["spot_in_schema"])
        if "spot_terminate_after" in data:
            cloud.refuse_spot_terminate_after(not data["spot_terminate_after"])
        return _json(
            200,
            {
                "spot_in_schema": cloud.spot_in_schema,
                "spot_terminate_after": cloud.spot_terminate_after,
                "no_capacity_answer": cloud.no_capacity_answer,
            },
        )
