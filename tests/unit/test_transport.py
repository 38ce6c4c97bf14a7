"""The shared transport: endpoints, rate limiting, retries, logs and TLS settings."""

from __future__ import annotations

import http.server
import io
import json
import random
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
import responses

from runpod_ssh_action.clock import FakeClock, SystemClock
from runpod_ssh_action.errors import (
    ActionError,
    CancelledError,
    InputError,
    NetworkError,
    RateLimitedError,
)
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import (
    ApiLog,
    RateLimiter,
    RetryPolicy,
    Transport,
    check_endpoint,
    environment_overrides,
    tls_context,
    unreadable_success,
)

URL = "https://api.example.test/graphql"


def make(
    clock: FakeClock | SystemClock, stream: io.StringIO | None = None, **kwargs: object
) -> Transport:
    masker = Masker()
    masker.add("rpa_SECRETSECRET")
    return Transport(
        base_url=URL,
        clock=clock,
        masker=masker,
        log=ApiLog(masker, stream),
        headers={"Authorization": "Bearer rpa_SECRETSECRET"},
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://api.runpod.io/graphql",
        "http://127.0.0.1:8080/graphql",
        "http://localhost/x",
        "http://[::1]:9/x",
    ],
)
def test_https_anywhere_and_plain_http_only_to_loopback(url: str) -> None:
    assert check_endpoint(url, "RUNPOD_GRAPHQL_URL") == url


@pytest.mark.parametrize("url", ["http://api.runpod.io/graphql", "ftp://x/y", "api.runpod.io"])
def test_other_endpoints_are_an_input_error_naming_the_variable(url: str) -> None:
    with pytest.raises(InputError) as caught:
        check_endpoint(url, "RUNPOD_GRAPHQL_URL")
    assert "RUNPOD_GRAPHQL_URL" in caught.value.sentence()


class _Counting(http.server.BaseHTTPRequestHandler):
    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def everywhere() -> Iterator[tuple[int, type[_Counting]]]:
    """A plain-HTTP server on every interface, and the request count it saw."""
    handler = type("Handler", (_Counting,), {"served": 0})
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _outward_address() -> str:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no network interface besides loopback")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("no network interface besides loopback")
    return address


