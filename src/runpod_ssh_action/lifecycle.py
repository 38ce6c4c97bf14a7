"""The action's story: start, stop, post, reap.

Each reads top to bottom the way a user would explain it. The pieces live in the
modules named after what they talk to: ``runpod``, ``github``, ``ssh``, ``bootstrap``,
``capacity``, ``bringup``, ``teardown``, ``workflow``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path

from . import ssh, summary
from .bringup import Ready, Rented, bring_up
from .capacity import Attempt, Rung, Wants, plan, rent
from .context import Clients, Context
from .doctor import doctor
from .errors import ActionError, InputError
from .github import Runner, releases
from .github.releases import RunnerRelease
from .ledger import parse_ids
from .naming import POD_PREFIX, parse_pod_name, pod_name, repo_prefix, run_prefix
from .runpod import PodSpec
from .settings import Settings
from .teardown import Ended, asked_twice, delete_runners, find_pods, tear_down
from .workflow import SharedFiles, Workflow

# How long the end of a start waits for its thread once every wait has been stopped:
# a sleep ends within clock.STOP_POLL, an SSH session within ssh.CANCEL_POLL; only a
# request in flight takes longer, and the step does not wait out its timeout.
START_UNWIND = 5.0


def run(command: str, settings: Settings, workflow: Workflow, cancelled: threading.Event) -> int:
    ctx = Context.create(settings, workflow, cancelled)
    try:
        if command == "start":
            return _guarded_start(ctx, cancelled)
        steps = {
            "stop": stop,
            "post": post,
            "reap": reap,
            "gpus": gpus,
            "status": status,
            "doctor": doctor,
        }
        return steps[command](ctx)
    except ActionError as exc:
        _report_failure(ctx, exc, command)
        return 1
    finally:
        ctx.close()


# --- start -----------------------------------------------------------------------


def start(ctx: Context) -> None:
    # Before anything is rented: the key must go where the job's later steps see it.
    ctx.workflow.shared_files()
    authenticate(ctx)
    if ctx.settings.runner:
        ctx.runner_release = choose_runner(ctx)
    key = _make_key(ctx)
    rented = rent_pods(ctx, key)
    ready = bring_up(ctx, rented, ctx.label, ctx.workdir / "id_ed25519")
    publish(ctx, ready, key)


def authenticate(ctx: Context) -> None:
    """Check both sets of credentials before anything costs money."""
    with ctx.workflow.group("Checking credentials"):
        account = ctx.work.runpod.myself()
        ctx.workflow.info(f"RunPod account {account.id} accepted the API key.")
        if ctx.settings.runner or ctx.settings.mode != "start":
            login_github(ctx)


def choose_runner(ctx: Context) -> RunnerRelease:
    """Which runner the pods install: looked up once per start, before any pod is rented."""
    settings, github = ctx.settings, ctx.work.github
    assert github is not None
    release = releases.choose(
        settings.runner_version,
        settings.runner_download_url,
        settings.runner_sha256,
        github.runner_release,
    )
    ctx.workflow.info(f"Runner {release.version}: {release.url} (SHA-256 {release.sha256})")
    if release.outdated:
        ctx.workflow.warning(releases.outdated_warning(release))
    return release


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
        offers = ctx.work.runpod.gpu_types(settings.gpu_count, settings.gpu_types)
        _report_api_changes(ctx)
        wants = Wants.of(settings, settings.gpu_types, ctx.work.runpod.spot_withdrawn)
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
            # A rent still queued when the step was cancelled or ended is not made.
            ctx.clock.sleep(0)
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

        pool = ThreadPoolExecutor(max_workers=min(8, settings.count), thread_name_prefix="rent")
        try:
            return list(pool.map(one, range(settings.count)))
        finally:
            # After a failed rent, the pods not yet asked for are not rented at all.
            pool.shutdown(cancel_futures=True)
            _report_api_changes(ctx)


def _report_api_changes(ctx: Context) -> None:
    """What the RunPod client learnt about the API (spot gone, terminateAfter refused):
    a warning once, and a line in the summary's capacity table."""
    for notice in ctx.work.runpod.take_notices():
        ctx.workflow.warning(notice)
        ctx.attempts.append(Attempt(None, "all", "spot", None, notice))


