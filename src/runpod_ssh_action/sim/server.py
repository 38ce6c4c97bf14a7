"""The HTTP(S) base under every API of the stand-in.

One ``Endpoint`` is one ``ThreadingHTTPServer`` on a free port (of loopback unless
told another address) serving one
``App``. The endpoint owns what all APIs share: TLS, reading requests, taking the
next scheduled fault for the operation and acting it out (down to a TCP reset after
the request was carried out), and recording every request. Apps only classify a
request (which API, which operation) and answer it.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from ..clock import Clock
from ..errors import CancelledError
from .faults import Fault, FaultSchedule
from .record import Recorder, RequestRecord

ADMIN_PREFIX = "/_sim/admin/"

# Headers the endpoint computes itself; an app's own values would contradict them.
_FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pod_ids: tuple[str, ...] = ()
    principal: str | None = None

    @staticmethod
    def json(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(data).encode(),
        )

    @staticmethod
    def text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, text.encode()
        )


class App(Protocol):
    def classify(self, request: Request) -> tuple[str, str]:
        """The (api, operation) a request belongs to; faults are scheduled by operation."""
        ...

    def handle(self, request: Request) -> Response: ...


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; rounding up never invites an early retry."""
    return str(max(0, math.ceil(seconds)))


def truncated_json(body: bytes) -> bytes:
    """A body cut in half, guaranteed not to parse as JSON."""
    cut = body[: len(body) // 2]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return b'{"data": {"'


class Endpoint:
    def __init__(
        self,
        app: App,
        *,
        clock: Clock,
        faults: FaultSchedule,
        recorder: Recorder,
        timeout_hold: float,
        on_error: Callable[[BaseException], None],
        tls: ssl.SSLContext | None = None,
        admin: Callable[[Request], Response] | None = None,
        host: str = "127.0.0.1",
    ):
        self.app = app
        self.host = host
        self.clock = clock
        self.faults = faults
        self.recorder = recorder
        self.timeout_hold = timeout_hold
        self.on_error = on_error
        self.admin = admin
        self._server = _HttpServer(self, tls, host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sim-http-{self.port}",
            daemon=True,
        )
        self.scheme = "https" if tls else "http"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to notice; it would wait forever if the
        # loop never ran.
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(timeout=5)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Shutdown must not wait for clients that keep idle connections open.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, endpoint: Endpoint, tls: ssl.SSLContext | None, host: str):
        self.endpoint = endpoint
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we never need.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:
            # The handshake runs in the connection's own thread (see _Handler.setup),
            # so one stalled client cannot hold up accepting the next.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._connections_lock:
            self._connections.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that hung up, timed out or refused our certificate is not our bug.
        if error is None or isinstance(error, OSError):
            return
        self.endpoint.on_error(error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        """The record is the log; stderr stays quiet."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    # --- one request ---------------------------------------------------------

    def _serve(self) -> None:
        endpoint = self.server.endpoint
        started, wall = time.monotonic(), time.time()
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(self.headers.items()),
            body=self._read_body(),
        )
        if endpoint.admin is not None and request.path.startswith(ADMIN_PREFIX):
            admin = endpoint.admin
            self._send(self._guarded(lambda: admin(request)))
            return

        try:
            api, operation = endpoint.app.classify(request)
        except Exception as error:  # a stand-in bug must surface, not look like an outage
            endpoint.on_error(error)
            api, operation = "unknown", "unknown"
        fault = endpoint.faults.take(operation)
        answer, acted = self._apply(request, fault)
        source = acted or answer
        # Recorded before the answer goes out: a client that has its answer finds
        # the request in the record.
        endpoint.recorder.add(
            RequestRecord(
                api=api,
                operation=operation,
                method=request.method,
                path=request.path,
                status=answer.status if answer is not None else None,
                started=started,
                wall=wall,
                duration=time.monotonic() - started,
                fault=fault.kind if fault else None,
                acted=acted is not None,
                pod_ids=source.pod_ids if source else (),
                principal=source.principal if source else None,
            )
        )
        if answer is not None:
            self._send(answer)

    def _apply(
        self, request: Request, fault: Fault | None
    ) -> tuple[Response | None, Response | None]:
        """Return (the answer to send, if any; the app's response, if it acted)."""
        if fault is None:
            response = self._act(request)
            return response, response
        kind = fault.kind
        if kind == "reset_before":
            self._reset()
            return None, None
        if kind == "rate_limited":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = retry_after_header(fault.retry_after)
            body = {
                "errors": [
                    {"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}
                ]
            }
            return Response.json(429, body, headers), None
        if kind == "delay":
            if not self._wait(fault.seconds or 0.0):
                return None, None
            response = self._act(request)
            return response, response

        acted = self._act(request) if fault.act else None
        if kind == "status":
            code = fault.http_status or 500
            text = fault.body if fault.body is not None else HTTPStatus(code).phrase
            return Response.text(code, text, fault.headers), acted
        if kind == "graphql_error":
            error: dict[str, Any] = {"message": fault.message or "Something went wrong."}
            if fault.code:
                error["extensions"] = {"code": fault.code}
            return Response.json(200, {"data": None, "errors": [error]}), acted
        if kind == "timeout":
            hold = fault.seconds if fault.seconds is not None else self.server.endpoint.timeout_hold
            self._wait(hold)
            self.close_connection = True
            return None, acted
        if kind == "reset_after":
            self._reset()
            return None, acted
        # malformed
        broken = truncated_json(acted.body if acted is not None else b"")
        return Response(200, {"Content-Type": "application/json"}, broken), acted

    def _act(self, request: Request) -> Response:
        return self._guarded(lambda: self.server.endpoint.app.handle(request))

    def _guarded(self, call: Callable[[], Response]) -> Response:
        try:
            return call()
        except Exception as error:
            self.server.endpoint.on_error(error)
            return Response.text(500, "stand-in internal error:\n" + traceback.format_exc())

    def _wait(self, seconds: float) -> bool:
        """Sleep on the stand-in's clock; False if the stand-in is shutting down."""
        try:
            self.server.endpoint.clock.sleep(seconds)
        except CancelledError:
            self.close_connection = True
            return False
        return True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into an RST, as a dropped
        # connection looks to the client; the real close happens when the handler's
        # file objects let go of the socket.
        with contextlib.suppress(OSError):  # the client already hung up
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name.lower() not in _FRAMING_HEADERS:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:
            self.close_connection = True
