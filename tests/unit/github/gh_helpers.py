"""Constants and builders shared by the GitHub client tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import responses
from cryptography.hazmat.primitives.asymmetric import rsa

from runpod_ssh_action.github import GitHubClient, InstallationToken, RunnerScope

API = "https://api.github.com"
REPO = RunnerScope.repo("octo", "gpu")
ORG = RunnerScope.org("octo")
INSTALLATION_TOKEN = "ghs_installationTokenValue0123456789"
INSTALLATION_ID = 4242
APP_ID = "123456"
PAT = "ghp_personalAccessToken0123456789"


def installation_body(**extra: Any) -> dict[str, Any]:
    return {
        "id": INSTALLATION_ID,
        "app_slug": "gpu-runners",
        "html_url": "https://github.com/settings/installations/4242",
        "permissions": {
            "administration": "write",
            "organization_self_hosted_runners": "write",
            "metadata": "read",
        },
        **extra,
    }


def token_body(token: str = INSTALLATION_TOKEN) -> dict[str, Any]:
    return {
        "token": token,
        "expires_at": "2026-01-01T01:00:00Z",
        "permissions": {"administration": "write"},
        "repositories": [{"id": 1, "name": "gpu"}],
    }


@dataclass
class AppLogin:
    """Registers the two App endpoints and logs ``gh`` in through them."""

    api: responses.RequestsMock
    gh: GitHubClient
    key: rsa.RSAPrivateKey

    def __call__(self, scope: RunnerScope = REPO) -> InstallationToken:
        self.api.get(f"{API}{scope.path}/installation", json=installation_body())
        self.api.post(
            f"{API}/app/installations/{INSTALLATION_ID}/access_tokens",
            json=token_body(),
            status=201,
        )
        return self.gh.login_app(APP_ID, self.key, scope)


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)
