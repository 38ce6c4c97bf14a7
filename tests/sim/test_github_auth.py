"""The stand-in GitHub's REST surface: auth, App tokens, headers, rate limits, runs."""

from __future__ import annotations

import json
import threading
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from runpod_ssh_action.sim.github import INSTALLATION_ID, GitHubSim, Reply
from runpod_ssh_action.sim.github_auth import (
    EXP_TOO_FAR,
    EXPIRED,
    IAT_IN_FUTURE,
    ISS_NOT_INTEGER,
    UNDECODABLE_JWT,
    new_app_keypair,
)

OWNER, REPO, APP_ID, PAT = "octo-org", "gpu-ci", 4242, "ghp_" + "p" * 36
BASE = "https://127.0.0.1:8443"
PRIVATE_PEM, PUBLIC_KEY = new_app_keypair()
# Loading a PEM re-validates the RSA key (slow); sign with one loaded key instead.
PRIVATE_KEY = serialization.load_pem_private_key(
    PRIVATE_PEM, None, unsafe_skip_rsa_key_validation=True
)
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> GitHubSim:
    return GitHubSim(
        owner=OWNER,
        repo=REPO,
        app_id=APP_ID,
        app_public_key_pem=PUBLIC_KEY,
        pat=PAT,
        base_url=lambda: BASE,
        clock_now=clock,
    )


def call(
    sim: GitHubSim,
    method: str,
    path: str,
    auth: str | None = None,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
) -> tuple[Reply, Any]:
    sent = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if auth is not None:
        sent["Authorization"] = auth
    sent.update(headers or {})
    raw = b"" if body is None else json.dumps(body).encode()
    reply = sim.handle(method, path, query or {}, sent, raw)
    return reply, (json.loads(reply.body) if reply.body else None)


def app_jwt(clock: Clock, key: Any = PRIVATE_KEY, **claims: Any) -> str:
    payload = {"iat": int(clock.now) - 60, "exp": int(clock.now) + 540, "iss": str(APP_ID)}
    payload.update(claims)
    # Signed as raw JWS: PyJWT's own encoder refuses the integer "iss" GitHub accepts.
    signed = jwt.api_jws.PyJWS().encode(json.dumps(payload).encode(), key, algorithm="RS256")
    return f"Bearer {signed}"


def new_token(sim: GitHubSim, clock: Clock, body: Any = None) -> str:
    reply, data = call(
        sim, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", app_jwt(clock), body
    )
    assert reply.status == 201, data
    return str(data["token"])


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", "/repos/o/r/installation", "apps/get-repo-installation"),
        ("GET", "/orgs/o/installation", "apps/get-org-installation"),
        ("POST", "/app/installations/9/access_tokens", "apps/create-installation-access-token"),
        ("DELETE", "/installation/token", "apps/revoke-installation-access-token"),
        (
            "POST",
            "/repos/o/r/actions/runners/generate-jitconfig",
            "actions/generate-runner-jitconfig-for-repo",
        ),
        (
            "POST",
            "/orgs/o/actions/runners/generate-jitconfig",
            "actions/generate-runner-jitconfig-for-org",
        ),
        (
            "POST",
            "/repos/o/r/actions/runners/registration-token",
            "actions/create-registration-token-for-repo",
        ),
        (
            "POST",
            "/orgs/o/actions/runners/registration-token",
            "actions/create-registration-token-for-org",
        ),
        ("POST", "/repos/o/r/actions/runners/remove-token", "actions/create-remove-token-for-repo"),
        ("POST", "/orgs/o/actions/runners/remove-token", "actions/create-remove-token-for-org"),
        ("GET", "/repos/o/r/actions/runners", "actions/list-self-hosted-runners-for-repo"),
        ("GET", "/orgs/o/actions/runners?page=2", "actions/list-self-hosted-runners-for-org"),
        ("GET", "/repos/o/r/actions/runners/7", "actions/get-self-hosted-runner-for-repo"),
        ("GET", "/orgs/o/actions/runners/7", "actions/get-self-hosted-runner-for-org"),
        ("DELETE", "/repos/o/r/actions/runners/7", "actions/delete-self-hosted-runner-from-repo"),
        ("DELETE", "/orgs/o/actions/runners/7", "actions/delete-self-hosted-runner-from-org"),
        ("GET", "/repos/o/r/actions/runs/99", "actions/get-workflow-run"),
        ("POST", "/_sim/runner/register", "runner/register"),
        ("POST", "/_sim/runner/3/connect", "runner/connect"),
        ("GET", "/_sim/runner/3/job", "runner/poll"),
        ("POST", "/_sim/runner/3/jobs/job-1/result", "runner/complete"),
        (
            "GET",
            "/actions/runner/releases/download/v2.999.0/actions-runner-linux-x64-2.999.0.tar.gz",
            "release/download",
        ),
        ("PUT", "/repos/o/r/actions/runners", "unknown"),
        ("GET", "/repos/o/r/issues", "unknown"),
    ],
)
def test_operation_names(sim: GitHubSim, method: str, path: str, operation: str) -> None:
    assert sim.operation_for(method, path) == operation


