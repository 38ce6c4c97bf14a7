"""From rented pods to working machines: boot, SSH login, bootstrap, runner online.

One batched ``pod`` query per poll round covers every pod still booting, whatever
the count. Each pod is handed to its own worker the moment RunPod shows its public
port 22, so a slow pod never holds up the set-up of the others.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import ssh
from .bootstrap import BootstrapConfig, run_bootstrap
from .capacity import Rung
from .clock import remaining
from .context import Context
from .errors import ActionError
from .github import Runner
from .naming import pod_name
from .runpod import Pod

GONE = {"EXITED", "TERMINATED", "DEAD"}
# A pod that has booted answers SSH within seconds; polling RunPod faster than this
# only spends the shared rate budget.
FIRST_POLL = 0.5
LONGEST_POLL = 5.0


@dataclass
class Rented:
    index: int
    pod: Pod
    rung: Rung


@dataclass
class Ready:
    index: int
    pod: Pod
    rung: Rung
    target: ssh.SshTarget
    host_keys: str
    runner: Runner | None


def bring_up(ctx: Context, rented: list[Rented], label: str, key_path: Path) -> list[Ready]:
    deadline = ctx.timeline.start + ctx.settings.startup_timeout_seconds
    pending = {r.pod.id: r for r in rented}
    futures: list[Future[Ready]] = []
    with ThreadPoolExecutor(max_workers=min(16, len(rented)), thread_name_prefix="pod") as pool:
        while pending:
            for pod_id, pod in ctx.work.runpod.pods(list(pending)).items():
                if pod is None or (pod.desired_status or "") in GONE:
                    raise ActionError(
                        f"Pod {pod_id} ended while it was booting",
                        "RunPod preempted or stopped it before it could be used",
                        "Run the job again; on-demand capacity is not preempted",
                        code="POD_LOST",
                    )
                endpoint = pod.ssh_endpoint()
                if endpoint is None:
                    continue
                ctx.timeline.mark(pod_id, "booted")
                item = pending.pop(pod_id)
                target = ssh.SshTarget(
                    endpoint.host,
                    endpoint.port,
                    ctx.settings.ssh_user,
                    key_path,
                    ctx.workdir / f"known_hosts-{item.index}",
                )
                futures.append(
                    pool.submit(
                        _set_up, ctx, item, pod=pod, target=target, label=label, deadline=deadline
                    )
                )
            _raise_first_failure(futures)
            if not pending:
                break
            if remaining(ctx.clock, deadline) <= 0:
                raise ActionError(
                    f"{len(pending)} pod(s) did not boot in time",
                    f"no public SSH port after {ctx.settings.startup_timeout_minutes:g} minutes "
                    f"({', '.join(pending)})",
                    "Raise startup-timeout-minutes, or choose an image that starts faster",
                    code="BOOT_TIMEOUT",
                )
            elapsed = ctx.clock.monotonic() - ctx.timeline.start
            ctx.clock.sleep(min(LONGEST_POLL, max(FIRST_POLL, elapsed / 20)))
        while not all(f.done() for f in futures):
            _raise_first_failure(futures)
            ctx.clock.sleep(0.05)
        ready = [f.result() for f in futures]
    if ctx.settings.runner:
        _wait_online(ctx, ready, deadline)
    return sorted(ready, key=lambda r: r.index)


def _raise_first_failure(futures: list[Future[Ready]]) -> None:
    for future in futures:
        if future.done() and future.exception() is not None:
            future.result()


def _set_up(
    ctx: Context,
    item: Rented,
    *,
    pod: Pod,
    target: ssh.SshTarget,
    label: str,
    deadline: float,
) -> Ready:
    settings = ctx.settings
    host_keys = ssh.wait_for_login(
        target, clock=ctx.clock, deadline=deadline, masker=ctx.workflow.masker
    )
    ctx.timeline.mark(pod.id, "ssh")
    runner: Runner | None = None
    jit_config = registration_token = ""
    # A runner is named after its pod, so stop and reap can pair them by name.
    name = pod_name(ctx.tag, item.index)
    if settings.runner:
        assert ctx.scope is not None and ctx.work.github is not None
        if settings.runner_registration == "jit":
            jit = ctx.work.github.generate_jit_config(
                ctx.scope,
                name,
                ["self-hosted", "linux", "x64", label, *settings.runner_labels],
                runner_group_id=settings.runner_group_id,
            )
            runner = jit.runner
            if not ctx.ledger.add_runner(runner.id):
                raise ActionError("Set-up stopped", "the step is being torn down", code="CANCELLED")
            jit_config = jit.encoded_jit_config
        else:
            registration_token = ctx.work.github.registration_token(ctx.scope).token
    lifetime_end = int(ctx.clock.now().timestamp()) + settings.max_lifetime_seconds
    run_bootstrap(
        target,
        BootstrapConfig(
            mode="runner" if settings.runner else "ssh",
            pod_id=pod.id,
            runpod_api_url=settings.runpod_api_url,
            max_lifetime_deadline=lifetime_end,
            idle_timeout_seconds=settings.idle_timeout_seconds,
            runner_name=name if settings.runner else "",
            runner_labels=(label, *settings.runner_labels),
            runner_url=settings.runner_tarball_url,
            runner_sha256=settings.runner_tarball_sha256,
            registration=settings.runner_registration,
            jit_config=jit_config,
            registration_token=registration_token,
            github_url=settings.github_target_url,
        ),
        timeout=max(30.0, min(600.0, remaining(ctx.clock, deadline))),
        clock=ctx.clock,
        masker=ctx.workflow.masker,
    )
    ctx.timeline.mark(pod.id, "bootstrapped")
    if settings.runner and runner is None:
        runner = _find_registered(ctx, name, deadline)
    return Ready(item.index, pod, item.rung, target, host_keys, runner)


def _find_registered(ctx: Context, name: str, deadline: float) -> Runner:
    """The registration-token path learns the runner id only once config.sh has run."""
    assert ctx.scope is not None and ctx.work.github is not None
    wait = 0.5
    while True:
        found = ctx.work.github.list_runners(ctx.scope, name=name)
        if found:
            if not ctx.ledger.add_runner(found[0].id):
                raise ActionError("Set-up stopped", "the step is being torn down", code="CANCELLED")
            return found[0]
        if remaining(ctx.clock, deadline) <= 0:
            raise ActionError(
                f"Runner {name} never registered",
                "config.sh on the pod did not register it with GitHub in time",
                "Check the registration token's permission and that the pod can reach GitHub",
                code="RUNNER_NOT_REGISTERED",
            )
        ctx.clock.sleep(wait)
        wait = min(wait * 1.5, 5.0)


def _wait_online(ctx: Context, ready: list[Ready], deadline: float) -> None:
    assert ctx.scope is not None and ctx.work.github is not None
    ids = [r.runner.id for r in ready if r.runner is not None]
    online = ctx.work.github.wait_until_online(ctx.scope, ids, deadline)
    for item in ready:
        if item.runner is not None:
            item.runner = online.get(item.runner.id, item.runner)
            ctx.timeline.mark(item.pod.id, "online")
