"""Names of the GitHub REST operations, as in GitHub's OpenAPI description.

They label every log line and metric (``operation=``), and the stand-in GitHub uses the
same names to pick where to inject faults, so they are the contract between the two.
"""

from __future__ import annotations

from typing import NamedTuple

from .models import RunnerScope

GET_REPO_INSTALLATION = "apps/get-repo-installation"
GET_ORG_INSTALLATION = "apps/get-org-installation"
# Operation names, not credentials; the linter only sees "TOKEN" in them.
CREATE_INSTALLATION_TOKEN = "apps/create-installation-access-token"  # noqa: S105
REVOKE_INSTALLATION_TOKEN = "apps/revoke-installation-access-token"  # noqa: S105
GET_WORKFLOW_RUN = "actions/get-workflow-run"
GET_LATEST_RELEASE = "repos/get-latest-release"
GET_RELEASE_BY_TAG = "repos/get-release-by-tag"
# Runner groups exist only for organizations (and enterprises).
GET_ORG_RUNNER_GROUP = "actions/get-self-hosted-runner-group-for-org"


class ScopedOperation(NamedTuple):
    """One endpoint that exists once for repositories and once for organizations."""

    repo: str
    org: str

    def of(self, scope: RunnerScope) -> str:
        return self.repo if scope.kind == "repo" else self.org


GET_INSTALLATION = ScopedOperation(GET_REPO_INSTALLATION, GET_ORG_INSTALLATION)
GENERATE_JITCONFIG = ScopedOperation(
    "actions/generate-runner-jitconfig-for-repo", "actions/generate-runner-jitconfig-for-org"
)
CREATE_REGISTRATION_TOKEN = ScopedOperation(
    "actions/create-registration-token-for-repo", "actions/create-registration-token-for-org"
)
CREATE_REMOVE_TOKEN = ScopedOperation(
    "actions/create-remove-token-for-repo", "actions/create-remove-token-for-org"
)
LIST_RUNNERS = ScopedOperation(
    "actions/list-self-hosted-runners-for-repo", "actions/list-self-hosted-runners-for-org"
)
GET_RUNNER = ScopedOperation(
    "actions/get-self-hosted-runner-for-repo", "actions/get-self-hosted-runner-for-org"
)
DELETE_RUNNER = ScopedOperation(
    "actions/delete-self-hosted-runner-from-repo", "actions/delete-self-hosted-runner-from-org"
)

ALL_OPERATIONS: frozenset[str] = frozenset(
    {
        CREATE_INSTALLATION_TOKEN,
        REVOKE_INSTALLATION_TOKEN,
        GET_WORKFLOW_RUN,
        GET_LATEST_RELEASE,
        GET_RELEASE_BY_TAG,
        GET_ORG_RUNNER_GROUP,
    }
    | {
        name
        for scoped in (
            GET_INSTALLATION,
            GENERATE_JITCONFIG,
            CREATE_REGISTRATION_TOKEN,
            CREATE_REMOVE_TOKEN,
            LIST_RUNNERS,
            GET_RUNNER,
            DELETE_RUNNER,
        )
        for name in scoped
    }
)
