"""What every reliability test shares: the invariants, the tally behind the summary
table, and an operator's hand on the stand-in (seeding what a start left, clearing it).

The invariants are read from the stand-in's own record (pods it holds, runners it has
registered), never from what the action says about itself.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from runpod_ssh_action.clock import SystemClock
from runpod_ssh_action.github import GitHubClient, RunnerScope
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.naming import pod_name, run_prefix, run_tag
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.sim import StandIn
from runpod_ssh_action.transport import ApiLog

from ..e2e.actionrun import Step

A6000 = "NVIDIA RTX A6000"
NIGHTLY = os.environ.get("RPSA_NIGHTLY") == "1"


class KnownDefectError(Exception):
    """The symptom of a defect a strict xfail names; any other failure stays a failure."""


# --- the summary table ---------------------------------------------------------------


@dataclass
class Row:
    tried: int = 0
    held: int = 0
    notes: Counter[str] = field(default_factory=Counter)


class Tally:
    """Rows of "what was tried / how many / what held" for the terminal summary."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self._lock = threading.Lock()

    def add(self, what: str, *, held: bool, note: str = "") -> None:
        with self._lock:
            row = self.rows.setdefault(what, Row())
            row.tried += 1
            row.held += held
            if note:
                row.notes[note] += 1

    def lines(self) -> list[str]:
        width = max((len(w) for w in self.rows), default=10)
        out = [f"{'what was tried':<{width}}  {'how many':>8}  {'held':>5}  notes"]
        for what, row in self.rows.items():
            common = row.notes.most_common()
            if len(common) == 1 and common[0][1] == row.tried:
                notes = common[0][0]
            else:
                notes = ", ".join(f"{n}: {c}" for n, c in common)
            out.append(f"{what:<{width}}  {row.tried:>8}  {row.held:>5}  {notes}")
        return out


# --- invariants ----------------------------------------------------------------------


def run_of(env: dict[str, str]) -> str:
    """The name prefix of every pod and runner of the run ``env`` belongs to."""
    return run_prefix(env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"])


def step_problems(step: Step, *, may_fail: bool = True) -> list[str]:
    """A step ends in success, or in failure with exactly one clear ``::error``."""
    name = step.args[0] if step.args else "main"
    problems = []
    if "Traceback" in step.stderr:
        problems.append(f"{name}: a traceback on stderr")
    if step.returncode not in (0, 1):
        problems.append(f"{name}: exit status {step.returncode}")
    errors = step.errors
    if step.returncode == 0 and errors:
        problems.append(f"{name}: succeeded but printed {len(errors)} ::error line(s)")
    if step.returncode == 1:
        if not may_fail:
            problems.append(f"{name}: failed")
        if len(errors) != 1:
            problems.append(f"{name}: failed with {len(errors)} ::error lines, not one")
    for error in errors:
        lowered = error.lower()
        if "unexpected" in lowered or "report this bug" in lowered:
            problems.append(f"{name}: an unexpected error: {error}")
        if re.search(r"\b429\b", error) and "rate limit" not in lowered:
            problems.append(f"{name}: a 429 surfaced without saying rate limited: {error}")
    return problems


def leak_problems(sim: StandIn, env: dict[str, str], *, requested: int = 1) -> list[str]:
    """Zero live pods and runners of the run, and never two pods for one requested."""
    prefix = run_of(env)
    problems = []
    live = [p.id for p in sim.live_pods() if p.name.startswith(prefix)]
    if live:
        problems.append(f"live pods left: {', '.join(live)}")
    runners = [r["name"] for r in sim.github.runners() if r["name"].startswith(prefix)]
    if runners:
        problems.append(f"runners left: {', '.join(runners)}")
    made = Counter(p.name for p in sim.all_pods() if p.name.startswith(prefix))
    doubled = sorted(name for name, n in made.items() if n > 1)
    if doubled:
        problems.append(f"more than one pod made for {', '.join(doubled)}")
    if len(made) > requested:
        problems.append(f"{len(made)} pod names for {requested} requested")
    return problems


def quiet(log: str) -> str:
    """A log fit for a failure message: the mask lines are noise there."""
    return "\n".join(line for line in log.splitlines() if not line.startswith("::add-mask::"))


def outcome(steps: list[Step]) -> str:
    return "succeeded" if all(s.returncode == 0 for s in steps) else "failed cleanly"


# --- an operator's hand on the stand-in ------------------------------------------------


def runpod_client(sim: StandIn, pins: frozenset[str] = frozenset()) -> RunPodClient:
    """A RunPod client of the stand-in, with no rate limit of its own."""
    masker = Masker()
    return RunPodClient(
        sim.runpod_api_key,
        url=sim.runpod_url,
        clock=SystemClock(),
        masker=masker,
        log=ApiLog(masker),
        ca_bundle=sim.ca_bundle,
        pins=pins,
        limiter=False,
    )


class Operator:
    """Makes what a start leaves behind, straight through the APIs, and clears a run
    after a case so the next one starts from an empty account."""

    def __init__(self, sim: StandIn):
        self.sim = sim
        masker = Masker()
        self.runpod = runpod_client(sim)
        self.github = GitHubClient(
            sim.github_api_url,
            clock=SystemClock(),
            masker=masker,
            log=ApiLog(masker),
            ca_bundle=sim.ca_bundle,
        )
        self.github.login_token(sim.pat)
        self.scope = RunnerScope.repo(sim.config.owner, sim.config.repo)

    def close(self) -> None:
        self.runpod.close()
        self.github.close()

    def seed(self, env: dict[str, str], *, runner: bool, outcome: str) -> dict[str, str]:
        """A pod (and a registered runner) named as a start of this run names them;
        returns the state that start would have saved."""
        tag = run_tag(env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"], 1)
        name = pod_name(tag, 0)
        pod = self.runpod.create_on_demand(
            PodSpec(name=name, gpu_type_id=A6000, image_name="runpod/base:0.6.2")
        )
        state = {"outcome": outcome, "tag": tag, "pods": pod.id}
        if runner:
            jit = self.github.generate_jit_config(self.scope, name, ["self-hosted", tag])
            state["runners"] = str(jit.runner.id)
        return state

    def clear(self, env: dict[str, str]) -> None:
        prefix = run_of(env)
        for pod in self.sim.live_pods():
            if pod.name.startswith(prefix):
                self.sim.cloud.terminate(pod.id, by="stand-in")
        for runner in self.github.list_runners(self.scope):
            if runner.name.startswith(prefix):
                self.github.delete_runner(self.scope, runner.id)


@contextmanager
def operator(sim: StandIn) -> Iterator[Operator]:
    hand = Operator(sim)
    try:
        yield hand
    finally:
        hand.close()
