"""The stand-in GitHub's runners: REST registration and listing, sessions, jobs, release."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import runpod_ssh_action.sim as sim_package
from runpod_ssh_action.sim.github import GitHubSim, Reply
from runpod_ssh_action.sim.github_auth import new_app_keypair
from runpod_ssh_action.sim.github_runners import OFFLINE_AFTER

OWNER, REPO, PAT = "octo-org", "gpu-ci", "ghp_" + "p" * 36
BASE = "https://127.0.0.1:8443"
_, PUBLIC_KEY = new_app_keypair()
REPO_RUNNERS = f"/repos/{OWNER}/{REPO}/actions/runners"
ORG_RUNNERS = f"/orgs/{OWNER}/actions/runners"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

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
        app_id=1,
        app_public_key_pem=PUBLIC_KEY,
        pat=PAT,
        base_url=lambda: BASE,
        clock_now=clock,
    )


def call(
    sim: GitHubSim,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str | None = f"token {PAT}",
    query: dict[str, list[str]] | None = None,
) -> tuple[Reply, Any]:
    headers = {"Accept": "application/vnd.github+json"}
    if auth is not None:
        headers["Authorization"] = auth
    raw = b"" if body is None else json.dumps(body).encode()
    reply = sim.handle(method, path, query or {}, headers, raw)
    return reply, (json.loads(reply.body) if reply.body else None)


def jit(
    sim: GitHubSim, name: str = "pod-1", labels: list[str] | None = None, scope: str = REPO_RUNNERS
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Register a JIT runner; return its REST view and its decoded config."""
    body = {"name": name, "runner_group_id": 1, "labels": labels or ["gpu-abc"]}
    reply, data = call(sim, "POST", scope + "/generate-jitconfig", body)
    assert reply.status == 201, data
    return data["runner"], json.loads(base64.b64decode(data["encoded_jit_config"]))


def runner_call(
    sim: GitHubSim, config: dict[str, Any], action: str, method: str = "POST", **query: str
) -> tuple[Reply, Any]:
    return call(
        sim,
        method,
        f"/_sim/runner/{config['runner_id']}/{action}",
        auth=f"Bearer {config['secret']}",
        query={key: [value] for key, value in query.items()},
    )


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The stand-in runner's listener: a script in the tarball, not a package module."""
    path = Path(sim_package.__path__[0]) / "runner" / "runner_listener.py"
    spec = importlib.util.spec_from_file_location("stand_in_runner_listener", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


# --- REST ------------------------------------------------------------------------------


def test_jit_config_registers_an_offline_runner(sim: GitHubSim) -> None:
    runner, config = jit(sim, labels=["gpu-abc", "h100"])
    assert runner["name"] == "pod-1"
    assert (runner["os"], runner["status"], runner["busy"]) == ("linux", "offline", False)
    # Exactly the labels asked for: no self-hosted, linux or x64 on a JIT runner.
    labels = [(label["name"], label["type"]) for label in runner["labels"]]
    assert labels == [("gpu-abc", "custom"), ("h100", "custom")]
    assert all(isinstance(label["id"], int) for label in runner["labels"])
    assert config["runner_id"] == runner["id"]
    assert config["base_url"] == BASE
    assert len(config["secret"]) >= 32
    assert config["work_folder"] == "_work"
    listed = call(sim, "GET", REPO_RUNNERS)[1]
    assert listed["total_count"] == 1
    assert listed["runners"][0]["id"] == runner["id"]


def test_repo_and_org_runners_are_separate(sim: GitHubSim) -> None:
    repo_runner, _ = jit(sim, "same-name")
    org_runner, _ = jit(sim, "same-name", scope=ORG_RUNNERS)
    assert repo_runner["id"] != org_runner["id"]
    assert [r["id"] for r in call(sim, "GET", ORG_RUNNERS)[1]["runners"]] == [org_runner["id"]]
    assert call(sim, "GET", f"{ORG_RUNNERS}/{repo_runner['id']}")[0].status == 404
    assert call(sim, "DELETE", f"{REPO_RUNNERS}/{org_runner['id']}")[0].status == 404
    assert {(r["id"], r["scope"]) for r in sim.runners()} == {
        (repo_runner["id"], "repo"),
        (org_runner["id"], "org"),
    }


def test_duplicate_runner_name_conflicts(sim: GitHubSim) -> None:
    jit(sim, "pod-1")
    body = {"name": "POD-1", "runner_group_id": 1, "labels": ["x"]}
    reply, data = call(sim, "POST", REPO_RUNNERS + "/generate-jitconfig", body)
    assert reply.status == 409
    assert data["message"] == "Already exists - A runner with the name POD-1 already exists."


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "a", "runner_group_id": 2, "labels": ["x"]}, 404),
        ({"name": "a", "labels": ["x"]}, 422),
        ({"name": "a", "runner_group_id": "1", "labels": ["x"]}, 422),
        ({"runner_group_id": 1, "labels": ["x"]}, 422),
        ({"name": "", "runner_group_id": 1, "labels": ["x"]}, 422),
        ({"name": "a" * 65, "runner_group_id": 1, "labels": ["x"]}, 422),
        ({"name": "a", "runner_group_id": 1}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": []}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": "x"}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": ["a,b"]}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": [" "]}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": ["x" * 257]}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": [f"l{i}" for i in range(101)]}, 422),
        ({"name": "a", "runner_group_id": 1, "labels": ["x"], "work_folder": 3}, 422),
    ],
)
def test_bad_jit_requests(sim: GitHubSim, body: dict[str, Any], status: int) -> None:
    for scope in (REPO_RUNNERS, ORG_RUNNERS):
        reply, data = call(sim, "POST", scope + "/generate-jitconfig", body)
        assert reply.status == status
        assert data["message"]
    assert sim.runners() == []


