"""The shared transport: endpoints, rate limiting, retries, logs and TLS settings."""

from __future__ import annotations

import io
import json
import random
import ssl

import pytest
import requests
import responses

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import InputError, NetworkError, RateLimitedError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import (
    ApiLog,
    RateLimiter,
    RetryPolicy,
    Transport,
    check_endpoint,
    tls_context,
)

URL = "https://api.example.test/graphql"


def make(clock: FakeClock, stream: io.StringIO | None = None, **kwargs: object) -> Transport:
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
    assert check_endpoint(url, "RUNPOD_API_URL") == url


@pytest.mark.parametrize("url", ["http://api.runpod.io/graphql", "ftp://x/y", "api.runpod.io"])
def test_other_endpoints_are_an_input_error_naming_the_variable(url: str) -> None:
    with pytest.raises(InputError) as caught:
        check_endpoint(url, "RUNPOD_API_URL")
    assert "RUNPOD_API_URL" in caught.value.sentence()


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


@responses.activate
def test_rate_limit_answers_wait_as_told_then_give_up_clearly() -> None:
    clock = FakeClock()
    for _ in range(3):
        responses.post(URL, status=429)

    def rule(response: requests.Response, _clock: object) -> float | None:
        return 7.0 if response.status_code == 429 else None

    transport = make(clock, rate_limit_rule=rule, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(RateLimitedError):
        transport.request("POST", URL, operation="create", idempotent=False)
    assert clock.sleeps == [7.0, 7.0]


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