def publish(ctx: Context, ready: list[Ready], key: ssh.KeyPair) -> None:
    settings, first = ctx.settings, ready[0]
    shared = ctx.workflow.shared_files()
    key_path, known_hosts = _leave_for_later_steps(ctx, shared, ready, key)
    target = first.target
    command = ssh.ssh_command(
        target.user,
        target.host,
        target.port,
        key=shared.host_view(str(key_path)),
        known_hosts=shared.host_view(str(known_hosts)),
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
        "ssh-command": command,
        "ssh-key-path": shared.host_view(str(key_path)),
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
    try:
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
            if _refused_before_renting(ctx, error):
                ctx.workflow.save_state("outcome", "failed")
                return 1
            _end_start(ctx, "failed")
            return 1
        return 0
    finally:
        # Only now, after the teardown (whose pauses use this clock): a set-up worker
        # still waiting for its pod would keep the process alive, as Python joins
        # worker threads at exit. Stopped, every wait ends; the start thread, unwinding,
        # drops the work still queued in its pools.
        ctx.clock.stop()
        worker.join(START_UNWIND)


def _refused_before_renting(ctx: Context, error: BaseException) -> bool:
    """An input RunPod's answers showed to be wrong (gpu-types it does not know) before
    any pod was asked for: there is nothing to tear down."""
    asked = ctx.ledger.pods or any(a.index is not None for a in ctx.attempts)
    return isinstance(error, InputError) and not asked


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
        # The pods keep running for their jobs, but the key is root SSH to every one of
        # them and only this job's own later steps could use it: the post step runs
        # after them, so it goes now.
        _forget_key(ctx)
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
    _forget_key(ctx)
    workflow.summary(summary.costs([_cost_row(e) for e in ended]))
    return 1 if any(e.outcome.startswith("FAILED") for e in ended) else 0


def stop(ctx: Context) -> int:
    settings = ctx.settings
    # Pods cost money and runners do not: GitHub being down must not keep a pod alive.
    github_down = _login_for_cleanup(ctx)
    clients = ctx.work if github_down is None else _runpod_only(ctx)
    by_name = (
        None if settings.pod_id else run_prefix(settings.pod_repository, settings.github_run_id)
    )
    with ctx.workflow.group("Terminating pods and deleting runners"):
        pod_ids = list(settings.pod_id)
        if by_name is not None:
            # The listing is the only way to the run's pods here, so a failed listing
            # fails the step instead of passing for "nothing to terminate".
            pod_ids = find_pods(ctx, clients, by_name)
        ended = tear_down(ctx, clients, pod_ids, [], pod_prefix=None, runner_prefix=by_name)
        for row in ended:
            named = f" ({row.name})" if row.name else ""
            ctx.workflow.info(f"Pod {row.pod_id}{named}: {row.outcome}.")
        if ctx.scope is None and settings.runner:
            ctx.workflow.info(
                "Runners are not deleted: no GitHub credentials were given. They are "
                "ephemeral and go offline with their pods."
            )
        elif settings.pod_id and github_down is None:
            # Runners are named after their pods, so a stop given pod ids finds them.
            delete_runners(ctx, clients, [], names={row.name for row in ended if row.name})
    _revoke_token(ctx)
    if not settings.pod_id or set(parse_ids(ctx.workflow.state("pods"))) <= {
        row.pod_id for row in ended
    }:
        # Every pod of the start that left a key (a terminal start) is gone now.
        _forget_key(ctx)
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
    repository = ctx.settings.github_repository
    # Without a repository (a terminal), every pod this action named, whoever started it.
    prefix = repo_prefix(repository) if repository else POD_PREFIX
    pods = ctx.work.runpod.list_pods(prefix)
    for pod in pods:
        endpoint = pod.ssh_endpoint()
        where = f"{endpoint.host}:{endpoint.port}" if endpoint else "booting"
        ctx.workflow.info(
            f"{pod.id} {pod.name} {pod.desired_status} {where} ${pod.cost_per_hr or 0:.3f}/h"
        )
    if not pods:
        ctx.workflow.info(f"No pods of {repository or 'this action'} on the RunPod account.")
    return 0


# --- small pieces ----------------------------------------------------------------


def _make_key(ctx: Context) -> ssh.KeyPair:
    """An ephemeral key for the action's own login; a user's ssh-public-key is
    authorised beside it, never instead of it, since the action must log in too."""
    key = ssh.generate_keypair(f"runpod-ssh-action {ctx.tag}")
    ctx.workflow.masker.add(key.private_openssh)
    ssh.write_private_key(ctx.workdir, "id_ed25519", key)
    return key


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


def _handed_over(shared: SharedFiles, tag: str) -> Path:
    return shared.local / "runpod-ssh-action" / (tag or "local")


def _leave_for_later_steps(
    ctx: Context, shared: SharedFiles, ready: list[Ready], key: ssh.KeyPair
) -> tuple[Path, Path]:
    """The key and known_hosts, written where the job's later steps find them (on an
    older runner that is not the step's own RUNNER_TEMP, which vanishes with the
    container). Raises rather than name a file that is not there."""
    folder = _handed_over(shared, ctx.tag)
    key_path = ssh.write_private_key(folder, "id_ed25519", key)
    known_hosts = folder / "known_hosts"
    known_hosts.write_text("".join(f"{r.host_keys.strip()}\n" for r in ready), encoding="utf-8")
    ctx.workflow.hand_over(folder.parent, folder, key_path, known_hosts)
    missing = [str(p) for p in (key_path, known_hosts) if not p.is_file()]
    if missing:
        raise ActionError(
            "Could not leave the SSH key for later steps",
            f"{', '.join(missing)} did not stay written",
            f"Check that {shared.local} is writable in the action's container",
        )
    return key_path, known_hosts


def _forget_key(ctx: Context) -> None:
    """The key is useless once its pods are gone; remove every copy this job holds."""
    shutil.rmtree(ctx.workdir / "keys", ignore_errors=True)
    (ctx.workdir / "id_ed25519").unlink(missing_ok=True)
    try:
        folder = _handed_over(ctx.workflow.shared_files(), ctx.tag)
    except ActionError as exc:
        ctx.workflow.debug(f"No key handed over to remove: {exc.sentence()}")
        return
    shutil.rmtree(folder, ignore_errors=True)
    # Another start in the same job may still keep its folder beside this one.
    with contextlib.suppress(OSError):
        folder.parent.rmdir()


def _report_failure(ctx: Context, error: ActionError, step: str) -> None:
    ctx.workflow.error(error.sentence(), title=f"runpod-ssh-action {step} failed")
    ctx.workflow.summary(summary.failure(error, f"runpod-ssh-action {step}"))
    if ctx.attempts:
        ctx.workflow.summary(summary.attempts(ctx.attempts))
