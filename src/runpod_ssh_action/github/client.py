"""The GitHub REST client: App or PAT login, runner registration, and runner lookups.

Everything goes through the shared ``Transport`` (TLS, timeouts, retries, masked logs,
metrics); this module adds GitHub's headers, its rate-limit rule, and the meaning of
its answers. Every secret GitHub hands out (installation token, registration token, JIT
config) is given to the masker before anything else touches it.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import Clock, remaining
from ..errors import ActionError, InputError, NetworkError
from ..masking import Masker
from ..transport import (
    ApiLog,
    Metrics,
    RetryPolicy,
    Transport,
    ca_bundle_from_env,
    check_endpoint,
    unreadable_success,
)
from . import operations as ops
from .auth import app_jwt
from .errors import (
    AppNotInstalledError,
    GitHubError,
    PermissionMissingError,
    RunnerBusyError,
    RunnerGroupNotFoundError,
    RunnerNameConflictError,
    RunnerNeverOnlineError,
)
from .failures import AuthKind, failure, github_message, permission_fix, said
from .models import (
    InstallationToken,
    JitConfig,
    MalformedResponseError,
    RegistrationToken,
    Runner,
    RunnerScope,
    WorkflowRun,
    parse_registration_token,
    parse_runner,
    parse_time,
    parse_workflow_run,
)
from .ratelimit import GitHubRateLimitRule
from .releases import RUNNER_REPOSITORY, VERSION, RunnerRelease, parse_release, release_tag

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PAGE_SIZE = 100

# Runners usually come online seconds after the pod starts them: poll soon, then back
# off so a slow start does not cost a call every half second.
POLL_FIRST_INTERVAL = 0.5
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 5.0

# Pause before the single second try of a POST whose first try broke.
SECOND_TRY_PAUSE = 1.0

_LEVELS = {"read": 1, "write": 2, "admin": 3}

T = TypeVar("T")
ProgressCallback = Callable[[Mapping[int, str]], None]

# GitHub refuses to delete a runner during a job with HTTP 422 "Bad request - Runner
# \"<name>\" is still running a job" (quoted in actions/actions-runner-controller,
# controllers/actions.summerwind.net/runner_graceful_stop.go).
_BUSY = re.compile(r'Runner "(?P<name>[^"]*)" is still running a job', re.IGNORECASE)


@dataclass(frozen=True)
class _Credentials:
    kind: AuthKind
    header: str = field(repr=False)


class GitHubClient:
    def __init__(
        self,
        api_url: str | None = None,
        *,
        clock: Clock,
        masker: Masker,
        log: ApiLog,
        metrics: Metrics | None = None,
        ca_bundle: str | None = None,
        pins: frozenset[str] = frozenset(),
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        timeout: float = 30.0,
    ):
        url = api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
        self.api_url = check_endpoint(url, "GITHUB_API_URL").rstrip("/")
        self._clock = clock
        self._masker = masker
        self._transport = Transport(
            base_url=self.api_url,
            clock=clock,
            masker=masker,
            log=log,
            metrics=metrics or Metrics(),
            rate_limit_rule=GitHubRateLimitRule(),
            retry=retry or RetryPolicy(),
            connect_timeout=timeout,
            read_timeout=timeout,
            ca_bundle=ca_bundle if ca_bundle is not None else ca_bundle_from_env(),
            pins=pins,
            headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION},
            rng=rng or random.Random(),
        )
        self._credentials: _Credentials | None = None
        self._installation: InstallationToken | None = None

    @property
    def metrics(self) -> Metrics:
        return self._transport.metrics

    @property
    def installation_token(self) -> InstallationToken | None:
        """The installation token ``login_app`` obtained, until it is revoked."""
        return self._installation

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- logging in ---------------------------------------------------------------

    def login_app(
        self,
        app_id: str,
        private_key: rsa.RSAPrivateKey,
        scope: RunnerScope,
        *,
        extra_permissions: Mapping[str, str] | None = None,
    ) -> InstallationToken:
        """Authenticate as the App's installation on ``scope``; later calls use the token.

        The token is narrowed to the one repository (for a repository scope) and to the
        runner permission plus ``extra_permissions`` (e.g. ``{"actions": "read"}`` for
        ``workflow_run``), so a leaked token can do as little as possible.
        """
        app_id = str(app_id).strip()
        if not app_id or any(c.isspace() for c in app_id):
            raise InputError(
                "github-app-id",
                "it must be the App's numeric id or its client id (Iv...)",
                "Copy the App ID from the App's settings page",
            )
        jwt_token = app_jwt(app_id, private_key, self._clock)
        self._masker.add(jwt_token)
        as_app = _Credentials("jwt", f"Bearer {jwt_token}")

        installation = self._find_installation(scope, as_app)
        wanted = {scope.permission: "write", **(extra_permissions or {})}
        self._check_installation_grants(installation, wanted, scope)
        installation_id = self._parse(
            "Reading the App's installation", lambda d: _field(d, "id", int), installation
        )

        body: dict[str, Any] = {"permissions": wanted}
        if scope.kind == "repo":
            body["repositories"] = [scope.name]
        what = f"Creating an installation token for the GitHub App on {scope}"
        response = self._post_token(
            f"/app/installations/{installation_id}/access_tokens",
            operation=ops.CREATE_INSTALLATION_TOKEN,
            json_body=body,
            credentials=as_app,
        )
        if response.status_code == 422:
            raise self._token_refused(response, what, scope, wanted, installation)
        if response.status_code not in (200, 201):
            raise self._fail(response, what, scope=scope, auth="jwt")
        data = self._json(response, what)
        token = data.get("token") if isinstance(data, dict) else None
        if isinstance(token, str):
            self._masker.add(token)
        result = self._parse(
            what,
            lambda d: _installation_token(d, installation_id, installation.get("app_slug")),
            data,
        )
        self._credentials = _Credentials("app", f"Bearer {result.token}")
        self._installation = result
        return result

    def login_token(self, pat: str) -> None:
        """Authenticate with a personal access token (classic or fine-grained)."""
        pat = (pat or "").strip()
        if not pat:
            raise InputError(
                "github-token", "it is empty", "Pass a personal access token from a secret"
            )
        self._masker.add(pat)
        # Bearer rather than the older "token <pat>" form the spec shows: GitHub accepts
        # both for classic and fine-grained tokens, and Bearer is the one scheme shared by
        # every credential this client sends (JWTs require it).
        self._credentials = _Credentials("pat", f"Bearer {pat}")
        self._installation = None

    def login_installation_token(self, token: str) -> None:
        """Use an installation token another client (or an earlier step) obtained, so that
        errors speak of an App token and ``revoke_installation_token`` can revoke it."""
        token = (token or "").strip()
        if not token:
            raise GitHubError(
                "No installation token was given",
                "the App login that should have produced it did not run or failed",
                "Log in with github-app-id and github-app-private-key",
            )
        self._masker.add(token)
        self._credentials = _Credentials("app", f"Bearer {token}")
        self._installation = None

    def revoke_installation_token(self) -> bool:
        """Revoke the installation token in use. False if there was none or it was dead."""
        if self._credentials is None or self._credentials.kind != "app":
            return False
        response = self._call(
            "DELETE", "/installation/token", operation=ops.REVOKE_INSTALLATION_TOKEN
        )
        if response.status_code in (204, 401):
            self._credentials = None
            self._installation = None
            return response.status_code == 204
        raise self._fail(response, "Revoking the installation token")

    # --- runners ------------------------------------------------------------------

    def check_runner_access(self, scope: RunnerScope) -> None:
        """Preflight: fail now, naming the permission, if runners cannot be managed here."""
        response = self._call(
            "GET",
            f"{scope.path}/actions/runners",
            operation=ops.LIST_RUNNERS.of(scope),
            params={"per_page": 1},
        )
        if response.status_code != 200:
            raise self._fail(response, f"Checking access to the runners of {scope}", scope=scope)

    def generate_jit_config(
        self,
        scope: RunnerScope,
        name: str,
        labels: Iterable[str],
        runner_group_id: int = 1,
        work_folder: str = "_work",
    ) -> JitConfig:
        """Register an ephemeral just-in-time runner and return its config (masked).

        A POST that breaks after GitHub may have acted (a broken connection, a 5xx, an
        answer cut short) is reconciled before the one retry: any runner already
        registered under ``name`` is deleted, so a retry can never leave a second
        runner behind.
        """
        body = {
            "name": name,
            "runner_group_id": runner_group_id,
            # A bare string is an Iterable[str] too; it means one label, not its letters.
            "labels": [labels] if isinstance(labels, str) else list(labels),
            "work_folder": work_folder,
        }
        what = f"Registering runner '{name}' on {scope}"
        outcome = self._try_jit(scope, body, what, retrying=False)
        if isinstance(outcome, JitConfig):
            return outcome
        self._clock.sleep(SECOND_TRY_PAUSE)
        outcome = self._try_jit(scope, body, what, retrying=True)
        if isinstance(outcome, JitConfig):
            return outcome
        raise outcome

    def runner_group_name(self, scope: RunnerScope, runner_group_id: int) -> str:
        """The name of an organization's runner group: ``config.sh --runnergroup`` takes
        a name, matched ignoring case (actions/runner src/Runner.Listener/Configuration/
        ConfigurationManager.cs), where the action's input is the group's id."""
        what = f"Looking up runner group {runner_group_id} of {scope}"
        if scope.kind != "org":
            raise RunnerGroupNotFoundError(
                what,
                "repository runners have only the default group",
                "Set runner-group-id to 1, or runner-scope: org to use an organization's group",
            )
        response = self._call(
            "GET",
            f"{scope.path}/actions/runner-groups/{int(runner_group_id)}",
            operation=ops.GET_ORG_RUNNER_GROUP,
        )
        if response.status_code == 404:
            message = github_message(response, self._masker)
            raise RunnerGroupNotFoundError(
                what,
                f"{scope} has no runner group {runner_group_id} ({said(message, 404)})",
                "Use the id of an existing group (1 is the default group), as shown under "
                "Organization settings > Actions > Runner groups",
                status=404,
                github_message=message,
            )
        if response.status_code != 200:
            raise self._fail(response, what, scope=scope)
        return self._parse(what, lambda d: _field(d, "name", str), self._json(response, what))

    def registration_token(self, scope: RunnerScope) -> RegistrationToken:
        """A one-hour token for ``config.sh`` (the classic, non-JIT path); masked."""
        return self._runner_token(
            scope, "registration-token", ops.CREATE_REGISTRATION_TOKEN, "a registration token"
        )

    def remove_token(self, scope: RunnerScope) -> RegistrationToken:
        """A one-hour token for ``config.sh remove``; masked."""
        return self._runner_token(scope, "remove-token", ops.CREATE_REMOVE_TOKEN, "a remove token")

    def list_runners(self, scope: RunnerScope, name: str | None = None) -> list[Runner]:
        """Every runner in ``scope`` (all pages), or only those named exactly ``name``."""
        runners: list[Runner] = []
        page = 1
        what = f"Listing the runners of {scope}"
        while True:
            params: dict[str, Any] = {"per_page": PAGE_SIZE, "page": page}
            if name is not None:
                params["name"] = name
            response = self._call(
                "GET",
                f"{scope.path}/actions/runners",
                operation=ops.LIST_RUNNERS.of(scope),
                params=params,
            )
            if response.status_code != 200:
                raise self._fail(response, what, scope=scope)
            batch, total = self._parse(what, _runner_page, self._json(response, what))
            runners.extend(batch)
            if len(batch) < PAGE_SIZE or (total is not None and len(runners) >= total):
                break
            page += 1
        # Also filtered here: deletions by name must never hit a runner GitHub's filter
        # matched loosely.
        return [r for r in runners if name is None or r.name == name]

    def get_runner(self, scope: RunnerScope, runner_id: int) -> Runner | None:
        """The runner, or None if GitHub does not know it (never registered, or gone)."""
        response = self._call(
            "GET",
            f"{scope.path}/actions/runners/{int(runner_id)}",
            operation=ops.GET_RUNNER.of(scope),
        )
        if response.status_code == 404:
            return None
        what = f"Looking up runner {runner_id} on {scope}"
        if response.status_code != 200:
            raise self._fail(response, what, scope=scope)
        return self._parse(what, parse_runner, self._json(response, what))

    def delete_runner(self, scope: RunnerScope, runner_id: int) -> bool:
        """Un-register a runner. False if it was already gone."""
        response = self._call(
            "DELETE",
            f"{scope.path}/actions/runners/{int(runner_id)}",
            operation=ops.DELETE_RUNNER.of(scope),
        )
        if response.status_code in (200, 204):
            return True
        if response.status_code == 404:
            return False
        if response.status_code == 422:
            message = github_message(response, self._masker)
            busy = _BUSY.search(message)
            if busy:
                raise RunnerBusyError(runner_id, busy["name"], message)
        raise self._fail(response, f"Removing runner {runner_id} from {scope}", scope=scope)

    def wait_until_online(
        self,
        scope: RunnerScope,
        runner_ids: Sequence[int],
        deadline: float,
        on_progress: ProgressCallback | None = None,
        *,
        poll: Callable[[float], float] | None = None,
        on_online: Callable[[Runner], None] | None = None,
    ) -> dict[int, Runner]:
        """Watch runners by id until all are online (busy counts) or ``deadline``.

        Each round looks the runners up at the lowest request count: one GET per
        runner, or one listing of the scope matched on ids when that is cheaper.
        ``poll(waited)`` gives the pause before the next round (by default growing
        from half a second); ``on_online`` hears of each runner as it comes online.
        ``deadline`` is a ``clock.monotonic()`` value. A runner GitHub no longer knows
        before it was ever seen online fails the wait at once: it will not come back.
        """
        wanted = list(dict.fromkeys(runner_ids))
        started = self._clock.monotonic()
        states: dict[int, str] = dict.fromkeys(wanted, "not checked")
        seen: dict[int, Runner] = {}
        online: dict[int, Runner] = {}
        interval = POLL_FIRST_INTERVAL
        pages = 1
        while True:
            pending = [runner_id for runner_id in wanted if runner_id not in online]
            found, pages = self._look_up(scope, pending, pages)
            for runner_id in pending:
                runner = found.get(runner_id)
                if runner is None:
                    states[runner_id] = "disappeared"
                    continue
                seen[runner_id] = runner
                states[runner_id] = (
                    ("busy" if runner.busy else "online") if runner.online else runner.status
                )
                if runner.online:
                    online[runner_id] = runner
                    if on_online is not None:
                        on_online(runner)
            if on_progress is not None:
                on_progress(dict(states))
            if len(online) == len(wanted):
                return online
            left = remaining(self._clock, deadline)
            if left <= 0 or "disappeared" in states.values():
                raise _never_online(scope, states, seen, online, self._clock.monotonic() - started)
            if poll is not None:
                interval = poll(self._clock.monotonic() - started)
            self._clock.sleep(min(interval, left))
            if poll is None:
                interval = min(interval * POLL_GROWTH, POLL_MAX_INTERVAL)

    def _look_up(
        self, scope: RunnerScope, ids: list[int], pages: int
    ) -> tuple[dict[int, Runner], int]:
        """Runners by id: one GET each, unless one listing of the scope (``pages``
        pages last time) costs fewer requests. Returns them with the page count."""
        if len(ids) <= pages:
            found = (self.get_runner(scope, runner_id) for runner_id in ids)
            return {runner.id: runner for runner in found if runner is not None}, pages
        listing = self.list_runners(scope)
        wanted = set(ids)
        return (
            {runner.id: runner for runner in listing if runner.id in wanted},
            len(listing) // PAGE_SIZE + 1,
        )

    def runner_release(self, version: str) -> RunnerRelease:
        """The actions/runner release to install: ``version`` is "latest" or "X.Y.Z".

        Read with the credentials already held from this client's API URL, so a GHES
        server's mirror of the releases is used there. ``newest`` is always looked up
        (it is the answer itself for "latest"); for a pinned version a failed look-up
        of the newest only leaves it "".
        """
        base = f"/repos/{RUNNER_REPOSITORY}/releases"
        if version == "latest":
            data = self._release(f"{base}/latest", ops.GET_LATEST_RELEASE, "the latest")
            return self._parse("Reading the latest runner release", _latest_release, data)
        if not VERSION.match(version):
            raise InputError(
                "runner-version", f"'{version}' is not latest or a version like 2.330.0"
            )
        try:
            latest = self._release(f"{base}/latest", ops.GET_LATEST_RELEASE, "the latest")
            newest = release_tag(latest)
        except (ActionError, MalformedResponseError):
            newest = ""
        data = self._release(f"{base}/tags/v{version}", ops.GET_RELEASE_BY_TAG, f"the v{version}")
        what = f"Reading runner release v{version}"
        release = self._parse(what, lambda d: parse_release(d, newest), data)
        if release.version != version:
            raise GitHubError(what, f"GitHub answered with release v{release.version}")
        return release

    def _release(self, path: str, operation: str, which: str) -> Any:
        what = f"Looking up {which} actions/runner release"
        response = self._call("GET", path, operation=operation)
        if response.status_code == 404:
            raise GitHubError(
                what,
                f"{self.api_url} has no such release of {RUNNER_REPOSITORY} (HTTP 404)",
                "Set runner-version to latest or to a released version (see "
                "github.com/actions/runner/releases)",
                status=404,
            )
        if response.status_code != 200:
            raise self._fail(response, what)
        return self._json(response, what)

    def workflow_run(self, owner: str, repo: str, run_id: int) -> WorkflowRun | None:
        """A workflow run's status, or None if GitHub does not know it."""
        scope = RunnerScope.repo(owner, repo)
        response = self._call(
            "GET",
            f"{scope.path}/actions/runs/{int(run_id)}",
            operation=ops.GET_WORKFLOW_RUN,
        )
        if response.status_code == 404:
            return None
        what = f"Looking up workflow run {run_id} of {scope}"
        if response.status_code != 200:
            raise self._fail(response, what, scope=scope, permission="actions", level="read")
        return self._parse(what, parse_workflow_run, self._json(response, what))

    # --- pieces -------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        credentials: _Credentials | None = None,
    ) -> requests.Response:
        credentials = credentials or self._require_credentials()
        return self._transport.request(
            method,
            self.api_url + path,
            operation=operation,
            idempotent=method in ("GET", "DELETE"),
            json_body=json_body,
            headers={"Authorization": credentials.header},
            params=params,
            log_variables=json_body,
            # GitHub asks for mutations one at a time per client, never in parallel.
            exclusive=method != "GET",
            # Every GET answer is JSON: one that is not was cut short, and is asked again.
            expect_json=method == "GET",
        )

    def _post_token(
        self,
        path: str,
        *,
        operation: str,
        json_body: Any = None,
        credentials: _Credentials | None = None,
    ) -> requests.Response:
        """POST a call that mints a token. POSTs are not retried by the transport, but a
        duplicate token only expires unused, so one broken attempt is tried again: a
        broken connection, a 5xx, or a 2xx cut short (its token, minted but never
        read, cannot be revoked and expires within the hour)."""

        def send() -> requests.Response:
            return self._call(
                "POST", path, operation=operation, json_body=json_body, credentials=credentials
            )

        try:
            response = send()
        except NetworkError:
            self._clock.sleep(SECOND_TRY_PAUSE)
            return send()
        if response.status_code >= 500 or unreadable_success(response):
            self._clock.sleep(SECOND_TRY_PAUSE)
            return send()
        return response

    def _require_credentials(self) -> _Credentials:
        if self._credentials is None:
            raise GitHubError(
                "No GitHub credentials are set up",
                "the client was used before logging in, or after its token was revoked",
                "Give github-app-id with github-app-private-key, or github-token",
            )
        return self._credentials

    def _fail(
        self,
        response: requests.Response,
        what: str,
        *,
        scope: RunnerScope | None = None,
        auth: AuthKind | None = None,
        permission: str | None = None,
        level: str = "write",
    ) -> GitHubError:
        kind = auth or (self._credentials.kind if self._credentials else "pat")
        return failure(
            response,
            what=what,
            auth=kind,
            masker=self._masker,
            scope=scope,
            permission=permission,
            level=level,
        )

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GitHubError(
                what,
                f"GitHub's answer (HTTP {response.status_code}) was not JSON",
                "Check that the GitHub API URL points to GitHub's REST API",
                status=response.status_code,
            ) from None

    def _parse(self, what: str, parse: Callable[[Any], T], data: Any) -> T:
        try:
            return parse(data)
        except MalformedResponseError as exc:
            raise GitHubError(
                what,
                f"GitHub's answer was not as documented: {exc}",
                "Check that the GitHub API URL points to GitHub's REST API",
            ) from None

    def _find_installation(self, scope: RunnerScope, as_app: _Credentials) -> dict[str, Any]:
        response = self._call(
            "GET",
            f"{scope.path}/installation",
            operation=ops.GET_INSTALLATION.of(scope),
            credentials=as_app,
        )
        if response.status_code == 404:
            data = _json_or_empty(response)
            slug = data.get("app_slug")
            raise AppNotInstalledError(
                f"The GitHub App is not installed on {scope}",
                "GitHub has no installation of the App that covers it (HTTP 404)",
                self._install_fix(scope, slug if isinstance(slug, str) else None),
                status=404,
            )
        what = f"Finding the GitHub App's installation on {scope}"
        if response.status_code != 200:
            raise self._fail(response, what, scope=scope, auth="jwt")
        data = self._json(response, what)
        if not isinstance(data, dict):
            raise GitHubError(what, "GitHub's answer was not a JSON object")
        return data

    def _check_installation_grants(
        self, installation: Mapping[str, Any], wanted: Mapping[str, str], scope: RunnerScope
    ) -> None:
        """Fail before asking for a token if the installation plainly lacks a grant."""
        granted = installation.get("permissions")
        if not isinstance(granted, dict):
            return
        for permission, level in wanted.items():
            have = str(granted.get(permission, "none"))
            if _LEVELS.get(have, 0) < _LEVELS.get(level, 0):
                raise PermissionMissingError(
                    f"The GitHub App's installation on {scope} lacks a permission",
                    f"it grants '{permission}: {have}', and '{level}' is needed",
                    permission_fix("app", permission, level),
                    permission=permission,
                    level=level,
                )

    def _token_refused(
        self,
        response: requests.Response,
        what: str,
        scope: RunnerScope,
        wanted: Mapping[str, str],
        installation: Mapping[str, Any],
    ) -> GitHubError:
        message = github_message(response, self._masker)
        lowered = message.lower()
        if "permission" in lowered:
            permission, level = next(iter(wanted.items()))
            return PermissionMissingError(
                what,
                f"the installation was not granted every permission asked for: "
                f"{', '.join(f'{p}: {lvl}' for p, lvl in wanted.items())} "
                f"({said(message, response.status_code)})",
                permission_fix("app", permission, level),
                permission=permission,
                level=level,
                status=response.status_code,
                github_message=message,
            )
        if "repositor" in lowered:
            page = installation.get("html_url")
            where = f" ({page})" if isinstance(page, str) else ""
            return AppNotInstalledError(
                what,
                f"the App's installation does not include {scope.full_name} "
                f"({said(message, response.status_code)})",
                f"Add {scope.full_name} to the installation's repository access{where}",
                status=response.status_code,
                github_message=message,
            )
        return self._fail(response, what, scope=scope, auth="jwt")

    def _install_fix(self, scope: RunnerScope, slug: str | None) -> str:
        web = _web_url(self.api_url)
        page = f"{web}/apps/{slug}" if slug else f"the App's public page ({web}/apps/<app-slug>)"
        if scope.kind == "org":
            return f"Install the App on the organization {scope.owner} from {page}"
        return (
            f"Install the App on {scope.owner} from {page} and give it access to "
            f"{scope.full_name}; if it is installed already, add the repository under "
            f"{scope.owner}'s Settings > GitHub Apps > Configure > Repository access"
        )

    def _try_jit(
        self, scope: RunnerScope, body: Mapping[str, Any], what: str, *, retrying: bool
    ) -> JitConfig | ActionError:
        """One JIT POST: the config, or a failure worth one more try (already reconciled).
        Failures a retry cannot fix are raised."""
        name = str(body["name"])
        try:
            response = self._call(
                "POST",
                f"{scope.path}/actions/runners/generate-jitconfig",
                operation=ops.GENERATE_JITCONFIG.of(scope),
                json_body=body,
            )
        except NetworkError as exc:
            if exc.maybe_acted:
                self._remove_half_registered(scope, name, what)
            return exc
        status = response.status_code
        if unreadable_success(response):
            # GitHub registered the runner, but its config was lost on the way.
            self._remove_half_registered(scope, name, what)
            return GitHubError(
                what,
                f"GitHub's answer (HTTP {status}) was cut short or was not JSON; the runner "
                "it registered was removed",
                "Check that the GitHub API URL points to GitHub's REST API; if it does, run "
                "the job again",
                status=status,
            )
        if status in (200, 201):
            return self._jit_config(response, scope, name, what)
        if retrying and _name_taken(response, self._masker):
            # The first try broke after GitHub had registered the runner, and GitHub did
            # not list it yet when we looked: the name now taken is our own runner.
            self._remove_half_registered(scope, name, what)
            return GitHubError(
                what,
                "the first attempt broke after GitHub registered the runner, and the retry "
                "found the name taken; that runner was removed",
                "Run the job again",
                status=status,
            )
        if status >= 500:
            self._remove_half_registered(scope, name, what)
            return self._fail(response, what, scope=scope)
        raise self._jit_failure(response, scope, body, what)

    def _jit_config(
        self, response: requests.Response, scope: RunnerScope, name: str, what: str
    ) -> JitConfig:
        try:
            data = self._json(response, what)
            encoded = data.get("encoded_jit_config") if isinstance(data, dict) else None
            if isinstance(encoded, str):
                self._masker.add(encoded)
            return self._parse(what, _jit_from, data)
        except GitHubError:
            # Registered, but unusable without its config: remove it rather than leak it.
            self._remove_half_registered(scope, name, what)
            raise

    def _jit_failure(
        self,
        response: requests.Response,
        scope: RunnerScope,
        body: Mapping[str, Any],
        what: str,
    ) -> GitHubError:
        status = response.status_code
        message = github_message(response, self._masker)
        group = body["runner_group_id"]
        if status == 404:
            if scope.kind == "org":
                why = (
                    f"runner group {group} does not exist in {scope}, or its repository "
                    f"access does not admit this repository ({said(message, status)})"
                )
                fix = (
                    "Use the id of an existing runner group (1 is the default group) and allow "
                    "the repository under Organization settings > Actions > Runner groups"
                )
            else:
                why = (
                    f"{scope} has no runner group {group}, or was not found "
                    f"({said(message, status)})"
                )
                fix = "Repository runners use the default group: set the runner group to 1"
            return RunnerGroupNotFoundError(what, why, fix, status=status, github_message=message)
        if _name_taken(response, self._masker):
            return RunnerNameConflictError(
                what,
                f"a runner named '{body['name']}' is already registered ({said(message, status)})",
                f"Runner names must be unique: use another name, or delete the old runner "
                f"under {scope}'s Settings > Actions > Runners",
                status=status,
                github_message=message,
            )
        return self._fail(response, what, scope=scope)

    def _remove_half_registered(self, scope: RunnerScope, name: str, what: str) -> None:
        """Delete every runner named ``name``: the trace of a registration that broke."""
        try:
            for runner in self.list_runners(scope, name=name):
                self.delete_runner(scope, runner.id)
        except ActionError as exc:
            raise GitHubError(
                what,
                "the call broke after GitHub may have registered the runner, and removing "
                f"it failed too ({exc.why or exc.what})",
                f"Delete any runner named '{name}' under {scope}'s Settings > Actions > Runners",
            ) from None

    def _runner_token(
        self,
        scope: RunnerScope,
        endpoint: str,
        operation: ops.ScopedOperation,
        kind: str,
    ) -> RegistrationToken:
        what = f"Creating {kind} for {scope}"
        response = self._post_token(
            f"{scope.path}/actions/runners/{endpoint}", operation=operation.of(scope)
        )
        if response.status_code not in (200, 201):
            raise self._fail(response, what, scope=scope)
        data = self._json(response, what)
        token = data.get("token") if isinstance(data, dict) else None
        if isinstance(token, str):
            self._masker.add(token)
        return self._parse(what, parse_registration_token, data)


