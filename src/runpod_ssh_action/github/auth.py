"""GitHub App credentials: the private key, and the short-lived JWT it signs."""

from __future__ import annotations

import re
import textwrap

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import Clock
from .errors import InvalidPrivateKeyError

# GitHub rejects a JWT whose iat lies in its future; backdating a minute absorbs the
# clock drift of a runner VM. Nine minutes of life keeps exp under GitHub's 10-minute
# ceiling even when GitHub's clock runs a little behind ours.
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 9 * 60

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=]+$")

_FIX = (
    "Store the whole .pem file that the App's settings page generated (from the "
    "-----BEGIN line to the -----END line) in the secret"
)


def load_app_private_key(
    pem_text: str, input_name: str = "github-app-private-key"
) -> rsa.RSAPrivateKey:
    """Read the App's RSA private key from PEM text.

    Secret stores mangle line breaks: the key may arrive with CRLF, on one line with
    literal ``\\n`` escapes, or with the breaks turned into spaces. The base64 body is
    re-wrapped from whatever is left, so all of these load. Errors name the input and
    what is wrong with it, never any of its text.
    """

    def invalid(rule: str) -> InvalidPrivateKeyError:
        return InvalidPrivateKeyError(input_name, rule, _FIX)

    text = (pem_text or "").strip()
    if not text:
        raise invalid("it is empty")
    text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
    match = _PEM.search(text)
    if match is None:
        raise invalid("it is not a PEM private key (no matching -----BEGIN/-----END lines)")
    label, body = match.group(1), match.group(2)
    if "ENCRYPTED" in label or "Proc-Type:" in body:
        raise invalid("it is encrypted with a passphrase; GitHub App keys are not")
    if not label.endswith("PRIVATE KEY"):
        raise invalid(f"it holds a {label.lower()}, not a private key")
    body = re.sub(r"\s+", "", body)
    if not body or not _BASE64.match(body):
        raise invalid("the text between its BEGIN and END lines is not base64")
    pem = f"-----BEGIN {label}-----\n" + textwrap.fill(body, 64) + f"\n-----END {label}-----\n"
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message may quote parts of the key; it stays out of ours.
        raise invalid("it could not be read as a private key (truncated or damaged)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise invalid("it is not an RSA key; GitHub App keys are RSA")
    return key


def app_jwt(app_id: str, key: rsa.RSAPrivateKey, clock: Clock) -> str:
    """The RS256 JWT that authenticates as the App itself (``iss`` = app or client id)."""
    # Imported here: PyJWT loads cryptography's x509 module (tens of milliseconds), which
    # a step that logs in with a token, or not at all, should not pay for.
    import jwt  # noqa: PLC0415

    now = int(clock.now().timestamp())
    claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS, "iss": app_id}
    return jwt.encode(claims, key, algorithm="RS256")
