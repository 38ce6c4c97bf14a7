from __future__ import annotations

from typing import Any

import pytest
import requests
import responses
from gh_helpers import API, ORG, REPO, AppLogin, sent_json
from responses import matchers

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import NetworkError
from runpod_ssh_action.github import GitHubClient, Runner, RunnerScope
from runpod_ssh_action.github.errors import (
    BadCredentialsError,
    GitHubError,
    InvalidRequestError,
    PermissionMissingError,
    RunnerBusyError,
    RunnerGroupNotFoundError,
    RunnerNameConflictError,
)
from runpod_ssh_action.masking import Masker

RUNNERS = f"{API}/repos/octo/gpu/actions/runners"
JIT_URL = f"{RUNNERS}/generate-jitconfig"
ENCODED = "eyJydW5uZXIiOiJqaXQtY29uZmlnLXNlY3JldCJ9" * 8


def runner_json(runner_id: int = 77, name: str = "rp-1", status: str = "offline") -> dict[str, Any]:
    return {
        "id": runner_id,
        "name": name,
        "os": "linux",
        "status": status,
        "busy": False,
        "labels": [
            {"id": 1, "name": "self-hosted", "type": "read-only"},
            {"id": 2, "name": "rp-label", "type": "custom"},
        ],
    }


def jit_json(runner_id: int = 77, name: str = "rp-1") -> dict[str, Any]:
    return {"runner": runner_json(runner_id, name), "encoded_jit_config": ENCODED}