def test_registration_and_remove_tokens_last_an_hour_and_carry_the_address(
    sim: GitHubSim, listener: ModuleType
) -> None:
    for kind in ("registration-token", "remove-token"):
        for scope in (REPO_RUNNERS, ORG_RUNNERS):
            reply, data = call(sim, "POST", f"{scope}/{kind}")
            assert reply.status == 201
            assert data["expires_at"] == "2027-01-15T09:00:00Z"
            assert data["token"][:29].isupper()
            assert listener.address_from_token(data["token"]) == BASE
    assert listener.address_from_token("A" * 29) is None
    assert listener.address_from_token("A" * 29 + "!!") is None


def test_listing_pages_with_link_header(sim: GitHubSim) -> None:
    ids = [jit(sim, f"pod-{n}")[0]["id"] for n in range(5)]
    reply, data = call(sim, "GET", REPO_RUNNERS, query={"per_page": ["2"], "page": ["2"]})
    assert data["total_count"] == 5
    assert [r["id"] for r in data["runners"]] == ids[2:4]
    link = reply.headers["link"]
    url = f"{BASE}{REPO_RUNNERS}?per_page=2&page="
    assert f'<{url}3>; rel="next"' in link
    assert f'<{url}3>; rel="last"' in link
    assert f'<{url}1>; rel="prev"' in link
    assert f'<{url}1>; rel="first"' in link
    reply, data = call(sim, "GET", REPO_RUNNERS, query={"per_page": ["2"], "page": ["3"]})
    assert [r["id"] for r in data["runners"]] == ids[4:]
    assert 'rel="next"' not in reply.headers["link"]
    reply, data = call(sim, "GET", REPO_RUNNERS, query={"per_page": ["500"]})
    assert len(data["runners"]) == 5
    assert "link" not in reply.headers


def test_listing_by_name(sim: GitHubSim) -> None:
    jit(sim, "pod-1")
    wanted, _ = jit(sim, "pod-2")
    data = call(sim, "GET", REPO_RUNNERS, query={"name": ["pod-2"], "per_page": ["100"]})[1]
    assert (data["total_count"], data["runners"][0]["id"]) == (1, wanted["id"])
    assert call(sim, "GET", REPO_RUNNERS, query={"name": ["pod"]})[1]["total_count"] == 0


