"""The GitHub objects the action works with, parsed from REST answers.

Fields that are secrets are left out of ``repr`` so a stray debug print of a model
shows nothing worth stealing (the masker would catch it too; this is the second lock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .errors import GitHubError

ScopeKind = Literal["repo", "org"]

# Owners are user or organization logins; repositories allow dots too. Both are checked
# because they become URL path segments: "../" must never reach a request.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class MalformedResponseError(ValueError):
    """A success answer lacked a field the client needs (says which, never the body)."""


@dataclass(frozen=True)
class RunnerScope:
    """Where runners are registered: one repository, or a whole organization."""

    kind: ScopeKind
    owner: str
    name: str | None = None

    @classmethod
    def repo(cls, owner: str, name: str) -> RunnerScope:
        if not _OWNER.match(owner) or not _REPO.match(name) or name in (".", ".."):
            raise GitHubError(
                f"'{owner}/{name}' is not a GitHub repository name",
                "it must look like OWNER/REPO with letters, digits, '-', '_' or '.'",
                "Give the repository as owner/name",
            )
        return cls("repo", owner, name)

    @classmethod
    def org(cls, org: str) -> RunnerScope:
        if not _OWNER.match(org):
            raise GitHubError(
                f"'{org}' is not a GitHub organization name",
                "it may hold only letters, digits, '-' and '_'",
                "Give the organization's login as it appears in its URL",
            )
        return cls("org", org)

    @property
    def path(self) -> str:
        return f"/repos/{self.owner}/{self.name}" if self.kind == "repo" else f"/orgs/{self.owner}"

    @property
    def permission(self) -> str:
        """The GitHub App permission that registers runners here (needed at "write")."""
        return "administration" if self.kind == "repo" else "organization_self_hosted_runners"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}" if self.kind == "repo" else self.owner

    def __str__(self) -> str:
        where = "repository" if self.kind == "repo" else "organization"
        return f"{where} {self.full_name}"


@dataclass(frozen=True)
class Runner:
    id: int
    name: str
    status: str
    busy: bool
    labels: tuple[str, ...] = ()

    @property
    def online(self) -> bool:
        return self.status == "online"


@dataclass(frozen=True)
class JitConfig:
    runner: Runner
    encoded_jit_config: str = field(repr=False)


@dataclass(frozen=True)
class RegistrationToken:
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: datetime
    installation_id: int
    permissions: dict[str, str]
    # None when the token covers every repository the installation can reach.
    repositories: tuple[str, ...] | None
    app_slug: str | None = None


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime


# --- parsing ---------------------------------------------------------------------


def _get(data: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict):
        raise MalformedResponseError("the answer is not a JSON object")
    value = data.get(key)
    # bool is an int in Python; an id of ``true`` is as wrong as a missing one.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedResponseError(f"the field '{key}' is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def parse_time(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponseError(f"the field '{key}' is missing or not a timestamp")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise MalformedResponseError(f"the field '{key}' is not an ISO 8601 timestamp") from None


def parse_runner(data: Any) -> Runner:
    labels = data.get("labels", []) if isinstance(data, dict) else []
    return Runner(
        id=_get(data, "id", int),
        name=_get(data, "name", str),
        status=_get(data, "status", str),
        busy=bool(data.get("busy", False)),
        labels=tuple(
            label["name"] if isinstance(label, dict) else str(label)
            for label in labels
            if isinstance(label, str) or (isinstance(label, dict) and "name" in label)
        ),
    )


def parse_registration_token(data: Any) -> RegistrationToken:
    return RegistrationToken(
        token=_get(data, "token", str), expires_at=parse_time(data.get("expires_at"), "expires_at")
    )


def parse_workflow_run(data: Any) -> WorkflowRun:
    return WorkflowRun(
        id=_get(data, "id", int),
        status=_get(data, "status", str),
        conclusion=data.get("conclusion") if isinstance(data.get("conclusion"), str) else None,
        created_at=parse_time(data.get("created_at"), "created_at"),
        updated_at=parse_time(data.get("updated_at"), "updated_at"),
    )
