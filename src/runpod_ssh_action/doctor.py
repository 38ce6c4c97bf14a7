"""``runpod-ssh-action doctor``: check a real set-up without renting anything.

A checklist, in the order a start needs things: the RunPod key, each GPU type asked
for, the GitHub credentials and what they may do, the runner release, and where the
requests go. Each row is one real call (or says why it was skipped), a failing row
carries one fix, and the command exits 1 when any row fails. Nothing here creates a
pod or registers a runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from requests.utils import get_environ_proxies

from . import summary
from .capacity import Wants, plan
from .context import Context
from .errors import ActionError
from .github import GitHubClient
from .runpod import GpuType
from .settings import Settings
from .transport import bare_url

OK, WARN, FAIL, SKIPPED = "ok", "warn", "FAIL", "skipped"
GITHUB_CHECKS = ("GitHub credentials", "Runner permission", "Runner group", "Runner release")


@dataclass(frozen=True)
class Row:
    check: str
    result: str
    detail: str
    fix: str = ""


def doctor(ctx: Context) -> int:
    rows = [*runpod_rows(ctx), *github_rows(ctx), *endpoint_rows(ctx.settings)]
    report(ctx, rows)
    return 1 if any(row.result == FAIL for row in rows) else 0


# --- RunPod ------------------------------------------------------------------------


def runpod_rows(ctx: Context) -> Iterator[Row]:
    runpod, settings = ctx.work.runpod, ctx.settings
    gpu_checks = [f"GPU {gpu}" for gpu in settings.gpu_types]
    try:
        account = runpod.myself()
    except ActionError as exc:
        yield failed("RunPod API key", exc)
        yield from (Row(check, SKIPPED, "the RunPod API key check failed") for check in gpu_checks)
        return
    yield Row("RunPod API key", OK, f"account {account.id}")
    try:
        # Fresh prices: the cache a start may use is up to an hour old.
        offers = runpod.gpu_types(settings.gpu_count, settings.gpu_types, use_cache=False)
    except ActionError as exc:
        yield from (failed(check, exc) for check in gpu_checks)
        return
    by_id = {offer.id: offer for offer in offers}
    for gpu, check in zip(settings.gpu_types, gpu_checks, strict=True):
        yield gpu_row(check, settings, by_id.get(gpu), runpod.spot_withdrawn)


def gpu_row(
    check: str, settings: Settings, offer: GpuType | None, spot_withdrawn: str | None
) -> Row:
    if offer is None:
        return Row(
            check,
            FAIL,
            "RunPod lists no GPU type with this id",
            "Run `runpod-ssh-action gpus` and copy an id from it into gpu-types",
        )
    spot = f"spot from ${offer.minimum_bid_price:.3f}/h" if offer.spot_available else "no spot"
    on_demand = (
        f"on-demand ${offer.uninterruptable_price:.3f}/h"
        if offer.uninterruptable_price
        else "no on-demand"
    )
    detail = (
        f"{offer.memory_in_gb or '?'} GB, {on_demand}, {spot} per GPU, "
        f"stock {offer.stock_status or 'none'}"
    )
    # The same planning a start does, for this one type: what it would try, at what price.
    try:
        rungs, _ = plan(Wants.of(settings, (offer.id,), spot_withdrawn), [offer])
    except ActionError as exc:
        return Row(check, FAIL, f"{detail}; {exc.why}", exc.fix)
    tries = ", then ".join(f"{r.capacity} ${r.price_per_hour or 0:.3f}/h" for r in rungs)
    if not offer.stock_status:
        # Listed stock is no promise either way, so this only warns.
        return Row(check, WARN, f"{detail}; RunPod lists no free stock now; would try {tries}")
    return Row(check, OK, f"{detail}; would try {tries}")


# --- GitHub ------------------------------------------------------------------------


def github_rows(ctx: Context) -> list[Row]:
    github, scope, settings = ctx.work.github, ctx.scope, ctx.settings
    if github is None or scope is None:
        why = "no github-app-id or github-token given (fine for runner: false)"
        return [Row(check, SKIPPED, why) for check in GITHUB_CHECKS]
    try:
        if settings.uses_app:
            key = settings.app_private_key
            assert settings.github_app_id and key is not None
            token = github.login_app(settings.github_app_id, key, scope)
            who = f"GitHub App {settings.github_app_id}, installation {token.installation_id}"
        else:
            assert settings.github_token is not None
            github.login_token(settings.github_token.get_secret_value())
            who = "a personal access token (the next row tries it)"
    except ActionError as exc:
        skipped = [
            Row(check, SKIPPED, "the GitHub credentials were refused")
            for check in GITHUB_CHECKS[1:]
        ]
        return [failed(GITHUB_CHECKS[0], exc), *skipped]
    rows = [Row(GITHUB_CHECKS[0], OK, f"{who} on {scope}")]
    try:
        github.check_runner_access(scope)
        rows.append(Row(GITHUB_CHECKS[1], OK, f"may manage the runners of {scope}"))
    except ActionError as exc:
        rows.append(failed(GITHUB_CHECKS[1], exc))
    rows.append(group_row(settings))
    rows.append(release_row(github, settings))
    try:
        github.revoke_installation_token()
    except ActionError as exc:
        ctx.workflow.warning(f"The installation token expires within the hour: {exc.sentence()}")
    return rows


def group_row(settings: Settings) -> Row:
    group = settings.runner_group_id
    if settings.runner_scope == "org":
        return Row(
            GITHUB_CHECKS[2],
            WARN,
            f"runner group {group} is not looked up; a start fails early if the "
            "organization has no such group or it does not admit this repository",
        )
    if group != 1:
        # Runner groups belong to organizations and enterprises (GitHub's REST API has
        # runner-group endpoints only under /orgs and /enterprises): a repository's
        # runners are in the default group.
        return Row(
            GITHUB_CHECKS[2],
            FAIL,
            f"runner-group-id is {group}, but repository runners use the default group",
            "Set runner-group-id to 1, or runner-scope: org to use an organization's group",
        )
    return Row(GITHUB_CHECKS[2], OK, "the default group (1)")


def release_row(github: GitHubClient, settings: Settings) -> Row:
    check = GITHUB_CHECKS[3]
    if settings.runner_download_url:
        return Row(check, OK, "a custom runner-download-url with its runner-sha256; not looked up")
    try:
        release = github.runner_release(settings.runner_version)
    except ActionError as exc:
        return failed(check, exc)
    detail = f"v{release.version} from {release.url}, SHA-256 {release.sha256}"
    if settings.runner_sha256 and settings.runner_sha256.lower() != release.sha256:
        return Row(
            check,
            FAIL,
            f"{detail}, but runner-sha256 is {settings.runner_sha256}: the pods would "
            "refuse the tarball",
            "Set runner-sha256 to the release's SHA-256, or leave it empty",
        )
    if release.outdated:
        # GitHub stops giving jobs to a runner about 30 days after a newer release
        # (actions/runner #4305, #4392), and the pods' runners never update themselves.
        return Row(
            check,
            WARN,
            f"{detail}; v{release.newest} is out, and GitHub stops giving jobs to older "
            "runners about 30 days after a release",
            f"Set runner-version to latest or {release.newest}",
        )
    return Row(check, OK, detail)


# --- where requests go -------------------------------------------------------------


def endpoint_rows(settings: Settings) -> list[Row]:
    return [
        endpoint_row("RunPod endpoint", settings.runpod_api_url, settings.ca_bundle),
        endpoint_row("GitHub endpoint", settings.github_api_url, settings.ca_bundle),
    ]


def endpoint_row(check: str, url: str, ca_bundle: str | None) -> Row:
    # requests, under every client here, takes proxies from the environment like this.
    proxies = get_environ_proxies(url)
    proxy = proxies.get(urlsplit(url).scheme) or proxies.get("all")
    route = f"through the proxy {bare_url(proxy)}" if proxy else "no proxy"
    trust = f"trusting the CA in {ca_bundle}" if ca_bundle else "the system's CAs"
    return Row(check, OK, f"{url}, {route}, {trust}")


# --- the report --------------------------------------------------------------------


def failed(check: str, error: ActionError) -> Row:
    return Row(check, FAIL, error.why or error.what, error.fix)


def report(ctx: Context, rows: list[Row]) -> None:
    width = max(len(row.check) for row in rows) + 2
    ctx.workflow.info(f"{'check'.ljust(width)}{'result'.ljust(9)}detail")
    for row in rows:
        ctx.workflow.info(f"{row.check.ljust(width)}{row.result.ljust(9)}{row.detail}")
        if row.fix:
            ctx.workflow.info(f"{' ' * (width + 9)}fix: {row.fix}")
    failures = sum(row.result == FAIL for row in rows)
    verdict = f"{failures} check(s) failed" if failures else "every check passed"
    ctx.workflow.info(f"doctor: {verdict}; nothing was rented.")
    ctx.workflow.summary(
        f"### runpod-ssh-action doctor: {verdict}\n\n"
        + summary.table(
            ("check", "result", "detail", "fix"),
            [(row.check, row.result, row.detail, row.fix) for row in rows],
        )
    )
