from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator

import pytest
import requests
import responses
from gh_helpers import API, PAT, REPO

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import RateLimitedError
from runpod_ssh_action.github import GitHubClient, GitHubRateLimitRule
from runpod_ssh_action.github.errors import PermissionMissingError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import ApiLog, RetryPolicy

RUNNERS = f"{API}/repos/octo/gpu/actions/runners"
EMPTY = {"total_count": 0, "runners": []}
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again."
}
PRIMARY = {"message": "API rate limit exceeded for installation ID 4242."}


@pytest.fixture
def patient(clock: FakeClock, masker: Masker, log_stream: io.StringIO) -> Iterator[GitHubClient]:
    """A client whose policy allows long waits, to watch the secondary backoff grow."""
    client = GitHubClient(
        API,
        clock=clock,
        masker=masker,
        log=ApiLog(masker, log_stream),
        retry=RetryPolicy(max_attempts=6, deadline_seconds=3600, max_rate_limit_wait=600),
        rng=random.Random(1),
    )
    client.login_token(PAT)
    yield client
    client.close()


def test_retry_after_is_waited_exactly(
    api: responses.RequestsMock,
    pat_client: GitHubClient,
    clock: FakeClock,
    log_stream: io.StringIO,
) -> None:
    api.get(RUNNERS, status=403, headers={"retry-after": "30"}, json=SECONDARY)
    api.get(RUNNERS, json=EMPTY)
    assert pat_client.list_runners(REPO) == []
    assert clock.sleeps == [30.0]
    retries = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert any(r["type"] == "retry" and r["reason"] == "RATE_LIMITED" for r in retries)
    stats = pat_client.metrics.snapshot()["actions/list-self-hosted-runners-for-repo"]
    assert stats.retries == 1


def test_429_with_retry_after(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, status=429, headers={"retry-after": "5"})
    api.get(RUNNERS, json=EMPTY)
    pat_client.list_runners(REPO)
    assert clock.sleeps == [5.0]


def test_exhausted_primary_limit_waits_until_reset(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    reset = int(clock.now().timestamp()) + 42
    api.get(
        RUNNERS,
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json=PRIMARY,
    )
    api.get(RUNNERS, json=EMPTY)
    pat_client.list_runners(REPO)
    # Until the reset second has passed: 42 s plus the one-second margin.
    assert clock.sleeps == [43.0]


def test_reset_too_far_away_fails_instead_of_parking_the_job(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    reset = int(clock.now().timestamp()) + 1800
    api.get(
        RUNNERS,
        status=429,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        json=PRIMARY,
    )
    with pytest.raises(RateLimitedError):
        pat_client.list_runners(REPO)
    assert clock.sleeps == []


def test_secondary_limit_waits_a_minute_and_grows(
    api: responses.RequestsMock, patient: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, status=403, json=SECONDARY)
    api.get(RUNNERS, status=403, json=SECONDARY)
    api.get(RUNNERS, status=403, json=SECONDARY)
    api.get(RUNNERS, json=EMPTY)
    patient.list_runners(REPO)
    assert clock.sleeps == [60.0, 120.0, 240.0]


def test_secondary_backoff_starts_over_after_an_answer(
    api: responses.RequestsMock, patient: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, status=403, json=SECONDARY)
    api.get(RUNNERS, json=EMPTY)
    api.get(RUNNERS, status=403, json=SECONDARY)
    api.get(RUNNERS, json=EMPTY)
    patient.list_runners(REPO)
    patient.list_runners(REPO)
    assert clock.sleeps == [60.0, 60.0]


def test_secondary_limit_past_the_policy_gives_up(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, status=403, json=SECONDARY)
    with pytest.raises(RateLimitedError, match=r"rate limited by api\.github\.com"):
        pat_client.list_runners(REPO)
    # 60 s fits the default 90 s ceiling; the next 120 s does not.
    assert clock.sleeps == [60.0]


def test_bare_429_counts_as_a_secondary_limit(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, status=429)
    api.get(RUNNERS, json=EMPTY)
    pat_client.list_runners(REPO)
    assert clock.sleeps == [60.0]


def test_a_403_that_is_not_a_limit_is_a_permission_error_at_once(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(
        RUNNERS,
        status=403,
        headers={"x-ratelimit-remaining": "4999"},
        json={"message": "Resource not accessible by personal access token"},
    )
    with pytest.raises(PermissionMissingError):
        pat_client.list_runners(REPO)
    assert clock.sleeps == []
    assert len(api.calls) == 1


def test_a_rate_limited_post_is_sent_again(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    url = f"{RUNNERS}/generate-jitconfig"
    api.post(url, status=403, headers={"retry-after": "2"}, json=SECONDARY)
    api.post(
        url,
        status=201,
        json={
            "runner": {"id": 1, "name": "rp-1", "status": "offline", "busy": False},
            "encoded_jit_config": "ZW5jb2RlZA==",
        },
    )
    assert pat_client.generate_jit_config(REPO, "rp-1", ["x"]).runner.id == 1
    # A limited call was not carried out: no lookup for a half-registered runner.
    assert [c.request.method for c in api.calls] == ["POST", "POST"]
    assert clock.sleeps == [2.0]


def _response(status: int, headers: dict[str, str], body: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = body.encode()
    return response


def test_rule_reads_http_date_retry_after(clock: FakeClock) -> None:
    rule = GitHubRateLimitRule()
    clock.advance(10)  # 2026-01-01T00:00:10Z
    when = "Thu, 01 Jan 2026 00:01:10 GMT"
    assert rule(_response(429, {"Retry-After": when}), clock) == 60.0


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (200, {"retry-after": "5"}, ""),
        (404, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, ""),
        (403, {}, '{"message": "Must have admin rights to Repository."}'),
        (500, {}, "rate limit"),
    ],
)
def test_rule_ignores_answers_that_are_not_limits(
    clock: FakeClock, status: int, headers: dict[str, str], body: str
) -> None:
    assert GitHubRateLimitRule()(_response(status, headers, body), clock) is None


def test_rule_never_waits_negative_time(clock: FakeClock) -> None:
    past = str(int(clock.now().timestamp()) - 100)
    rule = GitHubRateLimitRule()
    limited = _response(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": past})
    assert rule(limited, clock) == 1.0
    assert rule(_response(429, {"retry-after": "-3"}), clock) == 0.0