def test_get_and_delete_a_runner(sim: GitHubSim) -> None:
    runner, _ = jit(sim)
    path = f"{REPO_RUNNERS}/{runner['id']}"
    reply, data = call(sim, "GET", path)
    assert (reply.status, data["name"]) == (200, "pod-1")
    assert call(sim, "DELETE", path)[0].status == 204
    reply, data = call(sim, "GET", path)
    assert (reply.status, data["message"]) == (404, "Not Found")
    assert call(sim, "DELETE", path)[0].status == 404


# --- sessions and jobs -------------------------------------------------------------------


def test_ephemeral_runner_takes_one_job_and_is_removed(sim: GitHubSim) -> None:
    runner, config = jit(sim, labels=["gpu-abc"])
    assert runner_call(sim, config, "connect")[0].status == 204
    assert sim.runners()[0]["status"] == "online"
    assert sim.live_runner_count() == 1
    job_id = sim.dispatch_job("gpu-abc", "echo hi")
    assert sim.job(job_id)["status"] == "queued"
    reply, job = runner_call(sim, config, "job", "GET", wait="0")
    assert (reply.status, job["job_id"], job["script"]) == (200, job_id, "echo hi")
    assert sim.job(job_id) == {
        "status": "in_progress",
        "exit_code": None,
        "runner_id": runner["id"],
        "output": "",
    }
    path = f"{REPO_RUNNERS}/{runner['id']}"
    assert call(sim, "GET", path)[1]["busy"] is True
    reply, data = call(sim, "DELETE", path)
    assert (reply.status, data["message"]) == (
        422,
        'Bad request - Runner "pod-1" is still running a job"',
    )
    reply, _ = call(
        sim,
        "POST",
        f"/_sim/runner/{runner['id']}/jobs/{job_id}/result",
        {"exit_code": 3, "output": "hi\n"},
        auth=f"Bearer {config['secret']}",
    )
    assert reply.status == 204
    assert sim.job(job_id) == {
        "status": "completed",
        "exit_code": 3,
        "runner_id": runner["id"],
        "output": "hi\n",
    }
    assert call(sim, "GET", path)[0].status == 404
    assert sim.runners() == []
    assert runner_call(sim, config, "job", "GET", wait="0")[0].status == 404


def test_runner_calls_need_the_runners_secret(sim: GitHubSim) -> None:
    _, config = jit(sim)
    wrong = dict(config, secret="nope")
    assert runner_call(sim, wrong, "connect")[0].status == 401
    reply, _ = call(sim, "POST", f"/_sim/runner/{config['runner_id']}/connect", auth=None)
    assert reply.status == 401
    assert runner_call(sim, dict(config, runner_id=999), "connect")[0].status == 404
    assert sim.runners()[0]["status"] == "offline"


def test_jobs_go_only_to_online_idle_runners_with_the_label(sim: GitHubSim) -> None:
    _, first = jit(sim, "one", labels=["pool-a"])
    _, second = jit(sim, "two", labels=["pool-b"])
    job_id = sim.dispatch_job("pool-b", "true")
    # Not connected yet: no job, even for the right label.
    assert runner_call(sim, second, "job", "GET", wait="0")[0].status == 204
    runner_call(sim, first, "connect")
    assert runner_call(sim, first, "job", "GET", wait="0")[0].status == 204
    assert sim.job(job_id)["status"] == "queued"
    runner_call(sim, second, "connect")
    assert runner_call(sim, second, "job", "GET", wait="0")[1]["job_id"] == job_id
    # A job asking only for self-hosted matches no JIT runner.
    sim.dispatch_job("self-hosted", "true")
    assert runner_call(sim, first, "job", "GET", wait="0")[0].status == 204
    other = sim.dispatch_job("pool-a", "true")
    assert runner_call(sim, first, "job", "GET", wait="0")[1]["job_id"] == other


def test_a_busy_runner_polling_again_gets_its_job_again(sim: GitHubSim) -> None:
    _, config = jit(sim)
    runner_call(sim, config, "connect")
    job_id = sim.dispatch_job("gpu-abc", "true")
    later = sim.dispatch_job("gpu-abc", "true")
    assert runner_call(sim, config, "job", "GET", wait="0")[1]["job_id"] == job_id
    assert runner_call(sim, config, "job", "GET", wait="0")[1]["job_id"] == job_id
    assert sim.job(later)["status"] == "queued"


