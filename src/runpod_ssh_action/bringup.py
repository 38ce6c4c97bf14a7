"""From rented pods to working machines: boot, SSH login, bootstrap, runner online.

Every wait here looks at all the pods (or runners) still pending with one request per
round, whatever the count: one batched ``pod`` query for the pods still booting or being
set up, one runner listing for the runners not yet online. Each pod is handed to its own
worker the moment RunPod shows its public port 22, so a slow pod never holds up the
set-up of the others, and the runner registrations are made while the pods boot, off
the critical path. A pod that RunPod shows ended while its worker waits for SSH or
bootstraps fails the start at the next look, not at the start-up timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ssh, summary
from .bootstrap import BootstrapConfig, BootstrapError, bootstrap_at_login, runner_status
from .capacity import Rung
from .clock import remaining
from .context import Context
from .errors import ActionError
from .github import Runner
from .naming import pod_name
from .runpod import Pod

GONE = {"EXITED", "TERMINATED", "DEAD"}

Schedule = Callable[[float], float]
"""Seconds to wait before the next look, given the seconds the wait has lasted."""


@dataclass(frozen=True)
class Backoff:
    """Waits of ``first`` seconds that grow to ``share`` of the time already waited,
    never longer than ``longest``: the delay in noticing a change stays a small share
    of how long it took, and a long wait costs few requests."""

    first: float
    share: float
    longest: float

    def __call__(self, waited: float) -> float:
        return min(self.longest, max(self.first, waited * self.share))


# A pod boots in seconds to minutes. Looking every second for the first 33 s keeps the
# delay after a quick boot short; after that the gap is 3 % of the wait, so the delay
# after a long boot stays near 1.5 % of it on average. A start of 30 pods stays inside
# RunPod's budget of 100 requests a minute: 32 for credentials and creates, and at most
# 54 looks in the first minute.
BOOT_POLL = Backoff(first=1.0, share=0.03, longest=5.0)
# A runner shows online a few seconds after its bootstrap; GitHub's budget is larger.
ONLINE_POLL = Backoff(first=0.5, share=0.1, longest=5.0)
# The longest one look at a pod's runner may take while runners come online.
RUNNER_LOOK_TIMEOUT = 30.0
# The longest the main thread waits on the set-up workers before it checks for a cancel.
SET_UP_CHECK = 0.1


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


@dataclass(frozen=True)
class _Registration:
    """What a pod's bootstrap needs to register its runner."""

    runner: Runner | None = None
    jit_config: str = field(default="", repr=False)
    registration_token: str = field(default="", repr=False)
    runner_group: str = ""


def bring_up(
    ctx: Context,
    rented: list[Rented],
    label: str,
    key_path: Path,
    *,
    boot_poll: Schedule = BOOT_POLL,
    online_poll: Schedule = ONLINE_POLL,
) -> list[Ready]:
    deadline = ctx.timeline.start + ctx.settings.startup_timeout_seconds
    began = ctx.clock.monotonic()
    pending = {r.pod.id: r for r in rented}
    futures: list[Future[Any]] = []
    set_ups: dict[str, Future[Ready]] = {}
    # One worker per pod: set-up is mostly waiting on ssh, and pods set up side by side
    # make a start of 30 take about as long as a start of one.
    pool = ThreadPoolExecutor(max_workers=len(rented), thread_name_prefix="pod")
    try:
        registrations = _register_runners(ctx, pool, rented, label)
        futures.extend(registrations.values())
        while True:
            # The pods still booting and those whose set-up is still waiting for SSH or
            # bootstrapping: a pod preempted meanwhile is noticed at the next look.
            watched = [*pending, *(i for i, f in set_ups.items() if not f.done())]
            statuses = ctx.work.runpod.pods(watched) if watched else {}
            for pod_id, pod in statuses.items():
                if pod is None or (pod.desired_status or "") in GONE:
                    raise _lost(pod_id, booting=pod_id in pending)
                endpoint = pod.ssh_endpoint()
                if pod_id not in pending or endpoint is None:
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
                set_up = pool.submit(
                    _set_up,
                    ctx,
                    item,
                    pod=pod,
                    target=target,
                    label=label,
                    registration=registrations.get(item.index),
                    deadline=deadline,
                )
                set_ups[pod_id] = set_up
                futures.append(set_up)
            _raise_first_failure(ctx, set_ups, futures)
            if not pending and all(f.done() for f in futures):
                break
            if pending and remaining(ctx.clock, deadline) <= 0:
                raise ActionError(
                    f"{len(pending)} pod(s) did not boot in time",
                    f"no public SSH port after {ctx.settings.startup_timeout_minutes:g} minutes "
                    f"({', '.join(pending)})",
                    "Raise startup-timeout-minutes, or choose an image that starts faster",
                    code="BOOT_TIMEOUT",
                )
            waited = ctx.clock.monotonic() - began
            _pause(ctx, futures, boot_poll(waited), deadline, booting=bool(pending))
        ready = [f.result() for f in set_ups.values()]
    finally:
        # On a failure the teardown must not wait for the other pods' set-ups: ending
        # their pods ends their SSH sessions.
        pool.shutdown(wait=False, cancel_futures=True)
    if ctx.settings.runner:
        _wait_online(ctx, ready, deadline, online_poll)
    return sorted(ready, key=lambda r: r.index)


