"""No JWT, token or runner config may reach a log line or an error message."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from gh_helpers import API, APP_ID, INSTALLATION_ID, INSTALLATION_TOKEN, REPO, installation_body

from runpod_ssh_action.errors import ActionError
from runpod_ssh_action.github import GitHubClient

RUNNERS = f"{API}/repos/octo/gpu/actions/runners"
REGISTRATION = "AABFREGISTRATIONTOKENSECRET42"
JIT = "eyJzZWNyZXQiOiJqaXQtY29uZmlnIn0" * 10


def test_secrets_stay_out_of_logs_and_errors(
    api: responses.RequestsMock,
    gh: GitHubClient,
    app_key: rsa.RSAPrivateKey,
    app_pem: str,
    log_stream: io.StringIO,
) -> None:
    errors: list[ActionError] = []

    def expect_failure(call: Callable[[], object]) -> None:
        with pytest.raises(ActionError) as caught:
            call()
        errors.append(caught.value)

    api.get(f"{API}/repos/octo/gpu/installation", json=installation_body())
    api.post(
        f"{API}/app/installations/{INSTALLATION_ID}/access_tokens",
        json={"token": INSTALLATION_TOKEN, "expires_at": "2026-01-01T01:00:00Z"},
        status=201,
    )
    gh.login_app(APP_ID, app_key, REPO)
    jwt_token = api.calls[0].request.headers["Authorization"].removeprefix("Bearer ")

    api.post(f"{RUNNERS}/registration-token", json={"token": REGISTRATION, "expires_at": "x"})
    # The answer is unusable (bad date), but the token in it was already masked.
    expect_failure(lambda: gh.registration_token(REPO))

    api.post(
        f"{RUNNERS}/generate-jitconfig",
        json={"runner": {"id": 5, "name": "rp-1", "status": "offline"}, "encoded_jit_config": JIT},
        status=201,
    )
    gh.generate_jit_config(REPO, "rp-1", ["x"])

    # GitHub echoing a secret back in an error is masked in our message too.
    api.get(
        f"{RUNNERS}/5",
        status=422,
        json={"message": f"token {INSTALLATION_TOKEN} and config {JIT} rejected"},
    )
    expect_failure(lambda: gh.get_runner(REPO, 5))
    api.delete(f"{RUNNERS}/6", body=requests.exceptions.ConnectionError("reset"))
    expect_failure(lambda: gh.delete_runner(REPO, 6))
    api.get(f"{RUNNERS}/7", status=401, json={"message": "Bad credentials"})
    expect_failure(lambda: gh.get_runner(REPO, 7))

    logged = log_stream.getvalue()
    records = [json.loads(line) for line in logged.splitlines()]
    # The credential header is logged (masked), so the check below does cover it.
    requests_logged = [r for r in records if r["type"] == "request"]
    assert requests_logged and all("Authorization" in r["headers"] for r in requests_logged)
    shown = logged + "\n".join(str(e) for e in errors) + "\n".join(repr(e) for e in errors)
    assert "rejected" in shown  # the echo did arrive, masked
    secrets = [jwt_token, INSTALLATION_TOKEN, REGISTRATION, JIT]
    secrets += [line for line in app_pem.splitlines() if not line.startswith("-----")]
    for secret in secrets:
        assert secret not in shown
    for part in jwt_token.split("."):
        assert part not in shown
