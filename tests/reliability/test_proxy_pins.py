"""Certificate pins hold behind an HTTPS proxy too.

A job whose runner sets ``HTTPS_PROXY`` reaches RunPod through a CONNECT tunnel. The
pins must be checked against the server at the far end of that tunnel, with the same
CA bundle as a direct call: a key that matches a pin goes through the proxy and is
answered; a key that matches none is refused before a request byte reaches the server.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from runpod_ssh_action.errors import TlsError
from runpod_ssh_action.sim import StandIn

from ..e2e import actionrun as action
from .support import A6000, Tally, runpod_client, step_problems

WRONG_PIN = "A" * 43 + "="


class ConnectProxy:
    """A minimal HTTP proxy on loopback that only tunnels (CONNECT), as corporate
    proxies do for HTTPS, and records the target of every tunnel it opens."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> ConnectProxy:
        self._threads[0].start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._tunnel, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _tunnel(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            host, _, port = target.rpartition(":")
            with socket.create_connection((host, int(port)), timeout=5) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.2)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        # urllib's getproxies_environment prefers the lower-case names, and no_proxy
        # would send loopback past the proxy.
        for name in ("https_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", running.url)
        yield running


def _target(sim: StandIn) -> str:
    return sim.runpod_base_url.removeprefix("https://")


def test_a_matching_pin_is_answered_through_the_proxy(
    sim: StandIn, proxy: ConnectProxy, tally: Tally
) -> None:
    assert sim.spki_pin
    before = len(sim.requests(api="runpod"))
    with runpod_client(sim, frozenset({sim.spki_pin, WRONG_PIN})) as client:
        client.myself()
    reached = len(sim.requests(api="runpod")) - before
    held = proxy.tunnels == [_target(sim)] and reached == 1
    tally.add("matching pin through a CONNECT proxy", held=held, note="answered via the tunnel")
    assert proxy.tunnels == [_target(sim)]
    assert reached == 1


def test_a_pin_mismatch_behind_the_proxy_is_refused_before_a_request(
    sim: StandIn, proxy: ConnectProxy, tally: Tally
) -> None:
    before = len(sim.requests(api="runpod"))
    with runpod_client(sim, frozenset({WRONG_PIN})) as client, pytest.raises(TlsError) as caught:
        client.myself()
    reached = len(sim.requests(api="runpod")) - before
    held = proxy.tunnels == [_target(sim)] and reached == 0
    tally.add("pin mismatch through a CONNECT proxy", held=held, note="no request reached RunPod")
    # The reason, not the advice (which names pins whatever went wrong).
    assert "matches none of the configured pins" in caught.value.why
    # The tunnel was opened (the call did go the proxy's way), and the TLS session in
    # it ended before the first request: the key never left.
    assert proxy.tunnels == [_target(sim)]
    assert reached == 0


def test_a_pin_mismatch_behind_the_proxy_through_the_entrypoint_costs_nothing(
    sim: StandIn, proxy: ConnectProxy, tally: Tally
) -> None:
    # As a job would have it: the CA bundle in REQUESTS_CA_BUNDLE, the proxy in
    # HTTPS_PROXY (from the runner's environment, which the step inherits).
    env = sim.action_env(gpu_types=A6000, runner=False)
    env["RUNPOD_API_PINS"] = WRONG_PIN
    before = len(sim.requests(api="runpod"))
    step = action.run(env)
    reached = len(sim.requests(api="runpod")) - before
    problems = step_problems(step)
    held = step.returncode == 1 and not problems and reached == 0 and bool(proxy.tunnels)
    tally.add("pin mismatch behind a proxy, entrypoint", held=held, note="no request reached")
    assert step.returncode == 1, step.describe()
    assert not problems, step.describe()
    assert "matches none of the configured pins" in step.errors[0]
    assert proxy.tunnels and set(proxy.tunnels) == {_target(sim)}
    assert reached == 0
    # The proxy is named once in the log, so a reader can tell where the calls went.
    notices = [line for line in step.lines if line.startswith("::notice")]
    assert any(f"HTTPS_PROXY={proxy.url}" in line for line in notices), step.describe()
