"""The GitHub client and answers cut short: a 2xx whose body is not JSON is a failure
worth one more try, like a 5xx. Reads ask again; a token POST is sent again (the token
minted for the lost answer just expires); a JIT POST first removes the runner GitHub
registered for the lost answer, so no retry leaves a second one behind."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.github import GitHubClient, RunnerScope
from runpod_ssh_action.github.errors import GitHubError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import ApiLog

API = "https://api.github.com"
REPO = RunnerScope.repo("octo", "gpu")
RUNNERS = f"{API}/repos/octo/gpu/actions/runners"
JIT = f"{RUNNERS}/generate-jitconfig"
INSTALLATION = f"{API}/repos/octo/gpu/installation"
ACCESS_TOKENS = f"{API}/app/installations/4242/access_tokens"
PAT = "ghp_truncatedAnswersTest0123456789"
NAME = "rp-run-1"
CUT = '{"runner": {"id": 7, "name": "rp-run-1", "sta'


def runner(runner_id: int, name: str = NAME, status: str = "offline") -> dict[str, Any]:
    return {"id": runner_id, "name": name, "status": status, "busy": False, "labels": []}


def jit_body(runner_id: int) -> dict[str, Any]:
    return {"runner": runner(runner_id), "encoded_jit_config": f"ZW5jb2RlZC0{runner_id}"}


def listing(*runners: dict[str, Any]) -> dict[str, Any]:
    return {"total_count": len(runners), "runners": list(runners)}


def token_body(token: str) -> dict[str, Any]:
    return {"token": token, "expires_at": "2026-01-01T01:00:00Z", "permissions": {}}


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def gh(clock: FakeClock) -> Iterator[GitHubClient]:
    masker = Masker()
    client = GitHubClient(
        API, clock=clock, masker=masker, log=ApiLog(masker, io.StringIO()), rng=random.Random(3)
    )
    yield client
    client.close()


@pytest.fixture
def pat(gh: GitHubClient) -> GitHubClient:
    gh.login_token(PAT)
    return gh


def calls(api: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in api.calls]


# --- reads ask again --------------------------------------------------------------


def test_a_runner_listing_cut_short_is_asked_again(
    api: responses.RequestsMock, pat: GitHubClient, clock: FakeClock
) -> None:
    api.get(RUNNERS, body=CUT, content_type="application/json")
    api.get(RUNNERS, json=listing(runner(7)))
    assert [r.id for r in pat.list_runners(REPO)] == [7]
    assert len(clock.sleeps) == 1


def test_a_runner_lookup_cut_short_is_asked_again(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    api.get(f"{RUNNERS}/7", body=CUT, content_type="application/json")
    api.get(f"{RUNNERS}/7", json=runner(7, status="online"))
    found = pat.get_runner(REPO, 7)
    assert found is not None and found.status == "online"


def test_a_workflow_run_lookup_cut_short_is_asked_again(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    url = f"{API}/repos/octo/gpu/actions/runs/99"
    api.get(url, body='{"id": 99, "sta')
    api.get(
        url,
        json={
            "id": 99,
            "status": "completed",
            "conclusion": "success",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:05:00Z",
        },
    )
    found = pat.workflow_run("octo", "gpu", 99)
    assert found is not None and found.status == "completed"


def test_a_read_that_never_comes_whole_fails_saying_so(
    api: responses.RequestsMock, pat: GitHubClient, clock: FakeClock
) -> None:
    api.get(f"{RUNNERS}/7", body=CUT)
    with pytest.raises(GitHubError, match="was not JSON"):
        pat.get_runner(REPO, 7)
    # The transport's five attempts, as for a 5xx.
    assert len(api.calls) == 5 and len(clock.sleeps) == 4


# --- token POSTs are sent again ---------------------------------------------------------


def test_app_login_survives_a_cut_short_installation_lookup_and_token(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    installation = {
        "id": 4242,
        "app_slug": "gpu-runners",
        "permissions": {"administration": "write"},
    }
    api.get(INSTALLATION, body='{"id": 42')
    api.get(INSTALLATION, json=installation)
    api.post(ACCESS_TOKENS, body='{"token": "ghs_lost', status=201)
    api.post(ACCESS_TOKENS, json=token_body("ghs_secondTokenValue0123456789"), status=201)
    api.get(RUNNERS, json=listing())
    token = gh.login_app("123456", app_key, REPO)
    assert token.token == "ghs_secondTokenValue0123456789"
    gh.list_runners(REPO)
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {token.token}"
    assert calls(api).count("POST /app/installations/4242/access_tokens") == 2


def test_a_registration_token_cut_short_is_asked_for_once_more(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    url = f"{RUNNERS}/registration-token"
    api.post(url, body='{"token": "AABB', status=201)
    api.post(url, json=token_body("AABBCCDDEEFFGGHH"), status=201)
    assert pat.registration_token(REPO).token == "AABBCCDDEEFFGGHH"


def test_a_token_cut_short_twice_fails_saying_so(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    url = f"{RUNNERS}/registration-token"
    api.post(url, body='{"token": "AABB', status=201)
    with pytest.raises(GitHubError, match="was not JSON"):
        pat.registration_token(REPO)
    assert len(api.calls) == 2


# --- JIT: the runner of the lost answer is removed before the retry ------------------------


def test_a_jit_config_cut_short_removes_its_runner_and_registers_again(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    api.post(JIT, body=CUT, status=201)
    api.get(RUNNERS, json=listing(runner(7)))
    api.delete(f"{RUNNERS}/7", status=204)
    api.post(JIT, json=jit_body(8), status=201)
    jit = pat.generate_jit_config(REPO, NAME, ["gpu"])
    assert jit.runner.id == 8
    assert calls(api) == [
        "POST /repos/octo/gpu/actions/runners/generate-jitconfig",
        "GET /repos/octo/gpu/actions/runners",
        "DELETE /repos/octo/gpu/actions/runners/7",
        "POST /repos/octo/gpu/actions/runners/generate-jitconfig",
    ]
    # The same name both times: the retry replaces the runner, it does not add one.
    assert {
        json.loads(c.request.body)["name"] for c in api.calls if c.request.method == "POST"
    } == {NAME}


def test_a_retry_that_finds_the_name_taken_removes_the_runner_and_fails(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    # GitHub's listing lags: the runner of the lost answer shows only on the second look.
    api.post(JIT, body=CUT, status=201)
    api.get(RUNNERS, json=listing())
    api.post(
        JIT,
        status=409,
        json={"message": f"Already exists - A runner with the name {NAME} already exists."},
    )
    api.get(RUNNERS, json=listing(runner(7)))
    api.delete(f"{RUNNERS}/7", status=204)
    with pytest.raises(GitHubError, match="that runner was removed"):
        pat.generate_jit_config(REPO, NAME, ["gpu"])
    assert calls(api)[-1] == "DELETE /repos/octo/gpu/actions/runners/7"


def test_jit_configs_cut_short_twice_leave_no_runner(
    api: responses.RequestsMock, pat: GitHubClient
) -> None:
    api.post(JIT, body=CUT, status=201)
    api.get(RUNNERS, json=listing(runner(7)))
    api.delete(f"{RUNNERS}/7", status=204)
    api.post(JIT, body=CUT.replace("7", "8"), status=201)
    api.get(RUNNERS, json=listing(runner(8)))
    api.delete(f"{RUNNERS}/8", status=204)
    with pytest.raises(GitHubError, match="cut short") as caught:
        pat.generate_jit_config(REPO, NAME, ["gpu"])
    assert "ZW5jb2Rl" not in caught.value.sentence()
    assert [c for c in calls(api) if c.startswith("DELETE")] == [
        "DELETE /repos/octo/gpu/actions/runners/7",
        "DELETE /repos/octo/gpu/actions/runners/8",
    ]
