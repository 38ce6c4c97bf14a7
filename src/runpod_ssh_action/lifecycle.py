"""The action's story: start, stop, post, reap.

Each reads top to bottom the way a user would explain it. The pieces live in the
modules named after what they talk to: ``runpod``, ``github``, ``ssh``, ``bootstrap``,
``capacity``, ``bringup``, ``teardown``, ``workflow``.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from . import ssh, summary
from .bringup import Ready, Rented, bring_up
from .capacity import Rung, Wants, plan, rent
from .context import Clients, Context
from .errors import ActionError
from .github import Runner
from .ledger import parse_ids
from .naming import parse_pod_name, pod_name, repo_prefix, run_prefix
from .runpod import PodSpec
from .settings import Settings
from .teardown import Ended, asked_twice, find_pods, tear_down
from .workflow import Workflow

CONTAINER_TEMP = "/github/runner_temp"


def run(command: str, settings: Settings, workflow: Workflow, cancelled: threading.Event) -> int:
    ctx = Context.create(settings, workflow, cancelled)
    try:
        if command == "start":
            return _guarded_start(ctx, cancelled)
        steps = {"stop": stop, "post": post, "reap": reap, "gpus": gpus, "status": status}
        return steps[command](ctx)
    except ActionError as exc:
        _report_failure(ctx, exc, command)
        return 1
    finally:
        ctx.close()


# --- start -----------------------------------------------------------------------


def start(ctx: Context) -> None:
    authenticate(ctx)
    key = _make_key(ctx)
    rented = rent_pods(ctx, key)
    ready = bring_up(ctx, rented, ctx.label, ctx.workdir / "id_ed25519")
    publish(ctx, ready)


def authenticate(ctx: Context) -> None:
    """Check both sets of credentials before anything costs money."""
    with ctx.workflow.group("Checking credentials"):
        account = ctx.work.runpod.myself()
        ctx.workflow.info(f"RunPod account {account.id} accepted the API key.")
        if ctx.settings.runner or ctx.settings.mode != "start":
            login_github(ctx)


def login_github(ctx: Context) -> None:
    github, scope, settings = ctx.work.github, ctx.scope, ctx.settings
    if github is None or scope is None:
        return
    if settings.uses_app:
        # Parsed once, when the input was checked: each parse costs RSA's key checks.
        key = settings.app_private_key
        assert settings.github_app_id and key is not None
        # reap reads workflow runs, which needs `actions: read` on top of the runner
        # permission; every other mode gets a token narrowed to that one permission.
        extra = {"actions": "read"} if settings.mode == "reap" else None
        token = github.login_app(settings.github_app_id, key, scope, extra_permissions=extra)
        ctx.installation_token = token.token
        if ctx.teardown.github:
            ctx.teardown.github.login_installation_token(token.token)
    else:
        assert settings.github_token
        secret = settings.github_token.get_secret_value()
        github.login_token(secret)
        if ctx.teardown.github:
            ctx.teardown.github.login_token(secret)
    github.check_runner_access(scope)
    ctx.workflow.info(f"GitHub credentials can manage runners of {scope.path}.")


def rent_pods(ctx: Context, key: ssh.KeyPair) -> list[Rented]:
    settings = ctx.settings
    with ctx.workflow.group(f"Renting {settings.count} pod(s)"):
        wants = Wants(
            gpu_types=settings.gpu_types,
            gpu_count=settings.gpu_count,
            cloud_type=settings.cloud_type,
            spot=settings.capacity == "spot",
            on_demand_fallback=settings.on_demand_fallback,
            bid_per_gpu=settings.bid_per_gpu,
            max_price_per_hour=settings.max_price_per_hour,
        )
        offers = ctx.work.runpod.gpu_types(settings.gpu_count, settings.gpu_types)
        rungs, skipped = plan(wants, offers)
        ctx.attempts.extend(skipped)
        terminate_after = ctx.clock.now() + timedelta(seconds=settings.max_lifetime_seconds)
        public_keys = "\n".join(k for k in (key.public_openssh, settings.ssh_public_key) if k)

        def spec_for(index: int) -> Callable[[Rung], PodSpec]:
            def spec(rung: Rung) -> PodSpec:
                return PodSpec(
                    name=pod_name(ctx.tag, index),
                    image_name=settings.image,
                    gpu_type_id=rung.gpu_type,
                    gpu_count=settings.gpu_count,
                    cloud_type=settings.cloud_type,
                    container_disk_in_gb=settings.container_disk_gb,
                    volume_in_gb=settings.volume_gb,
                    volume_mount_path="/workspace" if settings.volume_gb else None,
                    ports="22/tcp",
                    env={**settings.env, "PUBLIC_KEY": public_keys},
                    start_ssh=True,
                    support_public_ip=True,
                    data_center_id=settings.data_center_id,
                    min_vcpu_count=settings.min_vcpu,
                    min_memory_in_gb=settings.min_memory_gb,
                    terminate_after=terminate_after,
                )

            return spec

        def adopt(pod_id: str) -> bool:
            ctx.timeline.mark(pod_id, "created")
            return ctx.ledger.add_pod(pod_id)

        def one(index: int) -> Rented:
            pod, rung = rent(
                ctx.work.runpod,
                spec_for(index),
                rungs,
                index,
                max_price_per_hour=settings.max_price_per_hour,
                record=ctx.attempts.append,
                adopt=lambda pod: adopt(pod.id),
            )
            ctx.workflow.info(f"Pod {index}: {pod.id} ({rung.gpu_type}, {rung.capacity}).")
            return Rented(index, pod, rung)

        with ThreadPoolExecutor(
            max_workers=min(8, settings.count), thread_name_prefix="rent"
        ) as pool:
            return list(pool.map(one, range(settings.count)))


def publish(ctx: Context, ready: list[Ready]) -> None:
    settings, first = ctx.settings, ready[0]
    known_hosts = ctx.workdir / "known_hosts"
    known_hosts.write_text("".join(f"{r.host_keys.strip()}\n" for r in ready), encoding="utf-8")
    ctx.workflow.hand_over(ctx.workdir.parent, ctx.workdir, ctx.workdir / "id_ed25519", known_hosts)
    command = ssh.ssh_command(
        ssh.SshTarget(
            first.target.host,
            first.target.port,
            first.target.user,
            first.target.key_path,
            known_hosts,
        )
    )
    pods = [
        {
            "id": r.pod.id,
            "ssh-host": r.target.host,
            "ssh-port": r.target.port,
            "gpu-type": r.rung.gpu_type,
            "capacity": r.rung.capacity,
            "cost-per-hour": r.pod.cost_per_hr,
            "runner-name": r.runner.name if r.runner else "",
            "runner-id": r.runner.id if r.runner else None,
        }
        for r in ready
    ]
    outputs = {
        "pod-id": ",".join(r.pod.id for r in ready),
        "ssh-host": first.target.host,
        "ssh-port": str(first.target.port),
        "ssh-user": settings.ssh_user,
        "ssh-command": _host_view(ctx, command),
        "ssh-key-path": _host_view(ctx, str(first.target.key_path)),
        "ssh-known-hosts": known_hosts.read_text(encoding="utf-8"),
        "runner-label": ctx.label if settings.runner else "",
        "runner-name": ",".join(r.runner.name for r in ready if r.runner),
        "runner-id": ",".join(str(r.runner.id) for r in ready if r.runner),
        "gpu-type": ",".join(dict.fromkeys(r.rung.gpu_type for r in ready)),
        "capacity": ",".join(dict.fromkeys(r.rung.capacity for r in ready)),
        "cost-per-hour": f"{sum(r.pod.cost_per_hr or 0 for r in ready):.4f}",
        "pods": json.dumps(pods),
    }
    for name, value in outputs.items():
        ctx.workflow.set_output(name, value)
    ctx.workflow.save_state("outcome", "success")
    _revoke_token(ctx)
    ctx.workflow.summary(
        "## 🚀 RunPod pods ready\n\n"
        + summary.pods(
            [
                (
                    r.pod.id,
                    f"{r.pod.gpu_display_name or r.rung.gpu_type}  x{settings.gpu_count}",
                    r.rung.capacity,
                    r.pod.location or settings.cloud_type,
                    f"${r.pod.cost_per_hr or 0:.3f}",
                    f"{r.target.host}:{r.target.port}",
                    r.runner.name if r.runner else "SSH only",
                )
                for r in ready
            ]
        )
        + f"\nSSH: `{outputs['ssh-command']}`\n\n"
        + (f"Runner label: `{ctx.label}`\n\n" if settings.runner else "")
        + summary.attempts(ctx.attempts)
        + "\n"
        + summary.phases(ctx.timeline, [r.pod.id for r in ready])
        + "\n"
        + summary.api_calls(ctx.metrics.snapshot())
    )
    ctx.workflow.notice(
        f"{len(ready)} pod(s) ready: {outputs['pod-id']}"
        + (f"; runners online with label {ctx.label}" if settings.runner else "")
    )


def _guarded_start(ctx: Context, cancelled: threading.Event) -> int:
    """Run ``start`` on a worker thread so a cancel signal can begin teardown at once,
    even while the worker is blocked in a request or an SSH session."""
    ctx.workflow.save_state("outcome", "started")
    ctx.workflow.save_state("tag", ctx.tag)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            start(ctx)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=work, name="start", daemon=True)
    worker.start()
    while worker.is_alive() and not cancelled.wait(0.1):
        pass
    if cancelled.is_set() and worker.is_alive():
        ctx.workflow.warning("The step was cancelled: terminating the pods it started.")
        _end_start(ctx, "cancelled")
        return 1
    if failure:
        error = failure[0]
        if cancelled.is_set():
            ctx.workflow.warning("The step was cancelled: terminating the pods it started.")
            _end_start(ctx, "cancelled")
            return 1
        if not isinstance(error, ActionError):
            ctx.workflow.debug(f"Unexpected {type(error).__name__}: {error}")
            error = ActionError(
                "The start failed unexpectedly",
                f"{type(error).__name__}: {error}",
                "Re-run with debug logging and report it if it repeats",
            )
        _report_failure(ctx, error, "start")
        _end_start(ctx, "failed")
        return 1
    return 0


def _end_start(ctx: Context, outcome: str) -> None:
    ctx.workflow.save_state("outcome", outcome)
    pods, runners = ctx.ledger.close()
    with ctx.workflow.group("Tearing down what this step started"):
        ended = tear_down(
            ctx, ctx.teardown, pods, runners, pod_prefix=ctx.tag + "-", runner_prefix=ctx.tag + "-"
        )
    _revoke_token(ctx, clients_for_teardown=True)
    ctx.workflow.summary(summary.costs([_cost_row(e) for e in ended]))


# --- post, stop, reap ------------------------------------------------------------


def post(ctx: Context) -> int:
    settings, workflow = ctx.settings, ctx.workflow
    if settings.mode != "start":
        return 0
    outcome = workflow.state("outcome")
    if settings.runner and outcome == "success":
        workflow.info(
            "The pods stay up for their GPU jobs; the stop job, or each pod's own watchdog "
            "when its job is done, ends them."
        )
        return 0
    pods = parse_ids(workflow.state("pods"))
    runners = [int(r) for r in parse_ids(workflow.state("runners"))]
    # An SSH-only start registered no runner, so GitHub is not asked about any.
    github_down = _login_for_cleanup(ctx) if settings.runner else None
    clients = ctx.work if settings.runner and github_down is None else _runpod_only(ctx)
    with workflow.group("Tearing down"):
        ended = tear_down(
            ctx, clients, pods, runners, pod_prefix=ctx.tag + "-", runner_prefix=ctx.tag + "-"
        )
    _revoke_token(ctx)
    shutil.rmtree(ctx.workdir / "keys", ignore_errors=True)
    (ctx.workdir / "id_ed25519").unlink(missing_ok=True)
    workflow.summary(summary.costs([_cost_row(e) for e in ended]))
    return 1 if any(e.outcome.startswith("FAILED") for e in ended) else 0


def stop(ctx: Context) -> int:
    settings = ctx.settings
    # Pods cost money and runners do not: GitHub being down must not keep a pod alive.
    github_down = _login_for_cleanup(ctx)
    clients = ctx.work if github_down is None else _runpod_only(ctx)
    by_name = (
        None if settings.pod_id else run_prefix(settings.github_repository, settings.github_run_id)
    )
    with ctx.workflow.group("Terminating pods and deleting runners"):
        pod_ids = list(settings.pod_id)
        if by_name is not None:
            # The listing is the only way to the run's pods here, so a failed listing
            # fails the step instead of passing for "nothing to terminate".
            pod_ids = find_pods(ctx, clients, by_name)
        ended = tear_down(ctx, clients, pod_ids, [], pod_prefix=None, runner_prefix=by_name)
        if settings.pod_id and github_down is None:
            _delete_runners_of(ctx, ended)
    _revoke_token(ctx)
    ctx.workflow.summary(
        "## 🛑 RunPod pods stopped\n\n"
        + summary.costs([_cost_row(e) for e in ended])
        + "\n"
        + summary.api_calls(ctx.metrics.snapshot())
    )
    if not ended:
        ctx.workflow.notice("No pods of this run were found: nothing to terminate.")
    if github_down is not None:
        raise _runners_not_deleted(github_down)
    return 1 if any(e.outcome.startswith("FAILED") for e in ended) else 0


def reap(ctx: Context) -> int:
    settings, workflow = ctx.settings, ctx.workflow
    # Without GitHub, reap still ends what is past max-age-minutes.
    github_down = _login_for_cleanup(ctx)
    prefix = repo_prefix(settings.github_repository)
    runs: dict[str, str] = {}
    doomed: list[tuple[str, str]] = []
    for pod in ctx.work.runpod.list_pods(prefix):
        parsed = parse_pod_name(pod.name or "")
        if parsed is None:
            continue
        reason = None
        if github_down is None:
            try:
                reason = _run_finished(ctx, parsed.run_id, runs)
            except ActionError as exc:
                workflow.warning(f"Reaping by age only: {exc.sentence()}")
                github_down = exc
        age = pod.uptime_seconds
        if reason is None and age is not None and age > settings.max_age_seconds:
            reason = f"up {age / 60:.0f} min, past max-age-minutes {settings.max_age_minutes}"
        if reason:
            doomed.append((pod.id, reason))
    runners = []
    if github_down is None and ctx.scope is not None and ctx.work.github is not None:
        # GitHub shows a runner online for a while after its pod is gone; one whose
        # run has completed serves no job any more (its label is unique to that run),
        # so it goes too, whatever GitHub shows.
        try:
            runners = [
                r
                for r in ctx.work.github.list_runners(ctx.scope)
                if r.name.startswith(prefix)
                and (r.status == "offline" or _runner_done(ctx, r, runs))
            ]
        except ActionError as exc:
            workflow.warning(f"Runners are not reaped this time: {exc.sentence()}")
            github_down = exc
    verb = "Would reap" if settings.dry_run else "Reaping"
    rows = [(pod_id, reason) for pod_id, reason in doomed]
    workflow.summary(
        f"## 🧹 {verb} {len(doomed)} pod(s) and {len(runners)} runner(s)\n\n"
        + summary.table(("pod", "reason"), rows)
    )
    for pod_id, reason in doomed:
        workflow.info(f"{verb} {pod_id}: {reason}.")
    if settings.dry_run:
        return 0
    clients = ctx.work if github_down is None else _runpod_only(ctx)
    ended = tear_down(
        ctx,
        clients,
        [p for p, _ in doomed],
        [r.id for r in runners],
        pod_prefix=None,
        runner_prefix=None,
    )
    workflow.summary(summary.costs([_cost_row(e) for e in ended]))
    _revoke_token(ctx)
    if github_down is not None:
        raise _runners_not_deleted(github_down)
    return 1 if any(e.outcome.startswith("FAILED") for e in ended) else 0


def gpus(ctx: Context) -> int:
    offers = ctx.work.runpod.gpu_types(ctx.settings.gpu_count, None)
    for offer in sorted(offers, key=lambda o: o.id):
        ctx.workflow.info(
            f"{offer.id}: {offer.memory_in_gb} GB, on-demand "
            f"{offer.uninterruptable_price or '-'} USD/h, spot from "
            f"{offer.minimum_bid_price or '-'} USD/h, stock {offer.stock_status or '-'}"
        )
    return 0


def status(ctx: Context) -> int:
    for pod in ctx.work.runpod.list_pods(repo_prefix(ctx.settings.github_repository)):
        endpoint = pod.ssh_endpoint()
        where = f"{endpoint.host}:{endpoint.port}" if endpoint else "booting"
        ctx.workflow.info(
            f"{pod.id} {pod.name} {pod.desired_status} {where} ${pod.cost_per_hr or 0:.3f}/h"
        )
    return 0


# --- small pieces ----------------------------------------------------------------


def _make_key(ctx: Context) -> ssh.KeyPair:
    """An ephemeral key for the action's own login; a user's ssh-public-key is
    authorised beside it, never instead of it, since the action must log in too."""
    key = ssh.generate_keypair(f"runpod-ssh-action {ctx.tag}")
    ctx.workflow.masker.add(key.private_openssh)
    ssh.write_private_key(ctx.workdir, "id_ed25519", key)
    return key


def _delete_runners_of(ctx: Context, ended: list[Ended]) -> None:
    """Runners are named after their pods, so a stop given pod ids finds them."""
    github, scope = ctx.work.github, ctx.scope
    if github is None or scope is None:
        return
    names = {row.name for row in ended if row.name}
    for runner in github.list_runners(scope):
        if runner.name in names:
            github.delete_runner(scope, runner.id)


def _run_finished(ctx: Context, run_id: str, cache: dict[str, str]) -> str | None:
    if ctx.work.github is None:
        return None
    if run_id not in cache:
        found = ctx.work.github.workflow_run(
            ctx.settings.github_owner, ctx.settings.github_repo, int(run_id)
        )
        cache[run_id] = (
            ""
            if found is None or found.status != "completed"
            else f"workflow run {run_id} has completed ({found.conclusion})"
        )
    return cache[run_id] or None


def _login_for_cleanup(ctx: Context) -> ActionError | None:
    """Log in to GitHub for a step that ends things. The failure, if any, is returned,
    not raised, so the step still ends its pods, which need only RunPod."""
    if ctx.scope is None:
        return None
    try:
        asked_twice(partial(login_github, ctx))
    except ActionError as exc:
        ctx.workflow.warning(f"Runners cannot be deleted now: {exc.sentence()}")
        return exc
    return None


def _runpod_only(ctx: Context) -> Clients:
    return Clients(ctx.work.runpod, None)


def _runners_not_deleted(cause: ActionError) -> ActionError:
    return ActionError(
        "The runners were not deleted",
        f"GitHub could not be used ({cause.why or cause.what}); the pods were dealt with "
        "all the same",
        "They are ephemeral and go offline with their pods; run mode: reap once GitHub "
        "answers again to remove them",
        code="RUNNERS_LEFT",
    )


def _runner_done(ctx: Context, runner: Runner, runs: dict[str, str]) -> bool:
    parsed = parse_pod_name(runner.name)
    return parsed is not None and _run_finished(ctx, parsed.run_id, runs) is not None


def _revoke_token(ctx: Context, *, clients_for_teardown: bool = False) -> None:
    if not ctx.installation_token:
        return
    github = (ctx.teardown if clients_for_teardown else ctx.work).github
    try:
        if github is not None:
            github.revoke_installation_token()
        ctx.installation_token = None
    except ActionError as exc:
        ctx.workflow.warning(
            f"The installation token could not be revoked ({exc.sentence()}); it expires "
            "within the hour on its own."
        )


def _cost_row(ended: Ended) -> tuple[str, str, float | None, float | None]:
    return (ended.pod_id, ended.outcome, ended.uptime_seconds, ended.cost_per_hr)


def _host_view(ctx: Context, text: str) -> str:
    """Paths as later steps on the host see them: inside the action's container the
    runner's temp dir is mounted at a fixed path the host does not share."""
    if ctx.settings.runner_temp.startswith(CONTAINER_TEMP):
        return text.replace(CONTAINER_TEMP, "$RUNNER_TEMP")
    return text


def _report_failure(ctx: Context, error: ActionError, step: str) -> None:
    ctx.workflow.error(error.sentence(), title=f"runpod-ssh-action {step} failed")
    ctx.workflow.summary(summary.failure(error, f"runpod-ssh-action {step}"))
    if ctx.attempts:
        ctx.workflow.summary(summary.attempts(ctx.attempts))
