"""What can go wrong talking to GitHub, each with the setting a user has to change.

Every class is an ``ActionError``, so each prints as one sentence: what failed, why,
and what to change. None carries a token, a JWT or a runner config: the messages are
built from names, ids and GitHub's own (masked) error text only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import ActionError, InputError

if TYPE_CHECKING:
    from .models import Runner


class GitHubError(ActionError):
    """A GitHub call failed. ``status`` is the HTTP status when there was one and
    ``github_message`` GitHub's own explanation (already masked)."""

    code = "GITHUB_ERROR"

    def __init__(
        self,
        what: str,
        why: str = "",
        fix: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        github_message: str = "",
    ):
        self.status = status
        self.github_message = github_message
        super().__init__(what, why, fix, code=code)


class BadCredentialsError(GitHubError):
    """HTTP 401: the JWT, installation token or personal access token was refused."""

    code = "GITHUB_BAD_CREDENTIALS"


class PermissionMissingError(GitHubError):
    """HTTP 403 (not a rate limit): the credentials lack ``permission`` at ``level``."""

    code = "GITHUB_PERMISSION_MISSING"

    def __init__(
        self,
        what: str,
        why: str,
        fix: str,
        *,
        permission: str,
        level: str,
        status: int | None = None,
        github_message: str = "",
    ):
        self.permission = permission
        self.level = level
        super().__init__(what, why, fix, status=status, github_message=github_message)


class AppNotInstalledError(GitHubError):
    """The GitHub App has no installation covering the repository or organization."""

    code = "GITHUB_APP_NOT_INSTALLED"


class RunnerGroupNotFoundError(GitHubError):
    """The JIT call named a runner group that does not exist or does not admit the repo."""

    code = "GITHUB_RUNNER_GROUP_NOT_FOUND"


class RunnerNameConflictError(GitHubError):
    """A runner with the requested name is already registered."""

    code = "GITHUB_RUNNER_NAME_CONFLICT"


class InvalidRequestError(GitHubError):
    """HTTP 422: GitHub refused the request as given; its message says which part."""

    code = "GITHUB_INVALID_REQUEST"


class RunnerBusyError(InvalidRequestError):
    """GitHub will not delete a runner while it runs a job; once its machine is gone
    it shows offline and can be deleted (reap does)."""

    code = "GITHUB_RUNNER_BUSY"

    def __init__(self, runner_id: int, runner_name: str, github_message: str):
        self.runner_id = runner_id
        self.runner_name = runner_name
        super().__init__(
            f"Runner {runner_id} ({runner_name}) was not deleted",
            "it is still running a job, and GitHub deletes a runner only once it is idle "
            "or offline",
            "It goes offline with its pod; run this action with mode: reap to delete it then",
            status=422,
            github_message=github_message,
        )


class RunnerNeverOnlineError(GitHubError):
    """Runners did not all come online before the deadline.

    ``states`` holds the last known state of every runner that was waited on
    ("online", "busy", "offline", "disappeared"); ``online`` the runners that made it,
    so the caller can still tear them down.
    """

    code = "RUNNER_NEVER_ONLINE"

    def __init__(
        self,
        what: str,
        why: str,
        fix: str,
        *,
        states: Mapping[int, str],
        online: Mapping[int, Runner],
    ):
        self.states = dict(states)
        self.online = dict(online)
        super().__init__(what, why, fix)


class InvalidPrivateKeyError(InputError, GitHubError):
    """The App private key input is not a usable RSA PEM key. Names the input and never
    repeats any of its text."""

    code = "GITHUB_INVALID_PRIVATE_KEY"
