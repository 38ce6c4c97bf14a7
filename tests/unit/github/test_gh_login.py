from __future__ import annotations

import io
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from gh_helpers import (
    API,
    APP_ID,
    INSTALLATION_ID,
    INSTALLATION_TOKEN,
    ORG,
    PAT,
    REPO,
    AppLogin,
    installation_body,
    sent_json,
    token_body,
)

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import InputError
from runpod_ssh_action.github import GitHubClient
from runpod_ssh_action.github.errors import (
    AppNotInstalledError,
    BadCredentialsError,
    GitHubError,
    PermissionMissingError,
)
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import USER_AGENT, ApiLog

TOKENS_URL = f"{API}/app/installations/{INSTALLATION_ID}/access_tokens"


def _bearer(call: responses.Call) -> str:
    header = call.request.headers["Authorization"]
    assert header.startswith("Bearer ")
    return header.removeprefix("Bearer ")


def test_login_app_signs_in_with_a_jwt_of_the_app_key(
    api: responses.RequestsMock,
    gh: GitHubClient,
    app_key: rsa.RSAPrivateKey,
    clock: FakeClock,
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(TOKENS_URL, json=token_body(), status=201)

    gh.login_app(APP_ID, app_key, REPO)

    lookup, create = api.calls
    claims = jwt.decode(
        _bearer(lookup),
        app_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    now = int(clock.now().timestamp())
    assert claims == {"iss": APP_ID, "iat": now - 60, "exp": now + 540}
    assert _bearer(create) == _bearer(lookup)


def test_login_app_for_a_repository(
    api: responses.RequestsMock,
    gh: GitHubClient,
    app_key: rsa.RSAPrivateKey,
    masker: Masker,
    announced: list[str],
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(TOKENS_URL, json=token_body(), status=201)

    token = gh.login_app(APP_ID, app_key, REPO)

    lookup, create = api.calls
    assert sent_json(create) == {
        "permissions": {"administration": "write"},
        "repositories": ["gpu"],
    }
    assert token.token == INSTALLATION_TOKEN
    assert token.installation_id == INSTALLATION_ID
    assert token.expires_at.isoformat() == "2026-01-01T01:00:00+00:00"
    assert token.repositories == ("gpu",)
    assert token.app_slug == "gpu-runners"
    assert gh.installation_token == token
    assert INSTALLATION_TOKEN in masker and INSTALLATION_TOKEN in announced
    assert _bearer(lookup) in masker
    assert INSTALLATION_TOKEN not in repr(token)

    api.get(f"{API}/repos/octo/gpu/actions/runners", json={"total_count": 0, "runners": []})
    gh.check_runner_access(REPO)
    assert _bearer(api.calls[-1]) == INSTALLATION_TOKEN


def test_login_app_for_an_organization_asks_for_the_org_permission_and_no_repositories(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    granted = {"organization_self_hosted_runners": "write", "actions": "write"}
    api.get(f"{API}/orgs/octo/installation", json=installation_body(permissions=granted))
    api.post(TOKENS_URL, json={**token_body(), "repositories": None}, status=201)

    token = gh.login_app(APP_ID, app_key, ORG, extra_permissions={"actions": "read"})

    assert sent_json(api.calls[1]) == {
        "permissions": {"organization_self_hosted_runners": "write", "actions": "read"}
    }
    assert token.repositories is None


def test_every_call_sends_githubs_headers(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    api.get(f"{API}/repos/octo/gpu/actions/runners", json={"total_count": 0, "runners": []})
    pat_client.check_runner_access(REPO)
    headers = api.calls[0].request.headers
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Authorization"] == f"Bearer {PAT}"
    assert api.calls[0].request.url == f"{API}/repos/octo/gpu/actions/runners?per_page=1"


def test_app_not_installed_says_where_to_install_it(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json={"message": "Not Found"}, status=404)
    with pytest.raises(AppNotInstalledError) as caught:
        gh.login_app(APP_ID, app_key, REPO)
    text = str(caught.value)
    assert "not installed on repository octo/gpu" in text
    assert "https://github.com/apps/<app-slug>" in text
    assert "give it access to octo/gpu" in text
    assert len(api.calls) == 1


def test_app_not_installed_names_the_app_page_when_github_gives_the_slug(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(f"{API}/orgs/octo/installation", json={"app_slug": "gpu-runners"}, status=404)
    with pytest.raises(AppNotInstalledError, match=r"https://github\.com/apps/gpu-runners"):
        gh.login_app(APP_ID, app_key, ORG)


def test_enterprise_server_install_link_points_at_the_server(
    clock: FakeClock, masker: Masker, app_key: rsa.RSAPrivateKey
) -> None:
    ghes = "https://ghe.example.com/api/v3"
    client = GitHubClient(ghes, clock=clock, masker=masker, log=ApiLog(masker))
    with responses.RequestsMock() as api:
        api.get(f"{ghes}/orgs/octo/installation", status=404)
        with pytest.raises(
            AppNotInstalledError, match=r"https://ghe\.example\.com/apps/<app-slug>"
        ):
            client.login_app(APP_ID, app_key, ORG)


def test_refused_jwt_points_at_app_id_key_and_clock(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(
        f"{API}/repos/octo/gpu/installation",
        json={"message": "A JSON web token could not be decoded"},
        status=401,
    )
    with pytest.raises(BadCredentialsError) as caught:
        gh.login_app(APP_ID, app_key, REPO)
    text = str(caught.value)
    assert "github-app-id" in text and "clock" in text
    assert "A JSON web token could not be decoded" in text


def test_installation_without_the_runner_permission_fails_before_asking_for_a_token(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    body = installation_body(permissions={"administration": "read", "metadata": "read"})
    api.get(f"{API}/repos/octo/gpu/installation", json=body)
    with pytest.raises(PermissionMissingError) as caught:
        gh.login_app(APP_ID, app_key, REPO)
    assert caught.value.permission == "administration"
    assert "grants 'administration: read'" in str(caught.value)
    assert "Administration: Read and write" in str(caught.value)
    assert len(api.calls) == 1


def test_token_refused_for_permissions_names_them(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(f"{API}/orgs/octo/installation", json=installation_body(permissions=None))
    api.post(
        TOKENS_URL,
        json={"message": "The permissions requested are not granted to this installation."},
        status=422,
    )
    with pytest.raises(PermissionMissingError) as caught:
        gh.login_app(APP_ID, app_key, ORG)
    assert caught.value.permission == "organization_self_hosted_runners"
    assert "Self-hosted runners: Read and write" in str(caught.value)


def test_token_refused_for_the_repository_points_at_the_installation(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(
        TOKENS_URL,
        json={
            "message": "There is at least one repository that does not exist or is not "
            "accessible to the parent installation."
        },
        status=422,
    )
    with pytest.raises(AppNotInstalledError) as caught:
        gh.login_app(APP_ID, app_key, REPO)
    assert "https://github.com/settings/installations/4242" in str(caught.value)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param({"status": 502}, id="bad-gateway"),
        pytest.param({"body": requests.exceptions.ConnectionError("reset")}, id="broken"),
    ],
)
def test_a_broken_token_post_is_tried_once_more(
    api: responses.RequestsMock,
    gh: GitHubClient,
    app_key: rsa.RSAPrivateKey,
    clock: FakeClock,
    first: dict[str, Any],
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(TOKENS_URL, **first)
    api.post(TOKENS_URL, json=token_body(), status=201)
    assert gh.login_app(APP_ID, app_key, REPO).token == INSTALLATION_TOKEN
    assert len(api.calls) == 3
    assert clock.sleeps == [1.0]


def test_a_token_post_broken_twice_fails(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> None:
    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(TOKENS_URL, status=503)
    with pytest.raises(GitHubError, match="HTTP 503"):
        gh.login_app(APP_ID, app_key, REPO)
    assert len(api.calls) == 3


@pytest.mark.parametrize("app_id", ["", "  ", "12 34"])
def test_bad_app_id_is_an_input_error(
    gh: GitHubClient, app_key: rsa.RSAPrivateKey, app_id: str
) -> None:
    with pytest.raises(InputError, match="'github-app-id'"):
        gh.login_app(app_id, app_key, REPO)


def test_login_token_masks_the_pat(gh: GitHubClient, masker: Masker, announced: list[str]) -> None:
    gh.login_token(f"  {PAT}\n")
    assert PAT in masker and announced == [PAT]


def test_empty_pat_is_an_input_error(gh: GitHubClient) -> None:
    with pytest.raises(InputError, match="'github-token'"):
        gh.login_token(" ")


def test_calls_before_login_fail_clearly(gh: GitHubClient) -> None:
    with pytest.raises(GitHubError, match="No GitHub credentials"):
        gh.list_runners(REPO)


def test_revoke_installation_token(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.delete(f"{API}/installation/token", status=204)
    assert gh.revoke_installation_token() is True
    assert _bearer(api.calls[-1]) == INSTALLATION_TOKEN
    assert gh.installation_token is None
    with pytest.raises(GitHubError, match="No GitHub credentials"):
        gh.list_runners(REPO)
    assert gh.revoke_installation_token() is False


def test_revoking_a_dead_token_is_not_an_error(
    api: responses.RequestsMock, gh: GitHubClient, app_login: AppLogin
) -> None:
    app_login()
    api.delete(f"{API}/installation/token", status=401, json={"message": "Bad credentials"})
    assert gh.revoke_installation_token() is False


def test_a_token_from_elsewhere_is_used_and_revoked_as_an_installation_token(
    api: responses.RequestsMock, gh: GitHubClient, masker: Masker
) -> None:
    gh.login_installation_token(INSTALLATION_TOKEN)
    assert INSTALLATION_TOKEN in masker
    api.get(
        f"{API}/repos/octo/gpu/actions/runners", status=401, json={"message": "Bad credentials"}
    )
    with pytest.raises(BadCredentialsError, match="installation token has expired"):
        gh.check_runner_access(REPO)
    api.delete(f"{API}/installation/token", status=204)
    assert gh.revoke_installation_token() is True
    assert _bearer(api.calls[-1]) == INSTALLATION_TOKEN
    with pytest.raises(GitHubError, match="No installation token"):
        gh.login_installation_token("")


def test_nothing_to_revoke_with_a_pat(
    api: responses.RequestsMock, pat_client: GitHubClient
) -> None:
    assert pat_client.revoke_installation_token() is False
    assert len(api.calls) == 0


def test_api_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, masker: Masker
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    client = GitHubClient(clock=clock, masker=masker, log=ApiLog(masker, io.StringIO()))
    assert client.api_url == "https://ghe.example.com/api/v3"
    monkeypatch.delenv("GITHUB_API_URL")
    client = GitHubClient(clock=clock, masker=masker, log=ApiLog(masker, io.StringIO()))
    assert client.api_url == "https://api.github.com"


def test_plain_http_only_to_loopback(clock: FakeClock, masker: Masker) -> None:
    log = ApiLog(masker)
    assert GitHubClient("http://127.0.0.1:8080", clock=clock, masker=masker, log=log).api_url
    with pytest.raises(InputError, match="GITHUB_API_URL"):
        GitHubClient("http://github.example.com", clock=clock, masker=masker, log=log)
