"""TLS the action must refuse: a server stuck at TLS 1.1, a certificate from a CA it does
not trust, a key that matches none of the pins. Each is refused on the first connection
and never retried; a control client proves each server really is what it claims."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from runpod_ssh_action.clock import SystemClock
from runpod_ssh_action.errors import TlsError
from runpod_ssh_action.github import GitHubClient, RunnerScope
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.runpod import RunPodClient
from runpod_ssh_action.sim import StandIn
from runpod_ssh_action.transport import ApiLog

from ..e2e import actionrun as action
from .support import A6000, Tally, step_problems

ANSWER = json.dumps({"data": {"myself": {"id": "user-1"}}}).encode()
WRONG_PIN = "A" * 43 + "="


class TlsServer:
    """A one-answer HTTPS server on loopback that counts the connections it accepts;
    it reads each request whole, and answers it with ``Connection: close``."""

    def __init__(self, context: ssl.SSLContext):
        self.context = context
        self.connections = 0
        self.handshakes = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/graphql"

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError), self.context.wrap_socket(conn, server_side=True) as tls:
            self.handshakes += 1
            _read_request(tls)
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(ANSWER)}\r\nConnection: close\r\n\r\n".encode()
                + ANSWER
            )


def _read_request(tls: ssl.SSLSocket) -> None:
    """Read one whole request before answering. urllib3 writes a request's head and
    body with separate sends (``HTTPConnection.request``), so they travel as two TLS
    records, and one ``recv`` returns at most one. A server that answers after the head
    closes with the body unread, the kernel answers that close with a reset, and the
    reset can wipe out the answer before the client has read it (RFC 9112 section 9.6):
    the client sees a broken connection, on every retry when the machine is loaded."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = (line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    length = next((int(v) for k, v in fields if k.strip().lower() == b"content-length"), 0)
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            return
        body += chunk


def _server_context(cert: trustme.LeafCert, *, tls11_only: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if tls11_only:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        # OpenSSL 3 will not even offer TLS 1.1 above security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.fixture
def ca(tmp_path: Path) -> Iterator[tuple[trustme.CA, str]]:
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    yield authority, str(bundle)


def _runpod(url: str, ca_bundle: str, pins: frozenset[str] = frozenset()) -> RunPodClient:
    masker = Masker()
    return RunPodClient(
        "rpa_" + "T" * 44,
        url=url,
        clock=SystemClock(),
        masker=masker,
        log=ApiLog(masker),
        ca_bundle=ca_bundle,
        pins=pins,
        limiter=False,
    )


def _refused(client: RunPodClient) -> TlsError:
    with client, pytest.raises(TlsError) as caught:
        client.myself()
    return caught.value


def test_a_server_offering_only_tls_1_1_is_refused_at_once(
    ca: tuple[trustme.CA, str], tally: Tally
) -> None:
    authority, bundle = ca
    context = _server_context(authority.issue_cert("127.0.0.1"), tls11_only=True)
    with TlsServer(context) as server:
        control = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        authority.configure_trust(control)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            control.minimum_version = ssl.TLSVersion.TLSv1
        control.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with (
                socket.create_connection(("127.0.0.1", server.port)) as raw,
                control.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                version = tls.version()
        except ssl.SSLError as exc:
            pytest.skip(f"this OpenSSL will not speak TLS 1.1 even at level 0: {exc}")
        assert version == "TLSv1.1"
        before = server.connections

        error = _refused(_runpod(server.url, bundle))
    attempts = server.connections - before
    tally.add("TLS 1.1-only server refused", held=attempts == 1, note=f"{attempts} connection")
    assert "TLS 1.2" in error.sentence()
    assert attempts == 1


def test_a_certificate_from_an_unknown_ca_is_refused_at_once(
    ca: tuple[trustme.CA, str], tally: Tally
) -> None:
    _, bundle = ca
    stranger = trustme.CA()
    with TlsServer(_server_context(stranger.issue_cert("127.0.0.1"))) as server:
        error = _refused(_runpod(server.url, bundle))
        masker = Masker()
        github = GitHubClient(
            server.url.removesuffix("/graphql"),
            clock=SystemClock(),
            masker=masker,
            log=ApiLog(masker),
            ca_bundle=bundle,
        )
        github.login_token("ghp_" + "t" * 36)
        with github, pytest.raises(TlsError):
            github.list_runners(RunnerScope.repo("octo-org", "gpu-ci"))
        attempts = server.connections
    tally.add("unknown CA refused (RunPod, then GitHub client)", held=attempts == 2)
    assert "trusted CA" in error.sentence()
    assert attempts == 2


def test_a_key_matching_no_pin_is_refused_before_a_request(
    ca: tuple[trustme.CA, str], tally: Tally
) -> None:
    authority, bundle = ca
    with TlsServer(_server_context(authority.issue_cert("127.0.0.1"))) as server:
        error = _refused(_runpod(server.url, bundle, frozenset({WRONG_PIN})))
        attempts = server.connections
        with _runpod(server.url, bundle) as control:
            assert control.myself().id == "user-1"
    tally.add("pin mismatch refused", held=attempts == 1, note=f"{attempts} connection")
    assert "pins" in error.sentence()
    assert attempts == 1


def test_a_pin_mismatch_through_the_entrypoint_costs_nothing(sim: StandIn, tally: Tally) -> None:
    env = sim.action_env(gpu_types=A6000, runner=False)
    env["RUNPOD_API_PINS"] = WRONG_PIN
    before = len(sim.requests(api="runpod"))
    step = action.run(env)
    problems = step_problems(step)
    reached = len(sim.requests(api="runpod")) - before
    held = step.returncode == 1 and not problems and reached == 0
    tally.add("pin mismatch through the entrypoint", held=held, note="no request reached RunPod")
    assert step.returncode == 1, step.describe()
    assert not problems, step.describe()
    assert "pins" in step.errors[0]
    # The key was never sent: the handshake ended before the first request.
    assert reached == 0