def _lost(pod_id: str, *, booting: bool) -> ActionError:
    return ActionError(
        f"Pod {pod_id} ended while it was {'booting' if booting else 'being set up'}",
        "RunPod preempted or stopped it before it could be used",
        "Run the job again; on-demand capacity is not preempted",
        code="POD_LOST",
    )


def _pause(
    ctx: Context, futures: list[Future[Any]], seconds: float, deadline: float, *, booting: bool
) -> None:
    """Wait until the next look at the pods. A failed set-up ends the wait at once,
    and so does the last one finishing once no pod is left ``booting``; the steps of
    ``SET_UP_CHECK`` only bound how late a cancel is noticed."""
    until = ctx.clock.monotonic() + min(seconds, remaining(ctx.clock, deadline))
    while (left := until - ctx.clock.monotonic()) > 0:
        if any(f.done() and f.exception() is not None for f in futures):
            return
        running = [f for f in futures if not f.done()]
        if not running:
            if booting:
                ctx.clock.sleep(left)
            return
        wait(running, timeout=min(SET_UP_CHECK, left), return_when=FIRST_EXCEPTION)
        ctx.clock.sleep(0)


def _raise_first_failure(
    ctx: Context, set_ups: dict[str, Future[Ready]], futures: list[Future[Any]]
) -> None:
    """Raise the first failure. A login or bootstrap that failed because its pod ended
    (its sshd died with it) is reported as the lost pod it is."""
    for future in futures:
        if not future.done() or (error := future.exception()) is None:
            continue
        pod_id = next((i for i, f in set_ups.items() if f is future), None)
        on_the_pod = isinstance(error, ssh.SshError | BootstrapError)
        if pod_id is not None and on_the_pod and _ended(ctx, pod_id):
            raise _lost(pod_id, booting=False) from error
        future.result()


def _ended(ctx: Context, pod_id: str) -> bool:
    """Whether RunPod shows the pod ended; a look that fails says nothing."""
    try:
        pod = ctx.work.runpod.pods([pod_id]).get(pod_id)
    except ActionError:
        return False
    return pod is None or (pod.desired_status or "") in GONE


def _register_runners(
    ctx: Context, pool: ThreadPoolExecutor, rented: list[Rented], label: str
) -> dict[int, Future[_Registration]]:
    """Start each pod's runner registration now, while the pods boot.

    A JIT registration is one request per runner; the classic path needs one
    registration token for all of them. A runner is named after its pod, so stop and
    reap can pair them by name.
    """
    settings = ctx.settings
    if not settings.runner:
        return {}
    github, scope = ctx.work.github, ctx.scope
    assert github is not None and scope is not None
    if settings.runner_registration != "jit":
        group_id = settings.runner_group_id

        def token() -> _Registration:
            # config.sh takes the group by name; the default group needs no name.
            group = "" if group_id == 1 else github.runner_group_name(scope, group_id)
            return _Registration(
                registration_token=github.registration_token(scope).token, runner_group=group
            )

        shared = pool.submit(token)
        return {item.index: shared for item in rented}
    # Only this start's label and the user's: a runner that also had self-hosted, linux
    # and x64 would take any job asking for runs-on: self-hosted, a fork's included.
    labels = [label, *settings.runner_labels]

    def register(index: int) -> _Registration:
        jit = github.generate_jit_config(
            scope, pod_name(ctx.tag, index), labels, runner_group_id=settings.runner_group_id
        )
        if not ctx.ledger.add_runner(jit.runner.id):
            raise ActionError("Set-up stopped", "the step is being torn down", code="CANCELLED")
        return _Registration(runner=jit.runner, jit_config=jit.encoded_jit_config)

    return {item.index: pool.submit(register, item.index) for item in rented}


