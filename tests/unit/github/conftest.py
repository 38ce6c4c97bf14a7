from __future__ import annotations

import io
import random
from collections.abc import Iterator

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gh_helpers import API, PAT, AppLogin

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.github import GitHubClient
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.transport import ApiLog


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def app_pem(app_key: rsa.RSAPrivateKey) -> str:
    return app_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def announced() -> list[str]:
    return []


@pytest.fixture
def masker(announced: list[str]) -> Masker:
    return Masker(announce=announced.append)


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def gh(clock: FakeClock, masker: Masker, log_stream: io.StringIO) -> Iterator[GitHubClient]:
    client = GitHubClient(
        API, clock=clock, masker=masker, log=ApiLog(masker, log_stream), rng=random.Random(7)
    )
    yield client
    client.close()


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def pat_client(gh: GitHubClient) -> GitHubClient:
    gh.login_token(PAT)
    return gh


@pytest.fixture
def app_login(
    api: responses.RequestsMock, gh: GitHubClient, app_key: rsa.RSAPrivateKey
) -> AppLogin:
    return AppLogin(api, gh, app_key)