@pytest.mark.parametrize("auth", [None, "Bearer nonsense", f"token {PAT}"])
def test_every_rest_answer_carries_rate_limit_headers_and_json(
    sim: GitHubSim, auth: str | None
) -> None:
    for path in (f"/repos/{OWNER}/{REPO}/actions/runners", "/no/such/route"):
        reply, data = call(sim, "GET", path, auth)
        assert reply.headers["content-type"].startswith("application/json")
        for name in ("limit", "remaining", "used", "reset", "resource"):
            assert f"x-ratelimit-{name}" in reply.headers
        assert "message" in data or "runners" in data


def test_installation_lookup_for_repo_and_org(sim: GitHubSim, clock: Clock) -> None:
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/installation", app_jwt(clock))
    assert reply.status == 200
    assert data["id"] == INSTALLATION_ID
    assert data["account"]["login"] == OWNER
    assert data["app_slug"]
    assert data["permissions"]["administration"] == "write"
    reply, data = call(sim, "GET", f"/orgs/{OWNER.upper()}/installation", app_jwt(clock))
    assert reply.status == 200
    assert data["permissions"]["organization_self_hosted_runners"] == "write"


@pytest.mark.parametrize(
    "path", [f"/repos/{OWNER}/other/installation", "/repos/someone/gpu-ci/installation"]
)
def test_installation_of_an_unknown_repo_is_not_found(
    sim: GitHubSim, clock: Clock, path: str
) -> None:
    reply, data = call(sim, "GET", path, app_jwt(clock))
    assert (reply.status, data["message"]) == (404, "Not Found")
    reply, _ = call(sim, "GET", "/orgs/someone-else/installation", app_jwt(clock))
    assert reply.status == 404


def _bad_jwts(clock: Clock) -> list[tuple[str, str]]:
    other_key, _ = new_app_keypair()
    now = int(clock.now)
    return [
        (app_jwt(clock, key=other_key), UNDECODABLE_JWT),
        (app_jwt(clock, exp=now + 1200), EXP_TOO_FAR),
        (app_jwt(clock, iat=now - 30, exp=now + 700), EXP_TOO_FAR),
        (app_jwt(clock, iat=now - 700, exp=now - 5), EXPIRED),
        (app_jwt(clock, iat=now + 300, exp=now + 500), IAT_IN_FUTURE),
        (app_jwt(clock, iss="my-app"), ISS_NOT_INTEGER),
        (app_jwt(clock, iss=APP_ID + 1), UNDECODABLE_JWT),
        (
            "Bearer " + jwt.encode({"iss": str(APP_ID)}, "s" * 32, algorithm="HS256"),
            UNDECODABLE_JWT,
        ),
        ("Bearer not.a.jwt", UNDECODABLE_JWT),
    ]


def test_jwt_failures_get_githubs_messages(sim: GitHubSim, clock: Clock) -> None:
    for auth, message in _bad_jwts(clock):
        reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/installation", auth)
        assert (reply.status, data["message"]) == (401, message)
        assert data["documentation_url"].startswith("https://docs.github.com")


def test_jwt_accepts_an_integer_issuer_and_the_recommended_skew(
    sim: GitHubSim, clock: Clock
) -> None:
    now = int(clock.now)
    for auth in (
        app_jwt(clock, iss=APP_ID),
        app_jwt(clock, iat=now - 60, exp=now + 600),
        app_jwt(clock, iat=now + 30, exp=now + 600),
    ):
        reply, _ = call(sim, "GET", f"/repos/{OWNER}/{REPO}/installation", auth)
        assert reply.status == 200


def test_jwt_times_follow_the_stand_ins_clock(sim: GitHubSim, clock: Clock) -> None:
    auth = app_jwt(clock)
    clock.now += 600
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/installation", auth)
    assert (reply.status, data["message"]) == (401, EXPIRED)


def test_app_endpoints_need_a_jwt(sim: GitHubSim, clock: Clock) -> None:
    token = new_token(sim, clock)
    for auth in (f"token {PAT}", f"token {token}"):
        reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/installation", auth)
        assert (reply.status, data["message"]) == (401, UNDECODABLE_JWT)


def test_a_jwt_cannot_manage_runners(sim: GitHubSim, clock: Clock) -> None:
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", app_jwt(clock))
    assert (reply.status, data["message"]) == (403, "Resource not accessible by integration")