def test_plain_http_to_a_localhost_name_is_refused_unless_it_lands_on_loopback(
    everywhere: tuple[int, type[_Counting]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = everywhere
    outward = _outward_address()
    real = socket.getaddrinfo

    # A resolver (or a hosts file an earlier step wrote) that sends the name elsewhere.
    def resolve(host: str, *args: object, **kwargs: object) -> object:
        return real(outward if host == "stand-in.localhost" else host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = f"http://stand-in.localhost:{port}/graphql"
    transport = make(SystemClock())
    with pytest.raises(ActionError) as caught:
        transport.request("GET", url, operation="probe", idempotent=True)
    assert caught.value.code == "NOT_LOOPBACK"
    assert outward in caught.value.sentence()
    assert handler.served == 0  # refused after connect, before the request was written
    answer = transport.request(
        "GET", f"http://localhost:{port}/graphql", operation="probe", idempotent=True
    )
    assert answer.status_code == 200 and handler.served == 1


def test_plain_http_never_goes_through_a_proxy(
    everywhere: tuple[int, type[_Counting]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, handler = everywhere
    for name in ("http_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:9")  # nothing listens there
    answer = make(SystemClock(), connect_timeout=5.0).request(
        "GET", f"http://127.0.0.1:{port}/x", operation="probe", idempotent=False
    )
    assert answer.status_code == 200 and handler.served == 1


def test_environment_overrides_name_what_moved_without_credentials() -> None:
    env = {
        "RUNPOD_GRAPHQL_URL": "https://api.runpod.io/graphql/",
        "GITHUB_API_URL": "https://evil.example/api",
        "https_proxy": "http://user:hunter2@proxy.corp:3128",
        "NO_PROXY": "localhost",
        "CURL_CA_BUNDLE": "/etc/extra-ca.pem",
        "PATH": "/usr/bin",
    }
    shown = environment_overrides(env)
    assert shown == [
        "GITHUB_API_URL=https://evil.example/api",
        "https_proxy=http://proxy.corp:3128",
        "CURL_CA_BUNDLE=/etc/extra-ca.pem",
    ]
    assert "hunter2" not in " ".join(shown)
    assert environment_overrides({"GITHUB_API_URL": "https://api.github.com"}) == []


def test_tls_context_refuses_anything_older_than_tls_1_2() -> None:
    context = tls_context(None)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_limiter_keeps_ten_per_second_and_a_hundred_per_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, per_minute=100, per_second=10)
    sent = []
    for _ in range(150):
        limiter.acquire()
        sent.append(clock.monotonic())
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 1.0) <= 10
        assert sum(1 for t in sent if start <= t < start + 60.0) <= 100
    assert sent[99] < 60.0 <= sent[100]


def test_a_call_counts_from_its_answer_so_a_slow_one_cannot_arrive_inside_the_next_window() -> None:
    # Ten calls let go at 0 whose answers come 0.3 s later: the server may have seen
    # them arrive as late as 0.3, so the eleventh waits until 1.3, not 1.0.
    clock = FakeClock()
    limiter = RateLimiter(clock, per_minute=100, per_second=10)
    stamps = [limiter.acquire() for _ in range(10)]
    clock.sleep(0.3)
    for stamp in stamps:
        limiter.finished(stamp)
    with limiter.slot():
        assert clock.monotonic() == pytest.approx(1.3)


def test_a_call_that_never_finished_still_counts_from_when_it_went() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, per_minute=100, per_second=2)
    limiter.acquire()
    limiter.acquire()
    limiter.acquire()
    assert clock.monotonic() == pytest.approx(1.0)


@responses.activate
def test_idempotent_calls_retry_5xx_and_network_errors_with_backoff() -> None:
    clock = FakeClock()
    responses.post(URL, status=502)
    responses.post(URL, body=requests.exceptions.ConnectionError("reset"))
    responses.post(URL, json={"data": {}})
    response = make(clock).request("POST", URL, operation="pod", idempotent=True)
    assert response.status_code == 200
    assert len(clock.sleeps) == 2 and 0.5 <= clock.sleeps[0] <= 1.0


@responses.activate
def test_non_idempotent_calls_never_repeat_and_say_they_may_have_acted() -> None:
    clock = FakeClock()
    responses.post(URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(NetworkError) as caught:
        make(clock).request("POST", URL, operation="create", idempotent=False)
    assert caught.value.maybe_acted and caught.value.code == "NETWORK_TIMEOUT"
    assert len(responses.calls) == 1 and clock.sleeps == []


def limited_for(seconds: float) -> Callable[[requests.Response, object], float | None]:
    """A rule under which every 429 asks for ``seconds``."""

    def rule(response: requests.Response, _clock: object) -> float | None:
        return seconds if response.status_code == 429 else None

    return rule


@responses.activate
def test_rate_limit_answers_wait_as_told_then_give_up_clearly() -> None:
    clock = FakeClock()
    responses.post(URL, status=429)
    transport = make(
        clock, rate_limit_rule=limited_for(7.0), retry=RetryPolicy(deadline_seconds=30)
    )
    with pytest.raises(RateLimitedError) as caught:
        transport.request("POST", URL, operation="create", idempotent=False)
    # Four 7 s waits fit the 30 s deadline; the fifth would not.
    assert clock.sleeps == [7.0] * 4
    assert "after 5 attempts and 28 s of waiting" in caught.value.why
    assert "2 s left" in caught.value.why


@responses.activate
def test_short_rate_limit_waits_are_not_bounded_by_the_attempts() -> None:
    clock = FakeClock()
    for _ in range(12):
        responses.post(URL, status=429)
    responses.post(URL, json={"data": {}})
    transport = make(clock, rate_limit_rule=limited_for(1.0), retry=RetryPolicy(max_attempts=3))
    response = transport.request("POST", URL, operation="create", idempotent=False)
    assert response.status_code == 200
    assert clock.sleeps == [1.0] * 12
    assert transport.metrics.snapshot()["create"].retries == 12


@responses.activate
def test_a_rate_limit_wait_longer_than_the_policy_allows_fails_at_once() -> None:
    clock = FakeClock()
    responses.post(URL, status=429)
    transport = make(clock, rate_limit_rule=limited_for(91.0))
    with pytest.raises(RateLimitedError) as caught:
        transport.request("POST", URL, operation="create", idempotent=False)
    assert clock.sleeps == []
    assert "past the 90 s the action waits at once" in caught.value.why


@responses.activate
def test_retry_now_answers_back_off_until_the_deadline() -> None:
    clock = FakeClock()
    responses.post(URL, status=429)
    transport = make(
        clock, rate_limit_rule=limited_for(0.0), retry=RetryPolicy(deadline_seconds=60)
    )
    with pytest.raises(RateLimitedError):
        transport.request("POST", URL, operation="create", idempotent=False)
    for attempt, wait in enumerate(clock.sleeps, start=1):
        nominal = min(30.0, 2.0 ** (attempt - 1))
        assert nominal / 2 <= wait <= nominal
    assert len(clock.sleeps) > 5 and sum(clock.sleeps) <= 60


@responses.activate
def test_network_errors_stay_bounded_by_the_attempts_between_rate_limits() -> None:
    clock = FakeClock()
    for _ in range(3):
        responses.get(URL, body=requests.exceptions.ConnectionError("reset"))
        responses.get(URL, status=429)
    transport = make(clock, rate_limit_rule=limited_for(1.0), retry=RetryPolicy(max_attempts=3))
    with pytest.raises(NetworkError):
        transport.request("GET", URL, operation="read", idempotent=True)
    # The third broken connection ends it, whatever the rate limits in between.
    assert len(responses.calls) == 5
    assert len(clock.sleeps) == 4 and clock.sleeps[1::2] == [1.0, 1.0]


@responses.activate
def test_cancelling_interrupts_a_rate_limit_wait() -> None:
    cancelled = threading.Event()
    cancelled.set()
    responses.post(URL, status=429)
    responses.post(URL, json={"data": {}})
    transport = make(SystemClock(cancelled), rate_limit_rule=limited_for(1.0))
    with pytest.raises(CancelledError):
        transport.request("POST", URL, operation="create", idempotent=False)
    assert len(responses.calls) == 1


TRUNCATED = '{"runners": [{"id": 1, "na'


@responses.activate
def test_an_expected_json_answer_cut_short_is_asked_again() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    responses.get(URL, body=TRUNCATED, content_type="application/json")
    responses.get(URL, json={"runners": []})
    transport = make(clock, stream)
    response = transport.request("GET", URL, operation="read", idempotent=True, expect_json=True)
    assert response.json() == {"runners": []}
    assert len(clock.sleeps) == 1 and 0.5 <= clock.sleeps[0] <= 1.0
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    retry = next(r for r in records if r["type"] == "retry")
    assert retry["reason"] == "UNREADABLE_ANSWER"
    assert transport.metrics.snapshot()["read"].errors == {"UNREADABLE_ANSWER": 1}


@responses.activate
def test_answers_cut_short_every_time_come_back_after_the_attempts() -> None:
    clock = FakeClock()
    responses.get(URL, body=TRUNCATED)
    transport = make(clock, retry=RetryPolicy(max_attempts=3))
    response = transport.request("GET", URL, operation="read", idempotent=True, expect_json=True)
    assert unreadable_success(response)
    assert len(responses.calls) == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("idempotent", "expect_json"),
    [(False, True), (True, False)],
    ids=["a POST that may have acted", "JSON not expected"],
)
@responses.activate
def test_an_answer_cut_short_goes_back_to_the_caller(idempotent: bool, expect_json: bool) -> None:
    clock = FakeClock()
    responses.post(URL, body=TRUNCATED, status=201)
    response = make(clock).request(
        "POST", URL, operation="create", idempotent=idempotent, expect_json=expect_json
    )
    assert response.status_code == 201 and unreadable_success(response)
    assert len(responses.calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "unreadable"),
    [
        (200, TRUNCATED, True),
        (201, "", True),
        (200, "<html>hello</html>", True),
        (200, "[]", False),
        (204, "", False),
        (404, "Not Found", False),
        (500, "oops", False),
    ],
)
def test_unreadable_success_is_a_2xx_with_a_body_that_is_not_json(
    status: int, body: str, unreadable: bool
) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    assert unreadable_success(response) is unreadable


@responses.activate
def test_request_log_is_json_lines_with_the_credential_masked() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    responses.post(URL, json={"data": {"echo": "rpa_SECRETSECRET"}})
    make(clock, stream).request(
        "POST",
        URL,
        operation="myself",
        idempotent=True,
        log_variables={"input": {"note": "rpa_SECRETSECRET"}},
    )
    text = stream.getvalue()
    assert "rpa_SECRETSECRET" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["type"] for r in records] == ["request", "response"]
    assert records[0]["headers"]["Authorization"] == "Bearer [MASKED]"
    assert records[1]["status"] == "success" and "duration_ms" in records[1]


def test_the_start_path_does_not_load_x509() -> None:
    # x509 is for certificate pins only; loading it costs every step's start.
    script = (
        "import sys, runpod_ssh_action.cli, runpod_ssh_action.lifecycle; "
        "print('cryptography.x509' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"
