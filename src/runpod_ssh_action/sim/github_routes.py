"""The stand-in GitHub's URL map, and the operation name each route is known by.

Operation names match the ones in GitHub's REST docs (and octokit), so the client's
logs and the stand-in's fault injection speak of the same thing. Calls made by the
stand-in runner are ``runner/...``; the runner release is ``release/...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE = r"(?:/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)|/orgs/(?P<org>[^/]+))"
_RUNNERS = _SCOPE + r"/actions/runners"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    # "{for}" becomes "for-repo"/"for-org" and "{from}" "from-repo"/"from-org".
    operation: str
    action: str
    # Who may call: "app" (JWT), "installation" (installation token), "token"
    # (installation token or PAT), "runner" (the stand-in runner) or "public".
    auth: str

    def operation_for(self, params: dict[str, str]) -> str:
        kind = "org" if params.get("org") else "repo"
        return self.operation.replace("{for}", f"for-{kind}").replace("{from}", f"from-{kind}")


def _route(method: str, pattern: str, operation: str, action: str, auth: str) -> Route:
    return Route(method, re.compile(pattern + r"/?\Z"), operation, action, auth)


ROUTES = (
    _route(
        "GET",
        r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation",
        "apps/get-repo-installation",
        "get_installation",
        "app",
    ),
    _route(
        "GET",
        r"/orgs/(?P<org>[^/]+)/installation",
        "apps/get-org-installation",
        "get_installation",
        "app",
    ),
    _route(
        "POST",
        r"/app/installations/(?P<installation_id>\d+)/access_tokens",
        "apps/create-installation-access-token",
        "create_token",
        "app",
    ),
    _route(
        "DELETE",
        r"/installation/token",
        "apps/revoke-installation-access-token",
        "revoke_token",
        "installation",
    ),
    _route(
        "POST",
        _RUNNERS + r"/generate-jitconfig",
        "actions/generate-runner-jitconfig-{for}",
        "generate_jitconfig",
        "token",
    ),
    _route(
        "POST",
        _RUNNERS + r"/registration-token",
        "actions/create-registration-token-{for}",
        "registration_token",
        "token",
    ),
    _route(
        "POST",
        _RUNNERS + r"/remove-token",
        "actions/create-remove-token-{for}",
        "remove_token",
        "token",
    ),
    _route(
        "GET",
        _RUNNERS,
        "actions/list-self-hosted-runners-{for}",
        "list_runners",
        "token",
    ),
    _route(
        "GET",
        _RUNNERS + r"/(?P<runner_id>\d+)",
        "actions/get-self-hosted-runner-{for}",
        "get_runner",
        "token",
    ),
    _route(
        "DELETE",
        _RUNNERS + r"/(?P<runner_id>\d+)",
        "actions/delete-self-hosted-runner-{from}",
        "delete_runner",
        "token",
    ),
    # Runner groups exist only for organizations (and enterprises).
    _route(
        "GET",
        r"/orgs/(?P<org>[^/]+)/actions/runner-groups/(?P<runner_group_id>\d+)",
        "actions/get-self-hosted-runner-group-for-org",
        "get_runner_group",
        "token",
    ),
    _route(
        "GET",
        r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)",
        "actions/get-workflow-run",
        "get_workflow_run",
        "token",
    ),
    # The runner's own releases, read like any public repository's.
    _route(
        "GET",
        r"/repos/actions/runner/releases/latest",
        "repos/get-latest-release",
        "get_latest_release",
        "token",
    ),
    _route(
        "GET",
        r"/repos/actions/runner/releases/tags/(?P<tag>[^/]+)",
        "repos/get-release-by-tag",
        "get_release_by_tag",
        "token",
    ),
    _route("POST", r"/_sim/runner/register", "runner/register", "register", "public"),
    _route("POST", r"/_sim/runner/remove", "runner/remove", "remove", "public"),
    _route(
        "POST",
        r"/_sim/runner/(?P<runner_id>\d+)/connect",
        "runner/connect",
        "connect",
        "runner",
    ),
    _route(
        "POST",
        r"/_sim/runner/(?P<runner_id>\d+)/heartbeat",
        "runner/heartbeat",
        "heartbeat",
        "runner",
    ),
    _route(
        "POST",
        r"/_sim/runner/(?P<runner_id>\d+)/disconnect",
        "runner/disconnect",
        "disconnect",
        "runner",
    ),
    _route("GET", r"/_sim/runner/(?P<runner_id>\d+)/job", "runner/poll", "poll", "runner"),
    _route(
        "POST",
        r"/_sim/runner/(?P<runner_id>\d+)/jobs/(?P<job_id>[^/]+)/result",
        "runner/complete",
        "complete",
        "runner",
    ),
    # Where github.com serves release assets; it redirects to a storage host, and so
    # does the stand-in, so a download that does not follow redirects fails here too.
    _route(
        "GET",
        r"/actions/runner/releases/download/v(?P<version>[^/]+)/(?P<file>[^/]+)",
        "release/download",
        "release_download",
        "public",
    ),
    _route(
        "GET", r"/_sim/release-assets/(?P<file>[^/]+)", "release/asset", "release_asset", "public"
    ),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    path = path.split("?", 1)[0]
    for route in ROUTES:
        if route.method != method.upper():
            continue
        found = route.pattern.match(path)
        if found is not None:
            params = {key: value for key, value in found.groupdict().items() if value}
            return route, params
    return None
