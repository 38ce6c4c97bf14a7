"""A stand-in for the parts of GitHub the action uses, in the spirit of moto.

``GitHubSim.handle`` answers GitHub REST calls (App installations and tokens, runner
registration, runner listing and deletion, workflow runs) the way api.github.com
does, including its headers, errors and rate-limit answers, plus the private calls
of the stand-in runner (``sim/runner/``) and the runner release download. It is
mounted by the stand-in HTTP server at the root of a GHES-like API URL; tests can
also call ``handle`` directly.

Registration tokens carry the stand-in's address: config.sh is given a github.com
URL it cannot reach the stand-in through, and the stand-in runner reads the address
back from the token (see ``_runner_token``).
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .github_auth import (
    INSTALLATION_TOKEN_LIFETIME,
    UNDECODABLE_JWT,
    InstallationToken,
    Principal,
    check_app_jwt,
    grants,
    looks_like_jwt,
    new_installation_token,
)
from .github_routes import Route, match
from .github_runners import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, Fleet, GitHubError, Runner
from .runner_release import (
    SIM_RUNNER_VERSION,
    build_runner_tarball,
    deprecated_message,
    download_path,
    release_json,
    tarball_name,
    version_key,
)

DOCS = "https://docs.github.com/rest"
SUPPORTED_API_VERSIONS = frozenset({"2022-11-28", "2026-03-10"})
RATE_LIMIT = 5000
RATE_WINDOW = 3600.0
RUNNER_TOKEN_LIFETIME = 3600.0
# Registration tokens start like GitHub's (29 base32 characters); the stand-in runner
# finds the stand-in's address in the base32 that follows.
RUNNER_TOKEN_PREFIX = 29
INSTALLATION_ID = 48151623
ACCOUNT_ID = 9000001
REPO_ID = 6000001
MAX_LABELS = 100
MAX_LABEL_LENGTH = 256
MAX_NAME_LENGTH = 64

_BASE_PERMISSIONS = {"actions": "read", "metadata": "read"}
_RUNNER_PERMISSIONS = {"administration": "write", "organization_self_hosted_runners": "write"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class RestCall:
    """One REST call as the stand-in saw it; never holds a credential."""

    operation: str
    method: str
    path: str
    auth: str | None  # "app", "installation", "pat" or None when it did not authenticate
    api_version: str | None
    accept: str | None


@dataclass
class _RunnerToken:
    scope: str
    kind: str  # "registration" or "remove"
    expires_at: float


@dataclass
class _Call:
    route: Route
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    principal: Principal | None = None

    @property
    def scope(self) -> str:
        return "org" if "org" in self.params else "repo"

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise GitHubError(400, "Problems parsing JSON") from exc
        if not isinstance(data, dict):
            raise GitHubError(400, "Problems parsing JSON")
        return data


class GitHubSim:
    def __init__(
        self,
        *,
        owner: str,
        repo: str,
        app_id: int,
        app_public_key_pem: bytes,
        pat: str,
        base_url: Callable[[], str],
        clock_now: Callable[[], float] = time.time,
    ):
        self.owner = owner
        self.repo = repo
        self.app_id = app_id
        self.installation_id = INSTALLATION_ID
        self._public_key = app_public_key_pem
        self._pat = pat
        self._base_url = base_url
        self._now = clock_now
        self._lock = threading.RLock()
        self._fleet = Fleet(clock_now)
        self._tokens: dict[str, InstallationToken] = {}
        self._runner_tokens: dict[str, _RunnerToken] = {}
        self._runs: dict[int, dict[str, Any]] = {}
        # The organization's runner groups by id; a repository has only the default.
        self._runner_groups: dict[int, str] = {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME}
        self._missing_permission = False
        self._rate_used = 0
        self._rate_forced: int | None = None
        self._rate_reset = clock_now() + RATE_WINDOW
        self.runner_tarball = build_runner_tarball()
        # Every release the stand-in publishes; the newest is ``releases/latest``.
        self._releases = {SIM_RUNNER_VERSION: self.runner_tarball}
        self._min_runner_version = ""
        self.issued_tokens: list[str] = []
        self.revoked_tokens: set[str] = set()
        self.rest_calls: list[RestCall] = []
        # What each config.sh sent besides its token, e.g. the --url it was given.
        self.registrations: list[dict[str, Any]] = []

    # --- the harness's controls and views ------------------------------------------

    def operation_for(self, method: str, path: str) -> str:
        found = match(method, path)
        return "unknown" if found is None else found[0].operation_for(found[1])

    def runners(self) -> list[dict[str, Any]]:
        """Every registered runner as the REST API shows it, plus its ``scope``."""
        return [
            self._fleet.rest(runner) | {"scope": runner.scope}
            for runner in self._fleet.listing(None)
        ]

    def live_runner_count(self) -> int:
        """How many registered runners are online (their process is heart-beating)."""
        return sum(1 for runner in self._fleet.listing(None) if self._fleet.is_online(runner))

    def dispatch_job(self, label: str, script: str) -> str:
        return self._fleet.dispatch(label, script)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._fleet.job(job_id)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (re-checked on every change), or time out."""
        deadline = time.monotonic() + timeout
        with self._fleet.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # Heartbeats age without any event, so look again now and then.
                self._fleet.changed.wait(min(left, 0.2))
            return True

    def set_runner_never_online(self, flag: bool) -> None:
        with self._fleet.changed:
            self._fleet.never_online = flag

    def set_runner_online_delay(self, seconds: float) -> None:
        """How long a runner's process must be connected before GitHub shows it online."""
        with self._fleet.changed:
            self._fleet.online_delay = seconds

    def add_runner_group(self, group_id: int, name: str) -> None:
        """Create a runner group in the organization (runners of any repository may use it)."""
        with self._lock:
            self._runner_groups[group_id] = name

    def set_missing_permission(self, flag: bool) -> None:
        """Take the runner permissions away from the App installation and the PAT."""
        with self._lock:
            self._missing_permission = flag

    def set_rate_limit(self, remaining: int | None, reset_in: float = 60) -> None:
        """Leave ``remaining`` calls until ``reset_in`` seconds from now; None: back to normal.

        Once the budget is spent, calls get GitHub's 403 "API rate limit exceeded" until
        the reset time passes on the stand-in's clock.
        """
        with self._lock:
            now = self._now()
            self._rate_forced = remaining
            self._rate_used = 0
            self._rate_reset = now + (reset_in if remaining is not None else RATE_WINDOW)

    def add_workflow_run(self, run_id: int, status: str, conclusion: str | None) -> None:
        with self._lock:
            stamp = _iso(self._now())
            run = self._runs.setdefault(run_id, {"id": run_id, "created_at": stamp})
            run.update(status=status, conclusion=conclusion, updated_at=stamp)

    def runner_download_url(self, version: str = "") -> str:
        return self._base_url() + download_path(version or self.runner_tarball[0])

    def add_runner_release(self, version: str) -> tuple[str, str, bytes]:
        """Publish another runner release (older or newer); returns its tarball."""
        with self._lock:
            if version not in self._releases:
                self._releases[version] = build_runner_tarball(version)
            return self._releases[version]

    def runner_release(self, version: str) -> tuple[str, str, bytes] | None:
        with self._lock:
            return self._releases.get(version)

    def set_min_runner_version(self, version: str) -> None:
        """Refuse runners older than ``version`` at their first message poll, as GitHub
        does about 30 days after a newer release; "" accepts every version."""
        with self._lock:
            self._min_runner_version = version

    # --- requests -----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        found = match(method, path)
        lowered = {key.lower(): value for key, value in headers.items()}
        if found is None:
            return self._rest_reply(404, {"message": "Not Found", "documentation_url": DOCS})
        route, params = found
        call = _Call(route, path.split("?", 1)[0], params, query, lowered, body)
        try:
            if route.operation.startswith("runner/"):
                return self._runner_call(call)
            if route.operation.startswith("release/"):
                return self._release(call)
            return self._rest(call)
        except GitHubError as refusal:
            payload = {"message": refusal.message, "documentation_url": DOCS}
            if route.operation.startswith("runner/"):
                return _json_reply(refusal.status, payload)
            return self._rest_reply(refusal.status, payload)

    def _rest(self, call: _Call) -> Reply:
        accept = call.headers.get("accept")
        version = call.headers.get("x-github-api-version")
        principal = self._authenticate(call.headers.get("authorization", ""))
        with self._lock:
            self.rest_calls.append(
                RestCall(
                    operation=call.route.operation_for(call.params),
                    method=call.route.method,
                    path=call.path,
                    auth=principal.kind if isinstance(principal, Principal) else None,
                    api_version=version,
                    accept=accept,
                )
            )
        if accept and not _accepts_json(accept):
            raise GitHubError(415, f"Unsupported 'Accept' header: {accept!r}.")
        if version is not None and version not in SUPPORTED_API_VERSIONS:
            raise GitHubError(400, f"API version {version} is not supported.")
        if isinstance(principal, GitHubError):
            raise principal
        self._check_caller(call.route, principal)
        if not self._spend_rate_limit():
            who = "user ID 1" if principal.kind == "pat" else f"installation ID {INSTALLATION_ID}"
            raise GitHubError(403, f"API rate limit exceeded for {who}.")
        call.principal = principal
        status, payload, extra = getattr(self, "_do_" + call.route.action)(call)
        reply = self._rest_reply(status, payload)
        reply.headers.update(extra)
        return reply

    # --- authentication ------------------------------------------------------------------

    def _authenticate(self, authorization: str) -> Principal | GitHubError:
        if not authorization.strip():
            return GitHubError(401, "Requires authentication")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() not in ("bearer", "token") or not credential:
            return GitHubError(401, "Bad credentials")
        if looks_like_jwt(credential):
            problem = check_app_jwt(credential, self._public_key, self.app_id, self._now())
            return GitHubError(401, problem) if problem else Principal("app")
        if hmac.compare_digest(credential.encode(), self._pat.encode()):
            return Principal("pat")
        with self._lock:
            token = self._tokens.get(credential)
            if token is None or token.revoked or token.expires_at <= self._now():
                return GitHubError(401, "Bad credentials")
            return Principal("installation", token)

    def _check_caller(self, route: Route, principal: Principal) -> None:
        if route.auth == "app" and principal.kind != "app":
            raise GitHubError(401, UNDECODABLE_JWT)
        if route.auth in ("token", "installation") and principal.kind == "app":
            raise GitHubError(403, "Resource not accessible by integration")
        if route.auth == "installation" and principal.kind != "installation":
            raise GitHubError(403, "Resource not accessible by personal access token")

    def _require(self, call: _Call, permission: str, level: str) -> None:
        """Refuse like GitHub when the caller may not see or change this resource."""
        principal = call.principal
        assert principal is not None
        if "org" in call.params:
            if call.params["org"].lower() != self.owner.lower():
                raise GitHubError(404, "Not Found")
        elif (call.params["owner"].lower(), call.params["repo"].lower()) != (
            self.owner.lower(),
            self.repo.lower(),
        ):
            raise GitHubError(404, "Not Found")
        if principal.kind == "pat":
            if self._missing_permission and permission != "actions":
                raise GitHubError(403, "Resource not accessible by personal access token")
            return
        token = principal.installation_token
        assert token is not None
        if (
            "repo" in call.params
            and token.repositories is not None
            and self.repo.lower() not in (name.lower() for name in token.repositories)
        ):
            raise GitHubError(404, "Not Found")
        held = self._installation_permissions().get(permission)
        if not (grants(held, level) and grants(token.permissions.get(permission), level)):
            raise GitHubError(403, "Resource not accessible by integration")

    def _installation_permissions(self) -> dict[str, str]:
        with self._lock:
            if self._missing_permission:
                return dict(_BASE_PERMISSIONS)
            return _BASE_PERMISSIONS | _RUNNER_PERMISSIONS

    # --- rate limits ---------------------------------------------------------------------

    def _spend_rate_limit(self) -> bool:
        with self._lock:
            now = self._now()
            if now >= self._rate_reset:
                self._rate_forced = None
                self._rate_used = 0
                self._rate_reset = now + RATE_WINDOW
            if self._remaining() <= 0:
                return False
            self._rate_used += 1
            if self._rate_forced is not None:
                self._rate_forced -= 1
            return True

    def _remaining(self) -> int:
        if self._rate_forced is not None:
            return max(0, self._rate_forced)
        return max(0, RATE_LIMIT - self._rate_used)

    def _rest_reply(self, status: int, payload: Any) -> Reply:
        with self._lock:
            remaining = self._remaining()
            headers = {
                "x-ratelimit-limit": str(RATE_LIMIT),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(RATE_LIMIT - remaining),
                "x-ratelimit-reset": str(math.ceil(self._rate_reset)),
                "x-ratelimit-resource": "core",
            }
        reply = _json_reply(status, payload)
        reply.headers.update(headers)
        return reply

    # --- Apps --------------------------------------------------------------------------

    def _installation(self) -> dict[str, Any]:
        stamp = _iso(0)
        return {
            "id": INSTALLATION_ID,
            "app_id": self.app_id,
            "app_slug": "runpod-ssh-action-stand-in",
            "account": {"login": self.owner, "id": ACCOUNT_ID, "type": "Organization"},
            "target_type": "Organization",
            "repository_selection": "all",
            "permissions": self._installation_permissions(),
            "access_tokens_url": (
                f"{self._base_url()}/app/installations/{INSTALLATION_ID}/access_tokens"
            ),
            "events": [],
            "created_at": stamp,
            "updated_at": stamp,
            "suspended_at": None,
        }

    def _do_get_installation(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        if "org" in call.params:
            known = call.params["org"].lower() == self.owner.lower()
        else:
            known = (call.params["owner"].lower(), call.params["repo"].lower()) == (
                self.owner.lower(),
                self.repo.lower(),
            )
        if not known:
            raise GitHubError(404, "Not Found")
        return 200, self._installation(), {}

    def _do_create_token(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        if int(call.params["installation_id"]) != INSTALLATION_ID:
            raise GitHubError(404, "Not Found")
        body = call.json()
        repositories = _narrowed_repositories(body, self.repo)
        available = self._installation_permissions()
        wanted = body.get("permissions")
        if wanted is None:
            permissions = available
        elif isinstance(wanted, dict) and all(
            isinstance(level, str)
            and level in ("read", "write", "admin")
            and grants(available.get(name), level)
            for name, level in wanted.items()
        ):
            permissions = {str(name): str(level) for name, level in wanted.items()}
        else:
            raise GitHubError(
                422, "The permissions requested are not granted to this installation."
            )
        expires = self._now() + INSTALLATION_TOKEN_LIFETIME
        token = InstallationToken(
            token=new_installation_token(),
            installation_id=INSTALLATION_ID,
            permissions=permissions,
            repositories=repositories,
            expires_at=expires,
        )
        with self._lock:
            self._tokens[token.token] = token
            self.issued_tokens.append(token.token)
        payload: dict[str, Any] = {
            "token": token.token,
            "expires_at": _iso(expires),
            "permissions": permissions,
            "repository_selection": "all" if repositories is None else "selected",
        }
        if repositories is not None:
            payload["repositories"] = [self._repository()]
        return 201, payload, {}

    def _repository(self) -> dict[str, Any]:
        return {"id": REPO_ID, "name": self.repo, "full_name": f"{self.owner}/{self.repo}"}

    def _do_revoke_token(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        assert call.principal is not None and call.principal.installation_token is not None
        token = call.principal.installation_token
        with self._lock:
            token.revoked = True
            self.revoked_tokens.add(token.token)
        return 204, None, {}

    # --- runners -------------------------------------------------------------------------

    def _do_generate_jitconfig(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, _runner_permission(call), "write")
        body = call.json()
        name = _name(body.get("name"))
        group = body.get("runner_group_id")
        if not isinstance(group, int) or isinstance(group, bool):
            raise GitHubError(422, 'Invalid request.\n\n"runner_group_id" wasn\'t supplied.')
        if self._group_name(call.scope, group) is None:
            raise GitHubError(404, "Not Found")
        labels = _labels(body.get("labels"), required=True)
        work_folder = body.get("work_folder", "_work")
        if not isinstance(work_folder, str) or not work_folder.strip():
            raise GitHubError(
                422, "Invalid request.\n\nFor 'properties/work_folder', not a string."
            )
        # The runner gets exactly the labels asked for: the OpenAPI description calls
        # them "the custom labels to add to the runner", and the runner's JIT path
        # (actions/runner src/Runner.Listener/Runner.cs) only writes the config files,
        # so nothing adds self-hosted, Linux or X64.
        runner = self._fleet.register(
            scope=call.scope,
            name=name,
            labels=labels,
            ephemeral=True,
            work_folder=work_folder,
            default_labels=False,
            group_id=group,
        )
        config = {
            "runner_id": runner.id,
            "runner_name": runner.name,
            "secret": runner.secret,
            "base_url": self._base_url(),
            "work_folder": runner.work_folder,
            "ephemeral": True,
        }
        encoded = base64.b64encode(json.dumps(config).encode()).decode()
        return 201, {"runner": self._fleet.rest(runner), "encoded_jit_config": encoded}, {}

    def _do_registration_token(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        return self._issue_runner_token(call, "registration")

    def _do_remove_token(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        return self._issue_runner_token(call, "remove")

    def _issue_runner_token(self, call: _Call, kind: str) -> tuple[int, Any, dict[str, str]]:
        self._require(call, _runner_permission(call), "write")
        expires = self._now() + RUNNER_TOKEN_LIFETIME
        token = self._runner_token()
        with self._lock:
            self._runner_tokens[token] = _RunnerToken(call.scope, kind, expires)
        return 201, {"token": token, "expires_at": _iso(expires)}, {}

    def _runner_token(self) -> str:
        alphabet = string.ascii_uppercase + "234567"
        nonce = "".join(secrets.choice(alphabet) for _ in range(RUNNER_TOKEN_PREFIX))
        address = base64.b32encode(self._base_url().encode()).decode().rstrip("=")
        return nonce + address

    def _do_list_runners(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, _runner_permission(call), "write")
        name = call.query.get("name", [None])[0]
        per_page = min(max(_int_query(call.query, "per_page", 30), 1), 100)
        page = max(_int_query(call.query, "page", 1), 1)
        runners = self._fleet.listing(call.scope, name or None)
        chunk = runners[(page - 1) * per_page : page * per_page]
        payload = {
            "total_count": len(runners),
            "runners": [self._fleet.rest(runner) for runner in chunk],
        }
        last = max(1, math.ceil(len(runners) / per_page))
        link = self._link_header(call, name or None, per_page, page, last)
        return 200, payload, ({"link": link} if link else {})

    def _link_header(
        self, call: _Call, name: str | None, per_page: int, page: int, last: int
    ) -> str:
        if "org" in call.params:
            path = f"/orgs/{call.params['org']}/actions/runners"
        else:
            path = f"/repos/{call.params['owner']}/{call.params['repo']}/actions/runners"

        def url(number: int) -> str:
            query = {"per_page": per_page, "page": number} | ({"name": name} if name else {})
            return f"{self._base_url()}{path}?{urlencode(query)}"

        links = []
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        return ", ".join(links)

    def _do_get_runner(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, _runner_permission(call), "write")
        runner = self._fleet.get(call.scope, int(call.params["runner_id"]))
        if runner is None:
            raise GitHubError(404, "Not Found")
        return 200, self._fleet.rest(runner), {}

    def _do_delete_runner(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, _runner_permission(call), "write")
        self._fleet.delete(call.scope, int(call.params["runner_id"]))
        return 204, None, {}

    def _do_get_runner_group(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, "organization_self_hosted_runners", "read")
        group_id = int(call.params["runner_group_id"])
        name = self._group_name("org", group_id)
        if name is None:
            raise GitHubError(404, "Not Found")
        base = f"{self._base_url()}/orgs/{self.owner}/actions/runner-groups/{group_id}"
        return (
            200,
            {
                "id": group_id,
                "name": name,
                "visibility": "all",
                "default": group_id == DEFAULT_GROUP_ID,
                "runners_url": f"{base}/runners",
                "hosted_runners_url": f"{base}/hosted-runners",
                "network_configuration_id": None,
                "inherited": False,
                "allows_public_repositories": False,
                "restricted_to_workflows": False,
                "selected_workflows": [],
                "workflow_restrictions_read_only": False,
            },
            {},
        )

    def _group_name(self, scope: str, group_id: int) -> str | None:
        with self._lock:
            if scope == "repo" and group_id != DEFAULT_GROUP_ID:
                return None
            return self._runner_groups.get(group_id)

    def _group_by_name(self, scope: str, name: str) -> int | None:
        """config.sh matches a group's name ignoring case (actions/runner
        src/Runner.Listener/Configuration/ConfigurationManager.cs)."""
        with self._lock:
            for group_id, group_name in self._runner_groups.items():
                if group_name.lower() == name.lower() and self._group_name(scope, group_id):
                    return group_id
            return None

    def _do_get_workflow_run(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        self._require(call, "actions", "read")
        with self._lock:
            run = self._runs.get(int(call.params["run_id"]))
            if run is None:
                raise GitHubError(404, "Not Found")
            return 200, dict(run), {}

    # --- the stand-in runner's private calls -----------------------------------------

    def _runner_call(self, call: _Call) -> Reply:
        action = call.route.action
        if action in ("register", "remove"):
            return getattr(self, "_runner_" + action)(call)  # type: ignore[no-any-return]
        runner_id = int(call.params["runner_id"])
        scheme, _, secret = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise GitHubError(401, "Requires authentication")
        if action == "connect":
            self._fleet.connect(runner_id, secret)
        elif action == "heartbeat":
            self._fleet.heartbeat(runner_id, secret)
        elif action == "disconnect":
            self._fleet.disconnect(runner_id, secret)
        elif action == "poll":
            self._refuse_old_runner(call)
            wait = _float_query(call.query, "wait", 0.0)
            job = self._fleet.poll(runner_id, secret, wait)
            if job is not None:
                return _json_reply(
                    200, {"job_id": job.id, "label": job.label, "script": job.script}
                )
        else:
            result = call.json()
            exit_code, output = result.get("exit_code"), result.get("output", "")
            if not isinstance(exit_code, int) or not isinstance(output, str):
                raise GitHubError(422, "exit_code (integer) and output (string) are required.")
            self._fleet.complete(runner_id, secret, call.params["job_id"], exit_code, output)
        return _json_reply(204, None)

    def _refuse_old_runner(self, call: _Call) -> None:
        """GitHub's broker refuses a message poll from a deprecated runner version: the
        runner sends its version with each poll (actions/runner
        src/Sdk/WebApi/WebApi/BrokerHttpClient.cs, ``runnerVersion``) and gets
        ``RunnerVersionTooOld``, which it reports and exits on (Program.cs)."""
        version = (call.query.get("runnerVersion") or [""])[0]
        with self._lock:
            minimum = self._min_runner_version
        if minimum and (not version or version_key(version) < version_key(minimum)):
            raise GitHubError(403, deprecated_message(version or "unknown"))

    def _take_runner_token(self, call: _Call, kind: str) -> _RunnerToken:
        scheme, _, token = call.headers.get("authorization", "").partition(" ")
        with self._lock:
            found = self._runner_tokens.get(token.strip()) if scheme == "RemoteAuth" else None
            if found is None or found.kind != kind or found.expires_at <= self._now():
                raise GitHubError(401, f"Invalid or expired {kind} token.")
            return found

    def _runner_register(self, call: _Call) -> Reply:
        token = self._take_runner_token(call, "registration")
        body = call.json()
        group = body.get("runner_group") or DEFAULT_GROUP_NAME
        group_id = self._group_by_name(token.scope, group) if isinstance(group, str) else None
        if group_id is None:
            raise GitHubError(404, f'Could not find any self-hosted runner group named "{group}".')
        work_folder = body.get("work_folder") or "_work"
        if not isinstance(work_folder, str):
            raise GitHubError(422, "work_folder must be a string.")
        runner = self._fleet.register(
            scope=token.scope,
            name=_name(body.get("name")),
            labels=_labels(body.get("labels", []), required=False),
            ephemeral=body.get("ephemeral") is True,
            work_folder=work_folder,
            replace=body.get("replace") is True,
            default_labels=body.get("no_default_labels") is not True,
            group_id=group_id,
        )
        with self._lock:
            self.registrations.append(
                {
                    "runner_id": runner.id,
                    "name": runner.name,
                    "url": body.get("url"),
                    "ephemeral": runner.ephemeral,
                    "replace": body.get("replace") is True,
                    "disable_update": body.get("disable_update") is True,
                }
            )
        return _json_reply(
            201,
            {"runner": self._fleet.rest(runner), "runner_id": runner.id, "secret": runner.secret},
        )

    def _runner_remove(self, call: _Call) -> Reply:
        token = self._take_runner_token(call, "remove")
        body = call.json()
        runner_id, secret = body.get("runner_id"), body.get("secret")
        if not isinstance(runner_id, int) or not isinstance(secret, str):
            raise GitHubError(422, "runner_id and secret are required.")
        runner: Runner = self._fleet.authenticate(runner_id, secret)
        if runner.scope != token.scope:
            raise GitHubError(404, "Not Found")
        self._fleet.delete(runner.scope, runner.id)
        return _json_reply(204, None)

    # --- the runner release ------------------------------------------------------------

    def _do_get_latest_release(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            newest = max(self._releases, key=version_key)
        return 200, self._release_json(newest), {}

    def _do_get_release_by_tag(self, call: _Call) -> tuple[int, Any, dict[str, str]]:
        tag = call.params["tag"]
        with self._lock:
            known = tag.startswith("v") and tag[1:] in self._releases
        if not known:
            raise GitHubError(404, "Not Found")
        return 200, self._release_json(tag[1:]), {}

    def _release_json(self, version: str) -> dict[str, Any]:
        _, digest, _ = self._releases[version]
        return release_json(version, digest, self.runner_download_url(version))

    def _release(self, call: _Call) -> Reply:
        name = call.params["file"]
        wanted = call.params.get("version") or name.removeprefix("actions-runner-linux-x64-")
        found = self.runner_release(wanted.removesuffix(".tar.gz"))
        if found is None or name != tarball_name(found[0]):
            return Reply(404, {"content-type": "text/plain; charset=utf-8"}, b"Not Found")
        _, digest, data = found
        if call.route.action == "release_download":
            location = f"{self._base_url()}/_sim/release-assets/{name}"
            return Reply(302, {"location": location, "content-length": "0"}, b"")
        return Reply(
            200,
            {
                "content-type": "application/octet-stream",
                "content-length": str(len(data)),
                "etag": f'"{digest}"',
            },
            data,
        )


def _json_reply(status: int, payload: Any) -> Reply:
    if status == 204:
        return Reply(204, {}, b"")
    body = json.dumps(payload).encode()
    return Reply(status, {"content-type": "application/json; charset=utf-8"}, body)


def _accepts_json(accept: str) -> bool:
    return any(
        kind.split(";")[0].strip() in ("*/*", "application/*", "application/json")
        or "vnd.github" in kind
        or kind.split(";")[0].strip().endswith("+json")
        for kind in accept.split(",")
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _runner_permission(call: _Call) -> str:
    return "organization_self_hosted_runners" if "org" in call.params else "administration"


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GitHubError(422, 'Invalid request.\n\n"name" wasn\'t supplied.')
    if len(value) > MAX_NAME_LENGTH or any(char in value for char in ",/\\\n\r\t"):
        raise GitHubError(422, f"Validation Failed: runner name {value!r} is not valid.")
    return value


def _labels(value: Any, *, required: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise GitHubError(
            422, "Invalid request.\n\nFor 'properties/labels', not an array of strings."
        )
    if required and not value:
        raise GitHubError(422, "Invalid request.\n\nFor 'properties/labels', fewer than 1 items.")
    if len(value) > MAX_LABELS:
        raise GitHubError(422, f"Validation Failed: at most {MAX_LABELS} labels are allowed.")
    for label in value:
        if not label.strip() or len(label) > MAX_LABEL_LENGTH or "," in label:
            raise GitHubError(422, f"Validation Failed: label {label!r} is not valid.")
    return [str(label) for label in value]


def _narrowed_repositories(body: dict[str, Any], repo: str) -> list[str] | None:
    names, ids = body.get("repositories"), body.get("repository_ids")
    if names is None and ids is None:
        return None
    names = names if names is not None else []
    ids = ids if ids is not None else []
    if names == [] and ids == []:
        return None
    if (
        not isinstance(names, list)
        or not isinstance(ids, list)
        or not all(isinstance(name, str) and name.lower() == repo.lower() for name in names)
        or not all(number == REPO_ID for number in ids)
    ):
        raise GitHubError(
            422,
            "There is at least one repository that does not exist or is not accessible to "
            "the parent installation.",
        )
    return [repo]


def _int_query(query: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return int(query.get(key, [str(default)])[0])
    except ValueError:
        return default


def _float_query(query: dict[str, list[str]], key: str, default: float) -> float:
    try:
        return float(query.get(key, [str(default)])[0])
    except ValueError:
        return default