# --- parsing helpers --------------------------------------------------------------


def _field(data: Any, key: str, kind: type[T]) -> T:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedResponseError(f"the field '{key}' is missing or not a {kind.__name__}")
    return value


def _installation_token(data: Any, installation_id: int, slug: Any) -> InstallationToken:
    permissions = data.get("permissions") if isinstance(data, dict) else None
    repositories = data.get("repositories") if isinstance(data, dict) else None
    return InstallationToken(
        token=_field(data, "token", str),
        expires_at=parse_time(data.get("expires_at"), "expires_at"),
        installation_id=installation_id,
        permissions={str(k): str(v) for k, v in (permissions or {}).items()},
        repositories=(
            tuple(str(r.get("name")) for r in repositories if isinstance(r, dict))
            if isinstance(repositories, list)
            else None
        ),
        app_slug=slug if isinstance(slug, str) else None,
    )


def _latest_release(data: Any) -> RunnerRelease:
    return parse_release(data, release_tag(data))


def _jit_from(data: Any) -> JitConfig:
    runner = parse_runner(data.get("runner") if isinstance(data, dict) else None)
    return JitConfig(runner=runner, encoded_jit_config=_field(data, "encoded_jit_config", str))


def _runner_page(data: Any) -> tuple[list[Runner], int | None]:
    items = data.get("runners") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise MalformedResponseError("the field 'runners' is missing or not a list")
    total = data.get("total_count")
    return [parse_runner(item) for item in items], total if isinstance(total, int) else None


