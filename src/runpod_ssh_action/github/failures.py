"""Turning a GitHub error answer into an error that says which setting to change.

The same HTTP status means different things depending on who is asking (a GitHub App
or a personal access token) and where (a repository or an organization), so the
translation takes both. GitHub's own message is quoted, masked and cut short; bodies
of successful answers are never quoted, as they may hold tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests

from ..masking import Masker
from .errors import BadCredentialsError, GitHubError, InvalidRequestError, PermissionMissingError
from .models import RunnerScope

# "jwt": the App itself (installation lookup and token); "app": an installation token.
AuthKind = Literal["jwt", "app", "pat"]

_MESSAGE_LIMIT = 300
STATUS_PAGE = "https://www.githubstatus.com"


@dataclass(frozen=True)
class _Grant:
    app: str
    classic: str
    fine_grained: str
    who: str


_GRANTS = {
    "administration": _Grant(
        app="Repository permissions > Administration: Read and write",
        classic="repo",
        fine_grained="Repository permissions > Administration: Read and write on this repository",
        who="the token's user must be an admin of the repository",
    ),
    "organization_self_hosted_runners": _Grant(
        app="Organization permissions > Self-hosted runners: Read and write",
        classic="admin:org",
        fine_grained="Organization permissions > Self-hosted runners: Read and write",
        who="the token's user must be an owner of the organization",
    ),
    "actions": _Grant(
        app="Repository permissions > Actions: Read-only",
        classic="repo",
        fine_grained="Repository permissions > Actions: Read-only",
        who="the token must have access to the repository",
    ),
}


def github_message(response: requests.Response, masker: Masker) -> str:
    """GitHub's ``message`` plus any ``errors[]`` details, masked and cut short."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data["message"])] if data.get("message") else []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            detail = item.get("message") or " ".join(
                str(item[k]) for k in ("resource", "field", "code") if item.get(k)
            )
            if detail:
                parts.append(str(detail))
        elif isinstance(item, str):
            parts.append(item)
    text = masker.redact("; ".join(parts))
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def said(message: str, status: int) -> str:
    return f"GitHub said '{message}' (HTTP {status})" if message else f"HTTP {status}"


def bad_credentials(what: str, auth: AuthKind, status: int, message: str) -> BadCredentialsError:
    if auth == "jwt":
        why = (
            "GitHub refused the App's JWT: the app id and the private key do not belong to "
            "the same App, the key was revoked, or this machine's clock is more than a "
            "minute off"
        )
        fix = (
            "Check that github-app-id is the App's id (or client id) and that "
            "github-app-private-key is a current key of that App"
        )
    elif auth == "app":
        why = "the installation token has expired (it lasts one hour) or was revoked"
        fix = "Run the step again to get a fresh token"
    else:
        why = "the personal access token has expired, was revoked, or is mistyped"
        fix = "Create a new token and store it in the secret passed as github-token"
    return BadCredentialsError(
        what, f"{why} ({said(message, status)})", fix, status=status, github_message=message
    )


def permission_fix(auth: AuthKind, permission: str, level: str) -> str:
    """What to grant, in the words of the settings page where it is granted."""
    grant = _GRANTS.get(permission)
    if grant is None:
        return f"Grant the '{permission}: {level}' permission"
    if auth == "pat":
        return (
            f"A classic token needs the '{grant.classic}' scope; a fine-grained token needs "
            f"{grant.fine_grained}; {grant.who}"
        )
    return (
        f"In the App's settings (Permissions & events) grant {grant.app}, "
        "then approve the new permissions on the installation"
    )


def permission_missing(
    what: str,
    *,
    auth: AuthKind,
    permission: str,
    level: str,
    status: int,
    message: str,
) -> PermissionMissingError:
    if auth == "pat":
        why = f"the personal access token may not do this ({said(message, status)})"
    else:
        why = (
            f"the GitHub App lacks the '{permission}: {level}' permission ({said(message, status)})"
        )
    return PermissionMissingError(
        what,
        why,
        permission_fix(auth, permission, level),
        permission=permission,
        level=level,
        status=status,
        github_message=message,
    )


def failure(
    response: requests.Response,
    *,
    what: str,
    auth: AuthKind,
    masker: Masker,
    scope: RunnerScope | None = None,
    permission: str | None = None,
    level: str = "write",
) -> GitHubError:
    """The error for an answer the caller had no more specific use for."""
    status = response.status_code
    message = github_message(response, masker)
    if status == 401:
        return bad_credentials(what, auth, status, message)
    if status == 403:
        needed = permission or (scope.permission if scope else "administration")
        return permission_missing(
            what, auth=auth, permission=needed, level=level, status=status, message=message
        )
    if status == 404:
        where = str(scope) if scope else "the resource"
        return GitHubError(
            what,
            f"{where} was not found, or these credentials cannot see it ({said(message, status)})",
            "Check the owner and repository names; a GitHub App must be installed there and "
            "a personal access token must have access to it",
            status=status,
            github_message=message,
        )
    if status == 422:
        return InvalidRequestError(
            what,
            f"GitHub refused the request ({said(message, status)})",
            "Change the setting GitHub's message names",
            status=status,
            github_message=message,
        )
    if status in (301, 302, 307, 308):
        return GitHubError(
            what,
            f"GitHub answered that it moved (HTTP {status}): the repository was renamed or "
            "transferred",
            "Use the repository's current owner and name",
            status=status,
        )
    if status >= 500:
        return GitHubError(
            what,
            f"GitHub had a server error ({said(message, status)})",
            f"GitHub may be having an incident ({STATUS_PAGE}); run the job again later",
            status=status,
            github_message=message,
        )
    return GitHubError(
        what,
        f"unexpected answer ({said(message, status)})",
        "Check that the GitHub API URL points to GitHub's REST API",
        status=status,
        github_message=message,
    )