def test_installation_token_is_issued_for_an_hour_with_the_installations_permissions(
    sim: GitHubSim, clock: Clock
) -> None:
    reply, data = call(
        sim, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", app_jwt(clock)
    )
    assert reply.status == 201
    assert data["token"].startswith("ghs_")
    assert data["expires_at"] == "2027-01-15T09:00:00Z"  # START + 1 h
    assert data["permissions"]["administration"] == "write"
    assert data["repository_selection"] == "all"
    assert sim.issued_tokens == [data["token"]]
    reply, _ = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", f"token {data['token']}")
    assert reply.status == 200


def test_installation_token_can_be_narrowed(sim: GitHubSim, clock: Clock) -> None:
    body = {"repositories": [REPO], "permissions": {"administration": "write"}}
    reply, data = call(
        sim, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", app_jwt(clock), body
    )
    assert reply.status == 201
    assert data["permissions"] == {"administration": "write"}
    assert data["repository_selection"] == "selected"
    assert [repo["name"] for repo in data["repositories"]] == [REPO]
    token = f"Bearer {data['token']}"
    assert call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", token)[0].status == 200
    # The narrowed token lacks organization_self_hosted_runners.
    reply, data = call(sim, "GET", f"/orgs/{OWNER}/actions/runners", token)
    assert (reply.status, data["message"]) == (403, "Resource not accessible by integration")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"repositories": ["other-repo"]}, "at least one repository"),
        ({"repository_ids": [1]}, "at least one repository"),
        ({"permissions": {"contents": "write"}}, "permissions requested are not granted"),
        ({"permissions": {"administration": "admin"}}, "permissions requested are not granted"),
        ({"permissions": {"administration": "everything"}}, "permissions requested"),
    ],
)
def test_installation_token_cannot_exceed_the_installation(
    sim: GitHubSim, clock: Clock, body: Any, message: str
) -> None:
    reply, data = call(
        sim, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", app_jwt(clock), body
    )
    assert reply.status == 422
    assert message in data["message"]
    assert sim.issued_tokens == []


def test_token_for_an_unknown_installation_is_not_found(sim: GitHubSim, clock: Clock) -> None:
    reply, _ = call(sim, "POST", "/app/installations/1/access_tokens", app_jwt(clock))
    assert reply.status == 404


def test_malformed_json_body(sim: GitHubSim, clock: Clock) -> None:
    reply = sim.handle(
        "POST",
        f"/app/installations/{INSTALLATION_ID}/access_tokens",
        {},
        {"Authorization": app_jwt(clock)},
        b"{nope",
    )
    assert reply.status == 400
    assert json.loads(reply.body)["message"] == "Problems parsing JSON"


def test_revoked_token_is_dead(sim: GitHubSim, clock: Clock) -> None:
    token = new_token(sim, clock)
    reply, _ = call(sim, "DELETE", "/installation/token", f"token {token}")
    assert (reply.status, reply.body) == (204, b"")
    assert sim.revoked_tokens == {token}
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", f"token {token}")
    assert (reply.status, data["message"]) == (401, "Bad credentials")
    reply, _ = call(sim, "DELETE", "/installation/token", f"token {token}")
    assert reply.status == 401


def test_only_an_installation_token_can_revoke_itself(sim: GitHubSim, clock: Clock) -> None:
    reply, _ = call(sim, "DELETE", "/installation/token", f"token {PAT}")
    assert reply.status == 403
    reply, _ = call(sim, "DELETE", "/installation/token", app_jwt(clock))
    assert reply.status == 403
    assert sim.revoked_tokens == set()


def test_installation_token_expires_after_an_hour(sim: GitHubSim, clock: Clock) -> None:
    token = new_token(sim, clock)
    clock.now += 3600
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", f"token {token}")
    assert (reply.status, data["message"]) == (401, "Bad credentials")


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_pat_in_either_scheme(sim: GitHubSim, scheme: str) -> None:
    reply, data = call(sim, "GET", f"/orgs/{OWNER}/actions/runners", f"{scheme} {PAT}")
    assert reply.status == 200
    assert data == {"total_count": 0, "runners": []}


def test_wrong_or_missing_credentials(sim: GitHubSim) -> None:
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", "token ghp_wrong")
    assert (reply.status, data["message"]) == (401, "Bad credentials")
    assert data["documentation_url"]
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners")
    assert (reply.status, data["message"]) == (401, "Requires authentication")
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runners", f"Basic {PAT}")
    assert reply.status == 401


def test_other_repositories_are_not_found(sim: GitHubSim) -> None:
    reply, _ = call(sim, "GET", f"/repos/{OWNER}/secret-repo/actions/runners", f"token {PAT}")
    assert reply.status == 404
    reply, _ = call(sim, "GET", "/orgs/other-org/actions/runners", f"token {PAT}")
    assert reply.status == 404