def page_json(*runners: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    return {"total_count": len(runners) if total is None else total, "runners": list(runners)}


# --- JIT configs --------------------------------------------------------------------


def test_generate_jit_config(
    api: responses.RequestsMock,
    pat_client: GitHubClient,
    masker: Masker,
    announced: list[str],
) -> None:
    api.post(JIT_URL, json=jit_json(), status=201)

    jit = pat_client.generate_jit_config(REPO, "rp-1", ["rp-label", "gpu"])

    assert sent_json(api.calls[0]) == {
        "name": "rp-1",
        "runner_group_id": 1,
        "labels": ["rp-label", "gpu"],
        "work_folder": "_work",
    }
    assert jit.runner == Runner(77, "rp-1", "offline", False, ("self-hosted", "rp-label"))
    assert jit.encoded_jit_config == ENCODED
    assert ENCODED in masker and ENCODED in announced
    assert ENCODED not in repr(jit)


def test_generate_jit_config_for_an_organization_group(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(f"{API}/orgs/octo/actions/runners/generate-jitconfig", json=jit_json(), status=201)
    pat_client.generate_jit_config(ORG, "rp-1", ["x"], runner_group_id=9, work_folder="w")
    assert sent_json(api.calls[0])["runner_group_id"] == 9
    assert sent_json(api.calls[0])["work_folder"] == "w"


def test_unknown_org_runner_group(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.post(
        f"{API}/orgs/octo/actions/runners/generate-jitconfig",
        json={"message": "Not Found"},
        status=404,
    )
    with pytest.raises(RunnerGroupNotFoundError) as caught:
        pat_client.generate_jit_config(ORG, "rp-1", ["x"], runner_group_id=9)
    text = str(caught.value)
    assert "runner group 9" in text and "Runner groups" in text and "repository" in text
    assert len(api.calls) == 1


def test_repo_runner_group_must_be_the_default(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, status=404)
    with pytest.raises(RunnerGroupNotFoundError, match="set the runner group to 1"):
        pat_client.generate_jit_config(REPO, "rp-1", ["x"], runner_group_id=3)


# --- runner groups ----------------------------------------------------------------

GROUP_URL = f"{API}/orgs/octo/actions/runner-groups/2"


def test_runner_group_name(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    # The answer's shape is runner-groups-org in github/rest-api-description.
    api.get(GROUP_URL, json={"id": 2, "name": "gpu", "visibility": "all", "default": False})
    assert pat_client.runner_group_name(ORG, 2) == "gpu"
    assert pat_client.metrics.snapshot()["actions/get-self-hosted-runner-group-for-org"]


def test_unknown_runner_group(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(GROUP_URL, json={"message": "Not Found"}, status=404)
    with pytest.raises(RunnerGroupNotFoundError) as caught:
        pat_client.runner_group_name(ORG, 2)
    text = str(caught.value)
    assert "organization octo has no runner group 2" in text
    assert "Runner groups" in text


def test_repositories_have_no_runner_groups(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    with pytest.raises(RunnerGroupNotFoundError, match="runner-group-id to 1"):
        pat_client.runner_group_name(REPO, 2)
    assert len(api.calls) == 0


def test_runner_group_without_a_name(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(GROUP_URL, json={"id": 2})
    with pytest.raises(GitHubError, match="'name' is missing"):
        pat_client.runner_group_name(ORG, 2)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (409, "Already exists - A runner with the name rp-1 already exists."),
        (422, "Validation Failed: runner with name rp-1 already exists"),
    ],
)
def test_name_conflict(
    api: responses.RequestsMock, pat_client: GitHubClient, status: int, message: str
) -> None:
    api.post(JIT_URL, json={"message": message}, status=status)
    with pytest.raises(RunnerNameConflictError) as caught:
        pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert "'rp-1' is already registered" in str(caught.value)
    assert caught.value.status == status
    # Someone else's runner: never deleted, never retried.
    assert len(api.calls) == 1


def test_a_single_label_string_is_one_label(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, json=jit_json(), status=201)
    pat_client.generate_jit_config(REPO, "rp-1", "gpu-box")
    assert sent_json(api.calls[0])["labels"] == ["gpu-box"]


def test_other_validation_failures_quote_github(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(
        JIT_URL,
        json={
            "message": "Validation Failed",
            "errors": [{"resource": "Runner", "field": "labels", "code": "invalid"}],
        },
        status=422,
    )
    with pytest.raises(InvalidRequestError) as caught:
        pat_client.generate_jit_config(REPO, "rp-1", [])
    assert caught.value.github_message == "Validation Failed; Runner labels invalid"
    assert "Validation Failed; Runner labels invalid" in str(caught.value)


def test_app_without_administration_permission(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.post(JIT_URL, json={"message": "Resource not accessible by integration"}, status=403)
    with pytest.raises(PermissionMissingError) as caught:
        gh.generate_jit_config(REPO, "rp-1", ["x"])
    assert caught.value.permission == "administration" and caught.value.level == "write"
    text = str(caught.value)
    assert "'administration: write'" in text
    assert "Resource not accessible by integration" in text
    assert "Administration: Read and write" in text


def test_app_without_org_runner_permission(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login(ORG)
    api.get(f"{API}/orgs/octo/actions/runners", status=403, json={"message": "Forbidden"})
    with pytest.raises(PermissionMissingError) as caught:
        gh.check_runner_access(ORG)
    assert caught.value.permission == "organization_self_hosted_runners"
    assert "Self-hosted runners: Read and write" in str(caught.value)


@pytest.mark.parametrize(
    ("scope", "url", "expected"),
    [
        (REPO, RUNNERS, ["'repo' scope", "Administration: Read and write", "admin of the repo"]),
        (ORG, f"{API}/orgs/octo/actions/runners", ["'admin:org' scope", "Self-hosted runners"]),
    ],
)
def test_pat_without_rights_names_scopes_and_permissions(
    api: responses.RequestsMock,
    pat_client: GitHubClient,
    scope: RunnerScope,
    url: str,
    expected: list[str],
) -> None:
    api.get(url, status=403, json={"message": "Must have admin rights to Repository."})
    with pytest.raises(PermissionMissingError) as caught:
        pat_client.check_runner_access(scope)
    for phrase in expected:
        assert phrase in str(caught.value)


def test_expired_pat(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(RUNNERS, status=401, json={"message": "Bad credentials"})
    with pytest.raises(BadCredentialsError, match="expired, was revoked"):
        pat_client.check_runner_access(REPO)


def test_expired_installation_token(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.get(RUNNERS, status=401, json={"message": "Bad credentials"})
    with pytest.raises(BadCredentialsError, match="lasts one hour"):
        gh.check_runner_access(REPO)


def test_repository_not_visible(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(RUNNERS, status=404, json={"message": "Not Found"})
    with pytest.raises(GitHubError, match="repository octo/gpu was not found"):
        pat_client.check_runner_access(REPO)


def test_renamed_repository(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(RUNNERS, status=301, headers={"Location": f"{API}/repositories/1/actions/runners"})
    with pytest.raises(GitHubError, match="renamed or transferred"):
        pat_client.check_runner_access(REPO)


# --- a JIT POST that breaks ------------------------------------------------------------

RESET = requests.exceptions.ConnectionError("Connection aborted.")
REFUSED = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
BY_NAME = matchers.query_param_matcher({"per_page": "100", "page": "1", "name": "rp-1"})


def _methods(api: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in api.calls]


def test_broken_after_acting_removes_the_runner_then_retries_once(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.post(JIT_URL, body=RESET)
    api.get(RUNNERS, match=[BY_NAME], json=page_json(runner_json(77)))
    api.delete(f"{RUNNERS}/77", status=204)
    api.post(JIT_URL, json=jit_json(78), status=201)

    jit = pat_client.generate_jit_config(REPO, "rp-1", ["x"])

    assert jit.runner.id == 78
    assert _methods(api) == [
        "POST /repos/octo/gpu/actions/runners/generate-jitconfig",
        "GET /repos/octo/gpu/actions/runners",
        "DELETE /repos/octo/gpu/actions/runners/77",
        "POST /repos/octo/gpu/actions/runners/generate-jitconfig",
    ]
    assert clock.sleeps == [1.0]


def test_server_error_is_reconciled_like_a_break(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, status=502)
    api.get(RUNNERS, match=[BY_NAME], json=page_json())
    api.post(JIT_URL, json=jit_json(), status=201)
    assert pat_client.generate_jit_config(REPO, "rp-1", ["x"]).runner.id == 77
    assert len(api.calls) == 3


def test_refused_connection_never_acted_so_no_lookup(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, body=REFUSED)
    api.post(JIT_URL, json=jit_json(), status=201)
    pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert [c.request.method for c in api.calls] == ["POST", "POST"]


def test_broken_twice_cleans_up_both_times_and_raises(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, body=RESET)
    api.get(RUNNERS, match=[BY_NAME], json=page_json(runner_json(77)))
    api.delete(f"{RUNNERS}/77", status=204)
    api.post(JIT_URL, body=RESET)
    with pytest.raises(NetworkError) as caught:
        pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert caught.value.maybe_acted
    methods = [c.request.method for c in api.calls]
    assert methods == ["POST", "GET", "DELETE", "POST", "GET", "DELETE"]


def test_retry_finding_its_own_name_taken_removes_that_runner(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, body=RESET)
    # GitHub has not listed the runner the broken call made yet...
    api.get(RUNNERS, match=[BY_NAME], json=page_json())
    # ...but it exists: the retry hits its name.
    api.post(JIT_URL, status=409, json={"message": "Already exists"})
    api.get(RUNNERS, match=[BY_NAME], json=page_json(runner_json(77)))
    api.delete(f"{RUNNERS}/77", status=204)
    with pytest.raises(GitHubError, match="that runner was removed"):
        pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert api.calls[-1].request.method == "DELETE"


def test_reconciliation_that_fails_says_what_to_delete(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, body=RESET)
    api.get(RUNNERS, status=403, json={"message": "Forbidden"})
    with pytest.raises(GitHubError) as caught:
        pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert "Delete any runner named 'rp-1'" in str(caught.value)
    assert [c.request.method for c in api.calls] == ["POST", "GET"]


def test_registered_but_unreadable_answer_removes_the_runner(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.post(JIT_URL, json={"runner": runner_json(77)}, status=201)
    api.get(RUNNERS, match=[BY_NAME], json=page_json(runner_json(77)))
    api.delete(f"{RUNNERS}/77", status=204)
    with pytest.raises(GitHubError, match="'encoded_jit_config' is missing"):
        pat_client.generate_jit_config(REPO, "rp-1", ["x"])
    assert api.calls[-1].request.method == "DELETE"


# --- registration and remove tokens ---------------------------------------------------


@pytest.mark.parametrize("scope", [REPO, ORG], ids=str)
@pytest.mark.parametrize("kind", ["registration-token", "remove-token"])
def test_runner_tokens(
    api: responses.RequestsMock,
    pat_client: GitHubClient,
    masker: Masker,
    scope: RunnerScope,
    kind: str,
) -> None:
    token = f"AABF{kind.upper()}TOKEN3EXAMPLE"
    api.post(
        f"{API}{scope.path}/actions/runners/{kind}",
        json={"token": token, "expires_at": "2026-01-01T01:00:00.000-08:00"},
        status=201,
    )
    get = pat_client.registration_token if kind == "registration-token" else pat_client.remove_token
    result = get(scope)
    assert result.token == token and token in masker
    assert result.expires_at.utcoffset() is not None
    assert token not in repr(result)


def test_registration_token_without_permission(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.post(
        f"{RUNNERS}/registration-token",
        status=403,
        json={"message": "Resource not accessible by integration"},
    )
    with pytest.raises(PermissionMissingError, match="administration: write"):
        gh.registration_token(REPO)


# --- lookups --------------------------------------------------------------------------


def test_list_runners_reads_every_page(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    everyone = [runner_json(i, f"r-{i}") for i in range(1, 251)]
    for page in (1, 2, 3):
        api.get(
            RUNNERS,
            match=[matchers.query_param_matcher({"per_page": "100", "page": str(page)})],
            json=page_json(*everyone[(page - 1) * 100 : page * 100], total=250),
        )
    runners = pat_client.list_runners(REPO)
    assert [r.id for r in runners] == list(range(1, 251))
    assert len(api.calls) == 3


def test_list_runners_stops_on_a_short_page_even_without_a_total(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(RUNNERS, json={"runners": [runner_json(1)]})
    assert len(pat_client.list_runners(REPO)) == 1
    assert len(api.calls) == 1


def test_list_runners_by_name_keeps_exact_matches_only(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(
        f"{API}/orgs/octo/actions/runners",
        match=[BY_NAME],
        json=page_json(runner_json(1, "rp-1"), runner_json(2, "rp-10")),
    )
    assert [r.id for r in pat_client.list_runners(ORG, name="rp-1")] == [1]


def test_malformed_runner_list(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(RUNNERS, json={"runners": [{"id": "seven", "name": "x", "status": "online"}]})
    with pytest.raises(GitHubError, match="'id' is missing or not a int"):
        pat_client.list_runners(REPO)


def test_answer_that_is_not_json(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(RUNNERS, body="<html>proxy login</html>")
    with pytest.raises(GitHubError, match="was not JSON"):
        pat_client.list_runners(REPO)


def test_get_runner(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(f"{RUNNERS}/77", json={**runner_json(77, status="online"), "busy": True})
    api.get(f"{RUNNERS}/78", status=404, json={"message": "Not Found"})
    runner = pat_client.get_runner(REPO, 77)
    assert runner is not None and runner.online and runner.busy
    assert pat_client.get_runner(REPO, 78) is None


def test_get_runner_retries_server_errors(
    api: responses.RequestsMock, pat_client: GitHubClient, clock: FakeClock
) -> None:
    api.get(f"{API}/orgs/octo/actions/runners/5", status=503)
    api.get(f"{API}/orgs/octo/actions/runners/5", json=runner_json(5))
    assert pat_client.get_runner(ORG, 5) is not None
    assert len(clock.sleeps) == 1


def test_delete_runner(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.delete(f"{RUNNERS}/77", status=204)
    api.delete(f"{RUNNERS}/78", status=404)
    assert pat_client.delete_runner(REPO, 77) is True
    assert pat_client.delete_runner(REPO, 78) is False


def test_deleting_a_busy_runner_quotes_github(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.delete(
        f"{API}/orgs/octo/actions/runners/77",
        status=422,
        json={"message": 'Bad request - Runner "rp-1" is still running a job"'},
    )
    with pytest.raises(InvalidRequestError, match="still running a job"):
        pat_client.delete_runner(ORG, 77)


def test_a_busy_runner_is_told_apart_from_a_wrong_request(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    # GitHub's words, as quoted by actions/actions-runner-controller
    # (controllers/actions.summerwind.net/runner_graceful_stop.go), stray quote and all.
    api.delete(
        f"{RUNNERS}/77",
        status=422,
        json={"message": 'Bad request - Runner "rp-1" is still running a job"'},
    )
    api.delete(f"{RUNNERS}/78", status=422, json={"message": "Validation Failed"})
    with pytest.raises(RunnerBusyError) as caught:
        pat_client.delete_runner(REPO, 77)
    assert (caught.value.runner_id, caught.value.runner_name) == (77, "rp-1")
    assert "Change the setting" not in caught.value.sentence()
    with pytest.raises(InvalidRequestError) as other:
        pat_client.delete_runner(REPO, 78)
    assert not isinstance(other.value, RunnerBusyError)


def test_workflow_run(api: responses.RequestsMock, pat_client: GitHubClient) -> None:
    api.get(
        f"{API}/repos/octo/gpu/actions/runs/99",
        json={
            "id": 99,
            "status": "completed",
            "conclusion": "success",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:10:00Z",
        },
    )
    api.get(f"{API}/repos/octo/gpu/actions/runs/100", status=404)
    run = pat_client.workflow_run("octo", "gpu", 99)
    assert run is not None
    assert (run.id, run.status, run.conclusion) == (99, "completed", "success")
    assert (run.updated_at - run.created_at).total_seconds() == 600
    assert pat_client.workflow_run("octo", "gpu", 100) is None


def test_workflow_run_needs_actions_read(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.get(f"{API}/repos/octo/gpu/actions/runs/99", status=403, json={"message": "Forbidden"})
    with pytest.raises(PermissionMissingError) as caught:
        gh.workflow_run("octo", "gpu", 99)
    assert (caught.value.permission, caught.value.level) == ("actions", "read")
