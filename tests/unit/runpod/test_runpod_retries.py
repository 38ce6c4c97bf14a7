"""Rate limits, retries and the client-side limiter, on a clock that never really waits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from runpod_fakes import FakeRunPod, Reply, api_pod, gql_error

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import NetworkError, RateLimitedError
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.runpod.errors import RunPodServerError

ME = {"data": {"myself": {"id": "u", "email": None}}}
INTERNAL = gql_error(
    "Something went wrong. Please try again later or contact support.", "INTERNAL_SERVER_ERROR"
)


def backoff_bounds(attempt: int) -> tuple[float, float]:
    nominal = min(30.0, 2.0 ** (attempt - 1))
    return nominal / 2, nominal


# --- rate limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"Retry-After": "Thu, 01 Jan 2026 00:00:07 GMT"}, 7.0),
    ],
)
def test_429_waits_what_retry_after_says(
    client: RunPodClient,
    server: FakeRunPod,
    clock: FakeClock,
    headers: dict[str, str],
    expected: float,
) -> None:
    server.reply(Reply({"errors": []}, status=429, headers=headers), ME)
    assert client.myself().id == "u"
    assert clock.sleeps == [expected]
    assert len(server.sent) == 2


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "soon"}, {"Retry-After": "0"}])
def test_429_without_a_usable_retry_after_backs_off(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock, headers: dict[str, str]
) -> None:
    server.reply(Reply("", status=429, headers=headers), Reply("", status=429, headers=headers), ME)
    client.myself()
    assert len(clock.sleeps) == 2
    for attempt, wait in enumerate(clock.sleeps, start=1):
        low, high = backoff_bounds(attempt)
        assert low <= wait <= high


def test_retry_after_in_the_past_backs_off(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(
        Reply("", status=429, headers={"Retry-After": "Wed, 31 Dec 2025 23:00:00 GMT"}), ME
    )
    client.myself()
    (wait,) = clock.sleeps
    assert 0.5 <= wait <= 1.0


def test_rate_limited_body_waits_until_reset_at(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(
        gql_error(
            "Rate limit exceeded",
            "RATE_LIMITED",
            resetAt="2026-01-01T00:00:04Z",
            limit=100,
            window="60s",
        ),
        ME,
    )
    client.myself()
    assert clock.sleeps == [4.0]


def test_rate_limit_message_without_code_backs_off(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(gql_error("You have hit the rate limit"), ME)
    client.myself()
    (wait,) = clock.sleeps
    assert 0.5 <= wait <= 1.0


def test_rate_limit_that_never_ends_fails_clearly(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    # Honoured waits are bounded by the call's deadline (120 s), not by an attempt count.
    server.reply(*[Reply("", status=429, headers={"Retry-After": "3"})] * 41)
    with pytest.raises(RateLimitedError, match="myself was rate limited"):
        client.myself()
    assert len(server.sent) == 41
    assert clock.sleeps == [3.0] * 40


def test_a_wait_too_long_is_not_taken(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(Reply("", status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError):
        client.myself()
    assert clock.sleeps == []


def test_a_rate_limited_create_is_sent_again(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    # A 429 means RunPod did not act, so even a create may go again, without a listing.
    server.reply(Reply("", status=429, headers={"Retry-After": "1"}), server.create())
    assert client.create_on_demand(PodSpec(name="n")).name == "n"
    assert server.roots() == ["podFindAndDeployOnDemand"] * 2
    assert len(server.pods) == 1


# --- server failures -------------------------------------------------------------

READS: dict[str, tuple[Callable[[RunPodClient], object], object]] = {
    "myself": (lambda c: c.myself(), ME),
    "pod": (lambda c: c.pod("a"), {"data": {"pod": api_pod("a", "n")}}),
    "pods": (lambda c: c.pods(["a", "b"]), {"data": {"p0": None, "p1": None}}),
    "list": (lambda c: c.list_pods("n"), {"data": {"myself": {"pods": []}}}),
    "gpuTypes": (lambda c: c.gpu_types(1, use_cache=False), {"data": {"gpuTypes": []}}),
    "terminate": (lambda c: c.terminate("a"), {"data": {"podTerminate": None}}),
}

FAILURES = {
    "http-503": Reply("unavailable", status=503),
    "http-500": Reply({"errors": [{"message": "boom"}]}, status=500),
    "internal-error": INTERNAL,
    "malformed-json": Reply("<html>oops</html>"),
    "json-not-an-object": Reply("[1, 2]"),
    "connection-reset": requests.exceptions.ConnectionError("Connection reset by peer"),
    "timeout": requests.exceptions.ReadTimeout("read timed out"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("read", sorted(READS))
def test_reads_are_retried(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock, read: str, failure: str
) -> None:
    call, answer = READS[read]
    server.reply(FAILURES[failure], FAILURES[failure], answer)
    call(client)
    assert len(server.sent) == 3
    assert len(clock.sleeps) == 2
    stats = client.transport.metrics.snapshot()
    assert sum(s.retries for s in stats.values()) == 2


def test_a_read_gives_up_after_the_attempts(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(*[Reply("unavailable", status=503)] * 5)
    with pytest.raises(RunPodServerError, match="HTTP 503"):
        client.pod("a")
    assert len(server.sent) == 5


def test_internal_errors_give_up_after_the_attempts(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(*[INTERNAL] * 5)
    with pytest.raises(RunPodServerError, match="Something went wrong"):
        client.pods(["a"])
    assert len(server.sent) == 5
    assert len(clock.sleeps) == 4


MUTATIONS: dict[str, Callable[[RunPodClient], object]] = {
    "stop": lambda c: c.stop("a"),
    "resume": lambda c: c.resume("a", 1),
    "bid_resume": lambda c: c.bid_resume("a", 0.2, 1),
}


@pytest.mark.parametrize("failure", ["http-503", "internal-error", "malformed-json"])
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_stop_and_resume_are_not_retried(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock, mutation: str, failure: str
) -> None:
    server.reply(FAILURES[failure])
    with pytest.raises(RunPodServerError):
        MUTATIONS[mutation](client)
    assert len(server.sent) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_stop_and_resume_network_errors_go_to_the_caller(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock, mutation: str
) -> None:
    server.reply(requests.exceptions.ConnectionError("Connection reset by peer"))
    with pytest.raises(NetworkError) as caught:
        MUTATIONS[mutation](client)
    assert caught.value.maybe_acted
    assert len(server.sent) == 1


# --- the client-side limiter -------------------------------------------------------


def test_a_burst_of_eleven_waits_once(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(*[ME] * 11)
    for _ in range(11):
        client.myself()
    assert clock.sleeps == [1.0]


def test_no_more_than_a_hundred_a_minute(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(*[ME] * 101)
    for _ in range(101):
        client.myself()
    assert clock.monotonic() >= 60.0


def test_the_limiter_can_be_turned_off(
    make_client: Callable[..., RunPodClient], server: FakeRunPod, clock: FakeClock
) -> None:
    client = make_client(limiter=False)
    server.reply(*[ME] * 11)
    for _ in range(11):
        client.myself()
    assert clock.sleeps == []
