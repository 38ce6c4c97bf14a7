from __future__ import annotations

from collections.abc import Mapping

import pytest
import responses
from gh_helpers import API, REPO

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.github import GitHubClient
from runpod_ssh_action.github.errors import RunnerNeverOnlineError

RUNNERS = f"{API}/repos/octo/gpu/actions/runners"


def runner(runner_id: int, status: str, busy: bool = False) -> dict[str, object]:
    return {"id": runner_id, "name": f"rp-{runner_id}", "status": status, "busy": busy}


def listing(*runners: dict[str, object]) -> dict[str, object]:
    return {"total_count": len(runners), "runners": list(runners)}


def test_several_runners_cost_one_listing_per_round_matched_by_id(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    other = runner(9, "online")  # someone else's runner in the same repository
    api.get(RUNNERS, json=listing(runner(1, "offline"), runner(2, "online", busy=True), other))
    # With one runner left, a GET by id is the cheaper look.
    for status in ("offline", "online"):
        api.get(f"{RUNNERS}/1", json=runner(1, status))
    rounds: list[dict[int, str]] = []
    came: list[int] = []

    def progress(states: Mapping[int, str]) -> None:
        rounds.append(dict(states))

    online = pat_client.wait_until_online(
        REPO, [1, 2], deadline=60.0, on_progress=progress, on_online=lambda r: came.append(r.id)
    )

    assert sorted(online) == [1, 2] and online[2].busy
    assert rounds == [
        {1: "offline", 2: "busy"},
        {1: "offline", 2: "busy"},
        {1: "online", 2: "busy"},
    ]
    assert came == [2, 1]
    assert clock.sleeps == [0.5, 0.75]
    assert len(api.calls) == 3


def test_one_runner_is_asked_for_by_id_on_the_given_schedule(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    for status in ("offline", "offline", "online"):
        api.get(f"{RUNNERS}/1", json=runner(1, status))
    online = pat_client.wait_until_online(REPO, [1], deadline=60.0, poll=lambda waited: 2.0)
    assert list(online) == [1]
    assert clock.sleeps == [2.0, 2.0]


def test_intervals_grow_to_five_seconds_and_stop_at_the_deadline(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(f"{RUNNERS}/1", json=runner(1, "offline"))
    deadline = clock.monotonic() + 60
    with pytest.raises(RunnerNeverOnlineError):
        pat_client.wait_until_online(REPO, [1], deadline=deadline)
    assert clock.sleeps[:4] == [0.5, 0.75, 1.125, 1.6875]
    assert max(clock.sleeps) == 5.0
    assert clock.sleeps == sorted(clock.sleeps[:-1]) + clock.sleeps[-1:]
    assert sum(clock.sleeps) == pytest.approx(60.0)
    assert clock.monotonic() == pytest.approx(deadline)


def test_timeout_says_how_far_each_runner_got(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, json=listing(runner(1, "offline"), runner(2, "online")))
    api.get(f"{RUNNERS}/1", json=runner(1, "offline"))
    with pytest.raises(RunnerNeverOnlineError) as caught:
        pat_client.wait_until_online(REPO, [1, 2], deadline=10.0)
    error = caught.value
    text = str(error)
    assert "1 of 2 runners on repository octo/gpu did not come online (waited 10 s)" in text
    assert "runner 1 (rp-1) registered but never came online (last status offline)" in text
    assert "could not reach GitHub or the runner failed to start" in text
    assert "runner 2 (rp-2) came online" in text
    assert error.states == {1: "offline", 2: "online"}
    assert list(error.online) == [2]
    assert clock.monotonic() == pytest.approx(10.0)


def test_a_runner_that_disappears_fails_the_wait_at_once(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, json=listing(runner(1, "offline"), runner(2, "offline")))
    api.get(RUNNERS, json=listing(runner(2, "offline")))
    with pytest.raises(RunnerNeverOnlineError) as caught:
        pat_client.wait_until_online(REPO, [1, 2], deadline=300.0)
    assert "runner 1 (rp-1) disappeared" in str(caught.value)
    assert caught.value.states == {1: "disappeared", 2: "offline"}
    assert clock.sleeps == [0.5]


def test_past_deadline_still_looks_once(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(f"{RUNNERS}/1", json=runner(1, "online"))
    assert list(pat_client.wait_until_online(REPO, [1, 1], deadline=-1.0)) == [1]
    assert clock.sleeps == []
    assert len(api.calls) == 1


def test_nothing_to_wait_for(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    assert pat_client.wait_until_online(REPO, [], deadline=5.0) == {}
    assert len(api.calls) == 0
