"""How the stand-in GitHub tells who is calling: App JWTs, installation tokens, PATs.

The checks and their messages follow what api.github.com answers, so a client that
handles the real errors (a clock that runs ahead, a key for another app, a revoked
token) can be tested against the stand-in.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# GitHub allows a JWT to live ten minutes; the slack absorbs clock drift the way
# api.github.com does in practice (clients that sign exactly ten minutes pass).
JWT_MAX_LIFETIME = 600
JWT_SLACK = 60
INSTALLATION_TOKEN_LIFETIME = 3600

UNDECODABLE_JWT = "A JSON web token could not be decoded"
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future "
    "time at which the assertion expires"
)
IAT_IN_FUTURE = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the "
    "assertion was issued"
)
ISS_NOT_INTEGER = "'Issuer' claim ('iss') must be an Integer"

LEVELS = {"read": 1, "write": 2, "admin": 3}


def new_app_keypair() -> tuple[bytes, bytes]:
    """A fresh RSA key pair for a stand-in GitHub App: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def check_app_jwt(token: str, public_key_pem: bytes, app_id: int, now: float) -> str | None:
    """Return GitHub's complaint about an App JWT, or None if GitHub would accept it.

    PyJWT checks the signature and algorithm; the time claims are checked here against
    the stand-in's own clock, which tests may move.
    """
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            return UNDECODABLE_JWT
        claims = jwt.decode(
            token,
            public_key_pem,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError:
        return UNDECODABLE_JWT
    iss, iat, exp = claims.get("iss"), claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return IAT_IN_FUTURE
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return EXPIRED
    if iat > now + JWT_SLACK:
        return IAT_IN_FUTURE
    if exp <= now:
        return EXPIRED
    if exp - iat > JWT_MAX_LIFETIME + JWT_SLACK or exp - now > JWT_MAX_LIFETIME + JWT_SLACK:
        return EXP_TOO_FAR
    if isinstance(iss, bool) or not (
        isinstance(iss, int) or (isinstance(iss, str) and iss.isdigit())
    ):
        return ISS_NOT_INTEGER
    # A numeric iss naming another app would be checked against that app's key, which
    # cannot match ours.
    if int(iss) != app_id:
        return UNDECODABLE_JWT
    return None


@dataclass
class InstallationToken:
    token: str
    installation_id: int
    permissions: dict[str, str]
    repositories: list[str] | None  # None: every repository of the installation
    expires_at: float
    revoked: bool = False


@dataclass
class Principal:
    """Who a request authenticated as. ``kind`` is "app", "installation" or "pat"."""

    kind: str
    installation_token: InstallationToken | None = field(default=None, repr=False)


def new_installation_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))


def grants(held: str | None, wanted: str) -> bool:
    return held is not None and LEVELS.get(held, 0) >= LEVELS[wanted]
