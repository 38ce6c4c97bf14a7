"""Serving the GitHub side (``github.GitHubSim``) on an endpoint of its own.

The GitHub handler answers the REST API under "/" of its base URL, plus the stand-in
runner's own calls and the runner release download; those last two (operations
"runner/..." and "release/...") are recorded as api "runner".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .server import Request, Response

RUNNER_OPERATIONS = ("runner/", "release/")


class Reply(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...


class GitHubHandler(Protocol):
    def operation_for(self, method: str, path: str) -> str: ...

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply: ...


class GitHubApp:
    def __init__(self, github: GitHubHandler):
        self.github = github

    def classify(self, request: Request) -> tuple[str, str]:
        operation = self.github.operation_for(request.method, request.path)
        return ("runner" if operation.startswith(RUNNER_OPERATIONS) else "github"), operation

    def handle(self, request: Request) -> Response:
        reply = self.github.handle(
            request.method, request.path, request.query, request.headers, request.body
        )
        return Response(reply.status, dict(reply.headers), reply.body)