def _set_up(
    ctx: Context,
    item: Rented,
    *,
    pod: Pod,
    target: ssh.SshTarget,
    label: str,
    registration: Future[_Registration] | None,
    deadline: float,
) -> Ready:
    settings = ctx.settings
    name = pod_name(ctx.tag, item.index)
    given: list[_Registration] = []

    def config() -> BootstrapConfig:
        # Called once the login worked, in its session: the registration, made while
        # the pod booted, is ready by then as a rule.
        ctx.timeline.mark(pod.id, "ssh")
        given.append(registration.result() if registration is not None else _Registration())
        lifetime_end = int(ctx.clock.now().timestamp()) + settings.max_lifetime_seconds
        return BootstrapConfig(
            mode="runner" if settings.runner else "ssh",
            pod_id=pod.id,
            runpod_api_url=settings.runpod_api_url,
            max_lifetime_deadline=lifetime_end,
            idle_timeout_seconds=settings.idle_timeout_seconds,
            runner_name=name if settings.runner else "",
            runner_labels=(label, *settings.runner_labels),
            runner_url=ctx.runner_release.url if ctx.runner_release else "",
            runner_sha256=ctx.runner_release.sha256 if ctx.runner_release else "",
            registration=settings.runner_registration,
            jit_config=given[0].jit_config,
            registration_token=given[0].registration_token,
            github_url=settings.github_target_url,
            runner_group=given[0].runner_group,
            runner_user=settings.runner_user,
        )

    host_keys, _ = bootstrap_at_login(
        target,
        config,
        clock=ctx.clock,
        deadline=deadline,
        timeout=lambda: max(30.0, min(600.0, remaining(ctx.clock, deadline))),
        masker=ctx.workflow.masker,
        on_warning=lambda text: _pod_warned(ctx, pod.id, text),
    )
    ctx.timeline.mark(pod.id, "bootstrapped")
    runner = given[0].runner
    if settings.runner and runner is None:
        runner = _find_registered(ctx, name, deadline)
    return Ready(item.index, pod, item.rung, target, host_keys, runner)


def _pod_warned(ctx: Context, pod_id: str, text: str) -> None:
    """A pod's ``RPSA-WARN``: whoever controls the pod wrote it, so the summary gets it
    escaped (an annotation is plain text already)."""
    ctx.workflow.warning(f"Pod {pod_id}: {text}", title="Pod bootstrap")
    ctx.workflow.summary(summary.pod_warning(pod_id, text))


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


def _wait_online(ctx: Context, ready: list[Ready], deadline: float, poll: Schedule) -> None:
    """Wait until every runner shows online (busy counts), one look per round."""
    github, scope = ctx.work.github, ctx.scope
    assert github is not None and scope is not None
    by_runner = {r.runner.id: r for r in ready if r.runner is not None}

    def came_online(runner: Runner) -> None:
        item = by_runner[runner.id]
        item.runner = runner
        ctx.timeline.mark(item.pod.id, "online")

    def still_running(states: Mapping[int, str]) -> None:
        waiting = [by_runner[i] for i, state in states.items() if state not in ("online", "busy")]
        _raise_if_a_runner_exited(ctx, waiting, deadline)

    github.wait_until_online(
        scope,
        list(by_runner),
        deadline,
        poll=poll,
        on_online=came_online,
        on_progress=still_running,
    )


def _raise_if_a_runner_exited(ctx: Context, waiting: list[Ready], deadline: float) -> None:
    """Ask each pod whose runner is not online yet whether the runner still runs.

    GitHub refuses an expired runner version at its first message poll, after it printed
    "Listening for Jobs" (actions/runner src/Runner.Listener/Runner.cs), and such a
    runner never shows online: without this look the start would wait out its whole
    timeout. One short SSH session per pod, side by side."""
    if not waiting:
        return
    timeout = max(5.0, min(RUNNER_LOOK_TIMEOUT, remaining(ctx.clock, deadline)))

    def look(item: Ready) -> BootstrapError | None:
        return runner_status(
            item.target,
            item.pod.id,
            pod_name(ctx.tag, item.index),
            timeout=timeout,
            clock=ctx.clock,
            masker=ctx.workflow.masker,
        )

    with ThreadPoolExecutor(max_workers=len(waiting), thread_name_prefix="look") as looks:
        for error in looks.map(look, waiting):
            if error is not None:
                raise error