def test_a_second_session_for_a_live_runner_is_refused(sim: GitHubSim) -> None:
    _, config = jit(sim)
    assert runner_call(sim, config, "connect")[0].status == 204
    reply, data = runner_call(sim, config, "connect")
    assert (reply.status, data["message"]) == (409, "A session for this runner already exists.")
    assert runner_call(sim, config, "disconnect")[0].status == 204
    assert sim.runners()[0]["status"] == "offline"
    assert runner_call(sim, config, "connect")[0].status == 204


def test_runner_goes_offline_without_heartbeats(sim: GitHubSim, clock: Clock) -> None:
    _, config = jit(sim)
    runner_call(sim, config, "connect")
    clock.now += OFFLINE_AFTER - 1
    runner_call(sim, config, "heartbeat")
    clock.now += OFFLINE_AFTER - 1
    assert sim.live_runner_count() == 1
    clock.now += 2
    assert sim.live_runner_count() == 0
    assert sim.runners()[0]["status"] == "offline"


def test_job_of_a_silent_runner_is_lost(sim: GitHubSim, clock: Clock) -> None:
    runner, config = jit(sim)
    runner_call(sim, config, "connect")
    job_id = sim.dispatch_job("gpu-abc", "sleep 1000")
    runner_call(sim, config, "job", "GET", wait="0")
    clock.now += OFFLINE_AFTER + 1
    job = sim.job(job_id)
    assert (job["status"], job["exit_code"]) == ("completed", None)
    assert "lost communication with the server" in job["output"]
    # GitHub keeps the registration (offline, idle) of a runner that vanished mid-job.
    assert call(sim, "GET", f"{REPO_RUNNERS}/{runner['id']}")[1]["busy"] is False


def test_never_online_swallows_connects(sim: GitHubSim) -> None:
    sim.set_runner_never_online(True)
    _, config = jit(sim)
    sim.dispatch_job("gpu-abc", "true")
    assert runner_call(sim, config, "connect")[0].status == 204
    assert runner_call(sim, config, "heartbeat")[0].status == 204
    assert runner_call(sim, config, "job", "GET", wait="0")[0].status == 204
    assert sim.runners()[0]["status"] == "offline"
    assert sim.live_runner_count() == 0


def test_online_delay(sim: GitHubSim, clock: Clock) -> None:
    sim.set_runner_online_delay(3)
    _, config = jit(sim)
    runner_call(sim, config, "connect")
    assert sim.live_runner_count() == 0
    clock.now += 3
    runner_call(sim, config, "heartbeat")
    assert sim.live_runner_count() == 1


def test_long_poll_wakes_when_a_job_arrives(sim: GitHubSim) -> None:
    _, config = jit(sim)
    runner_call(sim, config, "connect")
    answers: list[Any] = []
    poller = threading.Thread(
        target=lambda: answers.append(runner_call(sim, config, "job", "GET", wait="10")[1])
    )
    poller.start()
    job_id = sim.dispatch_job("gpu-abc", "true")
    poller.join(timeout=30)
    assert answers == [{"job_id": job_id, "label": "gpu-abc", "script": "true"}]


def test_wait_until(sim: GitHubSim) -> None:
    _, config = jit(sim)
    connector = threading.Thread(target=lambda: runner_call(sim, config, "connect"))
    connector.start()
    assert sim.wait_until(lambda: sim.live_runner_count() == 1, timeout=30)
    connector.join()
    assert not sim.wait_until(lambda: sim.live_runner_count() == 2, timeout=0.01)


