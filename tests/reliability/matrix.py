"""The fault matrix: every API call the lifecycle makes, in every phase it makes it,
against every way that call can fail.

A *cell* is one call in one phase: the stand-in operation it is known by, how many
earlier calls of that operation to let through first, and any *steering* faults that
drive the lifecycle onto the path where the call happens (a teardown call inside a
failed start, say). A *case* is a cell with one fault queued on it.

Shapes, and what "after main + post (+ stop)" means for each:

* ``ssh``: a start without a runner, then its post step (which tears down).
* ``runner``: a start with an App and a JIT runner, its post step (which leaves the
  pods for their jobs), then the stop job.
* ``token``: the same with a PAT and a registration token.
* ``post-ssh`` / ``post-killed``: the post step of a start that left a pod (and, for
  ``post-killed``, a registered runner and no success): the pods and runners are made
  directly through the APIs, named as that start would name them, and the state it
  would have saved is handed to the post step.
* ``stop``: the stop job of a run whose pod and runner were made the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runpod_ssh_action.sim import Fault, StandIn

from ..e2e import actionrun as action
from ..e2e.actionrun import Step
from .support import A6000, Operator, leak_problems, outcome, step_problems

# A timeout fault holds the connection past both client timeouts (the lowered working
# one and the teardown set's 4 s), so every client really times out.
CLIENT_TIMEOUT = 2.0
TIMEOUT_HOLD = 5.0

GENERIC: dict[str, Callable[[], Fault]] = {
    "timeout": lambda: Fault.timeout(hold=TIMEOUT_HOLD, act=True),
    "reset before acting": Fault.reset_before,
    "reset after acting": Fault.reset_after,
    "HTTP 500 after acting": lambda: Fault.status(500, act=True),
    "HTTP 502": lambda: Fault.status(502),
    "HTTP 503": lambda: Fault.status(503),
    "429 Retry-After 1": lambda: Fault.rate_limited(1),
    "429 bare": Fault.rate_limited,
    "malformed JSON": Fault.malformed,
}

# RunPod's own words (see the API facts); "Something went wrong" is sent after acting,
# the worst case for a create, and "pod not found" after acting too, since RunPod says
# it about a pod that is gone.
RUNPOD_MESSAGES: dict[str, Callable[[], Fault]] = {
    "no longer any instances": lambda: Fault.graphql_error(
        "There are no longer any instances available with the requested specifications. "
        "Please refresh and try again."
    ),
    "no instances with enough disk": lambda: Fault.graphql_error(
        "There are no longer any instances available with enough disk space."
    ),
    "spot: no instances": lambda: Fault.graphql_error(
        "There are no instances available with the request specifications. Please try again later."
    ),
    "not enough free GPUs": lambda: Fault.graphql_error(
        "There are not enough free GPUs on the host machine to start this pod."
    ),
    "pod not found to terminate": lambda: Fault.graphql_error(
        "pod not found to terminate", act=True
    ),
    "Something went wrong": lambda: Fault.graphql_error(
        "Something went wrong. Please try again later or contact support.",
        "INTERNAL_SERVER_ERROR",
        act=True,
    ),
    "cannot resume spot as on-demand": lambda: Fault.graphql_error(
        "Cannot resume a spot pod as an on demand pod."
    ),
    "Unauthorized": lambda: Fault.graphql_error("Unauthorized"),
}

RP = {
    "myself": "myself",
    "gpuTypes": "gpuTypes",
    "podRentInterruptable": "podRentInterruptable",
    "podFindAndDeployOnDemand": "podFindAndDeployOnDemand",
    "pod (batched)": "pod",
    "myself (pod list)": "myself",
    "podTerminate": "podTerminate",
}
GH = {
    "installation lookup": "apps/get-repo-installation",
    "access token": "apps/create-installation-access-token",
    "revoke token": "apps/revoke-installation-access-token",
    "generate-jitconfig": "actions/generate-runner-jitconfig-for-repo",
    "registration-token": "actions/create-registration-token-for-repo",
    "get runner": "actions/get-self-hosted-runner-for-repo",
    "list runners": "actions/list-self-hosted-runners-for-repo",
    "delete runner": "actions/delete-self-hosted-runner-from-repo",
}


@dataclass(frozen=True)
class Cell:
    api: str  # "RunPod" or "GitHub"
    call: str  # a key of RP or GH
    phase: str  # "start", "post" or "stop"
    shape: str
    skip: int = 0
    steer: tuple[tuple[str, Callable[[], Fault]], ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()
    note: str = ""

    @property
    def operation(self) -> str:
        return (RP if self.api == "RunPod" else GH)[self.call]

    @property
    def faults(self) -> dict[str, Callable[[], Fault]]:
        return {**GENERIC, **RUNPOD_MESSAGES} if self.api == "RunPod" else dict(GENERIC)

    @property
    def name(self) -> str:
        where = f" ({self.note})" if self.note else ""
        return f"{self.api} {self.call} in {self.phase}{where}"


def _create_lost() -> Fault:
    return Fault.reset_after()


def _unauthorized() -> Fault:
    return Fault.graphql_error("Unauthorized")


def _gone() -> Fault:
    return Fault.status(404, '{"message": "Not Found"}', {"Content-Type": "application/json"})


CELLS: tuple[Cell, ...] = (
    # RunPod, start: each call of a start that goes well, then the calls of the paths
    # a fault opens (the reconcile listing after a lost create; the teardown of a
    # start that failed after renting).
    Cell("RunPod", "myself", "start", "ssh"),
    Cell("RunPod", "gpuTypes", "start", "ssh"),
    Cell("RunPod", "podRentInterruptable", "start", "ssh"),
    Cell(
        "RunPod",
        "podFindAndDeployOnDemand",
        "start",
        "ssh",
        inputs=(("capacity", "on-demand"),),
    ),
    Cell("RunPod", "pod (batched)", "start", "ssh"),
    Cell(
        "RunPod",
        "myself (pod list)",
        "start",
        "ssh",
        skip=1,
        steer=(("podRentInterruptable", _create_lost),),
        note="reconciling a lost create",
    ),
    Cell(
        "RunPod",
        "podTerminate",
        "start",
        "ssh",
        steer=(("pod", _unauthorized),),
        note="tearing down a failed start",
    ),
    # RunPod, post and stop.
    Cell("RunPod", "myself (pod list)", "post", "post-ssh"),
    Cell("RunPod", "pod (batched)", "post", "post-ssh"),
    Cell("RunPod", "podTerminate", "post", "post-ssh"),
    Cell("RunPod", "myself (pod list)", "stop", "stop"),
    Cell("RunPod", "pod (batched)", "stop", "stop"),
    Cell("RunPod", "podTerminate", "stop", "stop"),
    # GitHub, start.
    Cell("GitHub", "installation lookup", "start", "runner"),
    Cell("GitHub", "access token", "start", "runner"),
    Cell("GitHub", "list runners", "start", "runner", note="the access check"),
    Cell("GitHub", "generate-jitconfig", "start", "runner"),
    Cell("GitHub", "get runner", "start", "runner"),
    Cell("GitHub", "revoke token", "start", "runner"),
    Cell(
        "GitHub",
        "list runners",
        "start",
        "runner",
        skip=1,
        steer=(("actions/get-self-hosted-runner-for-repo", _gone),),
        note="tearing down a failed start",
    ),
    Cell(
        "GitHub",
        "delete runner",
        "start",
        "runner",
        steer=(("actions/get-self-hosted-runner-for-repo", _gone),),
        note="tearing down a failed start",
    ),
    Cell("GitHub", "registration-token", "start", "token"),
    Cell("GitHub", "list runners", "start", "token", skip=1, note="finding the registered runner"),
    # GitHub, post (of a start that died after registering its runner) and stop.
    Cell("GitHub", "installation lookup", "post", "post-killed"),
    Cell("GitHub", "access token", "post", "post-killed"),
    Cell("GitHub", "list runners", "post", "post-killed", note="the access check"),
    Cell("GitHub", "list runners", "post", "post-killed", skip=1, note="finding leftovers"),
    Cell("GitHub", "delete runner", "post", "post-killed"),
    Cell("GitHub", "revoke token", "post", "post-killed"),
    Cell("GitHub", "installation lookup", "stop", "stop"),
    Cell("GitHub", "access token", "stop", "stop"),
    Cell("GitHub", "list runners", "stop", "stop", note="the access check"),
    Cell("GitHub", "list runners", "stop", "stop", skip=1, note="finding leftovers"),
    Cell("GitHub", "delete runner", "stop", "stop"),
    Cell("GitHub", "revoke token", "stop", "stop"),
)


@dataclass(frozen=True)
class Case:
    cell: Cell
    fault: str

    @property
    def name(self) -> str:
        return f"{self.cell.name} x {self.fault}"


@dataclass
class CaseResult:
    case: Case
    problems: list[str]
    outcome: str
    seconds: float
    log: str
    errors: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return not self.problems


def cases(cells: Sequence[Cell]) -> list[Case]:
    return [Case(cell, fault) for cell in cells for fault in cell.faults]


def _shape_inputs(sim: StandIn, shape: str) -> dict[str, str | bool | None]:
    common: dict[str, str | bool | None] = {"gpu_types": A6000, "ssh_user": sim.ssh_user}
    if shape in ("ssh", "post-ssh"):
        return {**common, "runner": False}
    if shape == "token":
        return {
            **common,
            "github_app_id": None,
            "github_app_private_key": None,
            "github_token": sim.pat,
            "runner_registration": "token",
        }
    return common


def run_case(sim: StandIn, hand: Operator, case: Case) -> CaseResult:
    cell = case.cell
    started = time.monotonic()
    inputs = {**_shape_inputs(sim, cell.shape), **dict(cell.inputs)}
    env = sim.action_env(**inputs)
    timeout = CLIENT_TIMEOUT if case.fault == "timeout" else None
    sim.faults.clear()

    def arm() -> None:
        for operation, fault in cell.steer:
            sim.faults.add(operation, fault())
        sim.faults.add(cell.operation, *[Fault.delay(0) for _ in range(cell.skip)])
        sim.faults.add(cell.operation, cell.faults[case.fault]())

    steps: list[Step] = []
    problems: list[str] = []
    if cell.phase == "start":
        arm()
        main = action.run(env, http_timeout=timeout)
        steps.append(main)
        taken = cell.operation not in sim.faults.pending()
        # One fault per case: one the start never reached must not hit post or stop.
        sim.faults.clear()
        steps.append(action.post(main, http_timeout=timeout))
        if cell.shape in ("runner", "token") and main.returncode == 0:
            steps.append(_stop(sim, env, cell.shape, timeout))
    else:
        state = hand.seed(
            env,
            runner=cell.shape != "post-ssh",
            outcome="success" if cell.shape == "post-ssh" else "started",
        )
        arm()
        if cell.phase == "post":
            steps.append(action.run(action.post_env(env, state), "post", http_timeout=timeout))
        else:
            steps.append(_stop(sim, env, "runner", timeout))
        taken = cell.operation not in sim.faults.pending()
    if not taken:
        problems.append(f"the fault on {cell.operation} was never reached")
    for step in steps:
        problems += step_problems(step)
    problems += leak_problems(sim, env)
    sim.faults.clear()
    hand.clear(env)
    return CaseResult(
        case,
        problems,
        outcome(steps),
        time.monotonic() - started,
        "\n".join(s.describe() for s in steps) if problems else "",
        [e for s in steps for e in s.errors],
    )


def _stop(sim: StandIn, env: dict[str, str], shape: str, timeout: float | None) -> Step:
    inputs: dict[str, str | bool | None] = {"mode": "stop", "run_id": env["GITHUB_RUN_ID"]}
    if shape == "token":
        inputs.update(github_app_id=None, github_app_private_key=None, github_token=sim.pat)
    return action.run(sim.action_env(**inputs), http_timeout=timeout)


# --- what CI runs ------------------------------------------------------------------------

# Every cell meets this many faults in CI, rotated over the cells of each API so that every
# fault meets several calls; ``RPSA_NIGHTLY=1`` runs the whole cross product.
FAULTS_PER_CELL_IN_CI = 2
# GitHub's rule for a 429 without Retry-After is "wait a minute": CI tries it on one call,
# the nightly run on every GitHub call.
SLOW_FAULT = "429 bare"
SLOW_IN_CI = Cell("GitHub", "delete runner", "stop", "stop")


def ci_cases() -> list[Case]:
    """The same cases on every run: a failure here names a case that fails again."""
    chosen = [Case(SLOW_IN_CI, SLOW_FAULT)]
    for api in ("RunPod", "GitHub"):
        cells = [cell for cell in CELLS if cell.api == api]
        for index, cell in enumerate(cells):
            faults = [fault for fault in cell.faults if fault != SLOW_FAULT or api == "RunPod"]
            first = index * FAULTS_PER_CELL_IN_CI
            chosen += [
                Case(cell, faults[(first + n) % len(faults)]) for n in range(FAULTS_PER_CELL_IN_CI)
            ]
    return chosen