def _name_taken(response: requests.Response, masker: Masker) -> bool:
    status = response.status_code
    return status == 409 or (
        status == 422 and "already exists" in github_message(response, masker).lower()
    )


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _web_url(api_url: str) -> str:
    """github.com for the public API; the server itself for GitHub Enterprise Server."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return "https://github.com"
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _never_online(
    scope: RunnerScope,
    states: Mapping[int, str],
    seen: Mapping[int, Runner],
    online: Mapping[int, Runner],
    waited: float,
) -> RunnerNeverOnlineError:
    details = []
    for runner_id, state in states.items():
        label = f"runner {runner_id}" + (f" ({seen[runner_id].name})" if runner_id in seen else "")
        if state in ("online", "busy"):
            details.append(f"{label} came online")
        elif state == "disappeared":
            details.append(
                f"{label} disappeared: GitHub no longer knows it and it was never seen "
                "online (it was deleted, or it failed and was un-registered)"
            )
        else:
            details.append(
                f"{label} registered but never came online (last status {state}): the pod "
                "could not reach GitHub or the runner failed to start"
            )
    missing = len(states) - len(online)
    return RunnerNeverOnlineError(
        f"{missing} of {len(states)} runners on {scope} did not come online "
        f"(waited {waited:.0f} s)",
        "; ".join(details),
        "Check the runner's log on the pod (its _diag folder) and that the pod can reach "
        "GitHub; if the runner download is slow, allow more time",
        states=states,
        online=online,
    )