def test_missing_permission_mode(sim: GitHubSim, clock: Clock) -> None:
    token = new_token(sim, clock)
    sim.add_workflow_run(5, "in_progress", None)
    sim.set_missing_permission(True)
    path = f"/repos/{OWNER}/{REPO}/actions/runners/registration-token"
    reply, data = call(sim, "POST", path, f"token {token}")
    assert (reply.status, data["message"]) == (403, "Resource not accessible by integration")
    reply, data = call(sim, "POST", path, f"token {PAT}")
    assert (reply.status, data["message"]) == (
        403,
        "Resource not accessible by personal access token",
    )
    installation = call(sim, "GET", f"/orgs/{OWNER}/installation", app_jwt(clock))[1]
    assert "administration" not in installation["permissions"]
    runs = f"/repos/{OWNER}/{REPO}/actions/runs/5"
    assert call(sim, "GET", runs, f"token {token}")[0].status == 200
    sim.set_missing_permission(False)
    assert call(sim, "POST", path, f"token {token}")[0].status == 201


def test_rate_limit_counts_down_and_refuses_until_reset(sim: GitHubSim, clock: Clock) -> None:
    path = f"/orgs/{OWNER}/actions/runners"
    reply, _ = call(sim, "GET", path, f"token {PAT}")
    assert reply.headers["x-ratelimit-remaining"] == "4999"
    assert reply.headers["x-ratelimit-used"] == "1"
    sim.set_rate_limit(2, reset_in=30)
    remaining = [call(sim, "GET", path, f"token {PAT}")[0] for _ in range(2)]
    assert [r.headers["x-ratelimit-remaining"] for r in remaining] == ["1", "0"]
    reply, data = call(sim, "GET", path, f"token {PAT}")
    assert reply.status == 403
    assert data["message"].startswith("API rate limit exceeded")
    assert reply.headers["x-ratelimit-remaining"] == "0"
    assert reply.headers["x-ratelimit-reset"] == str(int(START) + 30)
    clock.now += 30
    reply, _ = call(sim, "GET", path, f"token {PAT}")
    assert reply.status == 200
    assert reply.headers["x-ratelimit-remaining"] == "4999"


def test_rate_limit_back_to_normal(sim: GitHubSim) -> None:
    sim.set_rate_limit(0)
    path = f"/orgs/{OWNER}/actions/runners"
    assert call(sim, "GET", path, f"token {PAT}")[0].status == 403
    sim.set_rate_limit(None)
    reply, _ = call(sim, "GET", path, f"token {PAT}")
    assert reply.status == 200
    assert reply.headers["x-ratelimit-remaining"] == "4999"


def test_api_version_and_accept_are_recorded_and_checked(sim: GitHubSim) -> None:
    path = f"/orgs/{OWNER}/actions/runners"
    assert call(sim, "GET", path, f"token {PAT}")[0].status == 200
    assert call(sim, "GET", path, f"token {PAT}", headers={"Accept": "*/*"})[0].status == 200
    reply, data = call(sim, "GET", path, f"token {PAT}", headers={"X-GitHub-Api-Version": "1999"})
    assert (reply.status, data["message"]) == (400, "API version 1999 is not supported.")
    reply, _ = call(sim, "GET", path, f"token {PAT}", headers={"Accept": "text/html"})
    assert reply.status == 415
    calls = sim.rest_calls
    assert [c.api_version for c in calls] == ["2022-11-28", "2022-11-28", "1999", "2022-11-28"]
    assert calls[0].operation == "actions/list-self-hosted-runners-for-org"
    assert calls[0].auth == "pat"
    assert all(PAT not in repr(c) for c in calls)


def test_workflow_runs(sim: GitHubSim, clock: Clock) -> None:
    sim.add_workflow_run(77, "in_progress", None)
    clock.now += 90
    sim.add_workflow_run(77, "completed", "cancelled")
    reply, data = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runs/77", f"token {PAT}")
    assert reply.status == 200
    assert (data["id"], data["status"], data["conclusion"]) == (77, "completed", "cancelled")
    assert data["created_at"] == "2027-01-15T08:00:00Z"
    assert data["updated_at"] == "2027-01-15T08:01:30Z"
    reply, _ = call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runs/78", f"token {PAT}")
    assert reply.status == 404


def test_tokens_from_many_threads_are_all_distinct(sim: GitHubSim, clock: Clock) -> None:
    tokens: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        token = new_token(sim, clock)
        with lock:
            tokens.append(token)

    threads = [threading.Thread(target=take) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 16
    assert sorted(sim.issued_tokens) == sorted(tokens)