def test_bad_job_result_is_refused(sim: GitHubSim) -> None:
    runner, config = jit(sim)
    runner_call(sim, config, "connect")
    job_id = sim.dispatch_job("gpu-abc", "true")
    runner_call(sim, config, "job", "GET", wait="0")
    path = f"/_sim/runner/{runner['id']}/jobs/{job_id}/result"
    auth = f"Bearer {config['secret']}"
    assert call(sim, "POST", path, {"exit_code": "0"}, auth=auth)[0].status == 422
    reply, _ = call(sim, "POST", path.replace(job_id, "job-99"), {"exit_code": 0}, auth=auth)
    assert reply.status == 404
    assert sim.job(job_id)["status"] == "in_progress"


# --- config.sh's registration ----------------------------------------------------------


def registration_token(sim: GitHubSim, kind: str = "registration-token") -> str:
    return str(call(sim, "POST", f"{REPO_RUNNERS}/{kind}")[1]["token"])


def register(sim: GitHubSim, token: str, **body: Any) -> tuple[Reply, Any]:
    body = {"name": "classic", "labels": ["gpu-abc"], "url": "https://github.com/o/r"} | body
    return call(sim, "POST", "/_sim/runner/register", body, auth=f"RemoteAuth {token}")


def test_registration_token_registers_a_runner(sim: GitHubSim) -> None:
    reply, data = register(sim, registration_token(sim), ephemeral=True, disable_update=True)
    assert reply.status == 201
    assert data["runner"]["ephemeral"] is True
    assert data["secret"]
    assert sim.registrations == [
        {
            "runner_id": data["runner_id"],
            "name": "classic",
            "url": "https://github.com/o/r",
            "ephemeral": True,
            "replace": False,
            "disable_update": True,
        }
    ]
    listed = call(sim, "GET", REPO_RUNNERS)[1]["runners"]
    assert [label["name"] for label in listed[0]["labels"]][-1] == "gpu-abc"


def test_registration_conflicts_and_replace(sim: GitHubSim) -> None:
    token = registration_token(sim)
    first = register(sim, token)[1]
    reply, _ = register(sim, token)
    assert reply.status == 409
    reply, second = register(sim, token, replace=True)
    assert reply.status == 201
    assert [r["id"] for r in sim.runners()] == [second["runner_id"]]
    assert second["runner_id"] != first["runner_id"]
    # A runner in the middle of a job is not replaced, as it is not deleted.
    config = {"runner_id": second["runner_id"], "secret": second["secret"]}
    runner_call(sim, config, "connect")
    sim.dispatch_job("gpu-abc", "true")
    runner_call(sim, config, "job", "GET", wait="0")
    assert register(sim, token, replace=True)[0].status == 422


def test_registration_refusals(sim: GitHubSim, clock: Clock) -> None:
    token = registration_token(sim)
    reply, data = register(sim, token, runner_group="gpu-pool")
    assert reply.status == 404
    assert data["message"] == 'Could not find any self-hosted runner group named "gpu-pool".'
    assert register(sim, "A" * 40)[0].status == 401
    assert register(sim, registration_token(sim, "remove-token"))[0].status == 401
    assert register(sim, token, labels=["a,b"])[0].status == 422
    clock.now += 3600
    assert register(sim, token)[0].status == 401
    assert sim.runners() == []


def test_no_default_labels(sim: GitHubSim) -> None:
    data = register(sim, registration_token(sim), no_default_labels=True)[1]
    assert [label["name"] for label in data["runner"]["labels"]] == ["gpu-abc"]


def test_default_labels_unless_told_not_to(sim: GitHubSim) -> None:
    data = register(sim, registration_token(sim))[1]
    names = [label["name"] for label in data["runner"]["labels"]]
    assert names == ["self-hosted", "linux", "x64", "gpu-abc"]
    config = {"runner_id": data["runner_id"], "secret": data["secret"]}
    runner_call(sim, config, "connect")
    job_id = sim.dispatch_job("self-hosted", "true")
    assert runner_call(sim, config, "job", "GET", wait="0")[1]["job_id"] == job_id


ORG_GROUP = f"/orgs/{OWNER}/actions/runner-groups"


