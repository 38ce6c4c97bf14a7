from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.errors import InputError
from runpod_ssh_action.github import app_jwt, load_app_private_key
from runpod_ssh_action.github.auth import JWT_LIFETIME_SECONDS
from runpod_ssh_action.github.errors import GitHubError, InvalidPrivateKeyError

PINNED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _same_key(a: rsa.RSAPrivateKey, b: rsa.RSAPrivateKey) -> bool:
    return a.private_numbers() == b.private_numbers()


def _decode(token: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    # Signature checked with the public key; time claims are checked by hand against
    # the pinned clock, not the machine's.
    return jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )


def test_loads_pem_as_downloaded(app_key: rsa.RSAPrivateKey, app_pem: str) -> None:
    assert _same_key(load_app_private_key(app_pem), app_key)


def test_loads_pkcs8(app_key: rsa.RSAPrivateKey) -> None:
    pem = app_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assert _same_key(load_app_private_key(pem), app_key)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda pem: pem.replace("\n", "\\n"), id="escaped-newlines-one-line"),
        pytest.param(lambda pem: pem.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda pem: pem.replace("\n", " "), id="newlines-as-spaces"),
        pytest.param(lambda pem: f"\n\n  {pem}  \n", id="surrounding-blank-lines"),
    ],
)
def test_loads_mangled_pem(
    app_key: rsa.RSAPrivateKey, app_pem: str, mangle: Callable[[str], str]
) -> None:
    assert _same_key(load_app_private_key(mangle(app_pem)), app_key)


def _ec_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _encrypted_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter2"),
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key, pem: "", "empty"),
        (lambda key, pem: "MIIEowIBAAKCAQEAnotakey", "no matching -----BEGIN"),
        (lambda key, pem: pem[: len(pem) // 2], "no matching -----BEGIN"),
        (lambda key, pem: pem.replace(pem.splitlines()[5], "x" * 64), "truncated or damaged"),
        (lambda key, pem: pem.replace(pem.splitlines()[5], "!" * 64), "not base64"),
        (lambda key, pem: _encrypted_pem(key), "encrypted"),
        (lambda key, pem: _public_pem(key), "public key"),
        (lambda key, pem: _ec_pem(), "not an RSA key"),
    ],
)
def test_bad_keys_name_the_input_and_never_echo_it(
    app_key: rsa.RSAPrivateKey,
    app_pem: str,
    make: Callable[[rsa.RSAPrivateKey, str], str],
    reason: str,
) -> None:
    text = make(app_key, app_pem)
    with pytest.raises(InvalidPrivateKeyError) as caught:
        load_app_private_key(text, input_name="my-key")
    message = str(caught.value)
    assert "Input 'my-key' is invalid" in message
    assert reason in message
    # No chained library error either: a traceback must not carry the key's text.
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for line in text.splitlines():
        body = line.strip()
        if len(body) > 8 and not body.startswith("-----"):
            assert body not in message
    # One error, two ways to catch it: as bad input before spending, or as a GitHub error.
    assert isinstance(caught.value, InputError) and isinstance(caught.value, GitHubError)
    assert caught.value.input_name == "my-key"


def test_default_input_name(app_pem: str) -> None:
    with pytest.raises(InvalidPrivateKeyError, match="'github-app-private-key'"):
        load_app_private_key("nonsense")


@pytest.mark.parametrize("app_id", ["123456", "Iv1.0123456789abcdef", "Iv23liXYZ"])
def test_jwt_is_rs256_signed_by_the_app_key_with_github_claims(
    app_key: rsa.RSAPrivateKey, app_id: str
) -> None:
    clock = FakeClock(PINNED)
    token = app_jwt(app_id, app_key, clock)

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = _decode(token, app_key)
    now = int(PINNED.timestamp())
    assert claims["iss"] == app_id and isinstance(claims["iss"], str)
    assert claims["iat"] == now - 60
    assert claims["exp"] == now + JWT_LIFETIME_SECONDS
    assert now < claims["exp"] <= now + 600
    assert claims["exp"] - claims["iat"] <= 600 + 60


def test_jwt_follows_the_injected_clock(app_key: rsa.RSAPrivateKey) -> None:
    clock = FakeClock(PINNED)
    first = _decode(app_jwt("1", app_key, clock), app_key)
    clock.advance(3600)
    later = _decode(app_jwt("1", app_key, clock), app_key)
    assert later["iat"] == first["iat"] + 3600


def test_jwt_does_not_verify_with_another_key(app_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = app_jwt("1", app_key, FakeClock(PINNED))
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(token, other)