def test_runner_groups_of_the_organization(sim: GitHubSim) -> None:
    sim.add_runner_group(2, "gpu")
    reply, group = call(sim, "GET", f"{ORG_GROUP}/2")
    assert reply.status == 200
    assert (group["id"], group["name"], group["default"]) == (2, "gpu", False)
    assert call(sim, "GET", f"{ORG_GROUP}/1")[1]["name"] == "Default"
    assert call(sim, "GET", f"{ORG_GROUP}/3")[0].status == 404
    # Repositories have no runner groups of their own.
    assert call(sim, "GET", f"/repos/{OWNER}/{REPO}/actions/runner-groups/2")[0].status == 404


def test_jit_runner_in_an_organization_group(sim: GitHubSim) -> None:
    sim.add_runner_group(2, "gpu")
    body = {"name": "pod-9", "runner_group_id": 2, "labels": ["x"]}
    reply, data = call(sim, "POST", ORG_RUNNERS + "/generate-jitconfig", body)
    assert reply.status == 201 and data["runner"]["runner_group_id"] == 2
    # A repository runner cannot join it.
    assert call(sim, "POST", REPO_RUNNERS + "/generate-jitconfig", body)[0].status == 404


def test_config_sh_joins_a_group_by_name_ignoring_case(sim: GitHubSim) -> None:
    sim.add_runner_group(2, "gpu")
    token = str(call(sim, "POST", f"{ORG_RUNNERS}/registration-token")[1]["token"])
    reply, data = register(sim, token, runner_group="GPU")
    assert reply.status == 201 and data["runner"]["runner_group_id"] == 2
    # A repository registration token sees only the default group.
    reply, data = register(sim, registration_token(sim), name="other", runner_group="gpu")
    assert reply.status == 404
    assert data["message"] == 'Could not find any self-hosted runner group named "gpu".'


def test_non_ephemeral_runner_stays_after_its_job(sim: GitHubSim) -> None:
    data = register(sim, registration_token(sim))[1]
    config = {"runner_id": data["runner_id"], "secret": data["secret"]}
    runner_call(sim, config, "connect")
    job_id = sim.dispatch_job("gpu-abc", "true")
    runner_call(sim, config, "job", "GET", wait="0")
    call(
        sim,
        "POST",
        f"/_sim/runner/{data['runner_id']}/jobs/{job_id}/result",
        {"exit_code": 0, "output": ""},
        auth=f"Bearer {data['secret']}",
    )
    assert [(r["status"], r["busy"]) for r in sim.runners()] == [("online", False)]


def test_remove_token_unregisters(sim: GitHubSim) -> None:
    data = register(sim, registration_token(sim))[1]
    secret_body = {"runner_id": data["runner_id"], "secret": data["secret"]}
    remove = registration_token(sim, "remove-token")
    reply, _ = call(
        sim,
        "POST",
        "/_sim/runner/remove",
        dict(secret_body, secret="x"),
        auth=f"RemoteAuth {remove}",
    )
    assert reply.status == 401
    reply, _ = call(
        sim,
        "POST",
        "/_sim/runner/remove",
        secret_body,
        auth=f"RemoteAuth {registration_token(sim)}",
    )
    assert reply.status == 401
    reply, _ = call(sim, "POST", "/_sim/runner/remove", secret_body, auth=f"RemoteAuth {remove}")
    assert reply.status == 204
    assert sim.runners() == []


# --- the release --------------------------------------------------------------------------


def test_release_download_redirects_to_the_asset(sim: GitHubSim) -> None:
    version, _, data = sim.runner_tarball
    assert sim.runner_download_url() == (
        f"{BASE}/actions/runner/releases/download/v{version}/"
        f"actions-runner-linux-x64-{version}.tar.gz"
    )
    path = sim.runner_download_url().removeprefix(BASE)
    reply = sim.handle("GET", path, {}, {}, b"")
    assert reply.status == 302
    location = reply.headers["location"]
    assert location.startswith(BASE)
    reply = sim.handle("GET", location.removeprefix(BASE), {}, {}, b"")
    assert (reply.status, reply.body) == (200, data)
    assert reply.headers["content-type"] == "application/octet-stream"
    missing = path.replace(version, "2.0.0")
    assert sim.handle("GET", missing, {}, {}, b"").status == 404
