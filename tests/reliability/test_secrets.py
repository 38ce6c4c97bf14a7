"""Secret hygiene over whole lifecycles (App + JIT runner, PAT + registration token,
SSH only): every secret the action holds appears nowhere but in ``::add-mask::`` lines,
and each mask is printed before the secret is first used.

Where it looks: stdout and stderr of every step, GITHUB_OUTPUT, GITHUB_STATE, the step
summary, the JSON API log, the pod's create input at RunPod, and the command lines of
every process on this host (pods included) sampled while the start runs.

Which secrets: the RunPod key, each line of the App's private key, the PAT, every
installation token, JIT config and registration token GitHub handed out (a tap on the
stand-in's GitHub side keeps them), and each line of the generated SSH private key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runpod_ssh_action.sim import StandIn

from ..e2e import actionrun as action
from ..e2e.actionrun import Step
from .support import A6000, Tally, run_of

MASK = "::add-mask::"
ENV_PROBE = "rpsa-env-probe-4f1c9e"


def secret_lines(text: str) -> set[str]:
    """What the masker hides of a multi-line secret: each line but the PEM armour."""
    return {
        line.strip()
        for line in text.splitlines()
        if len(line.strip()) >= 4 and not line.startswith("-----")
    }


class CredentialTap:
    """Sits in front of the stand-in's GitHub side: keeps every credential it hands
    out, and when a call presents one, checks that the current step's log (a file, so
    nothing is in flight) already masks it."""

    def __init__(self, sim: StandIn):
        self._github = sim.github
        self._handle = sim.github.handle
        self._lock = threading.Lock()
        self.issued: dict[str, str] = {}
        self.late: list[str] = []
        self.stdout: Path | None = None
        self._since_begin: set[str] = set()

    def __enter__(self) -> CredentialTap:
        self._github.handle = self  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        del self._github.handle

    def begin(self, stdout: Path) -> None:
        with self._lock:
            self.stdout = stdout
            self._since_begin = set()

    def __call__(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Any:
        presented = (headers.get("authorization") or "").partition(" ")[2].strip()
        with self._lock:
            in_use = {presented} if presented in self.issued else set()
            if path.startswith("/_sim/runner/"):
                # A runner only calls once its JIT config has crossed to the pod.
                in_use |= {v for v in self._since_begin if self.issued[v] == "JIT config"}
            self._check_masked(in_use, path)
        reply = self._handle(method, path, query, headers, body)
        self._collect(path, reply.body)
        return reply

    def _check_masked(self, values: set[str], path: str) -> None:
        if not values or self.stdout is None:
            return
        log = self.stdout.read_text()
        for value in values:
            if f"{MASK}{value}\n" not in log:
                self.late.append(f"{self.issued[value]} used by {path} before its mask")

    def _collect(self, path: str, body: bytes) -> None:
        kinds = {
            "/access_tokens": ("token", "installation token"),
            "/registration-token": ("token", "registration token"),
            "/generate-jitconfig": ("encoded_jit_config", "JIT config"),
        }
        key, kind = next((v for k, v in kinds.items() if path.endswith(k)), ("", ""))
        try:
            data = json.loads(body) if key and body else None
        except ValueError:
            return
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, str) and value:
            with self._lock:
                self.issued[value] = kind
                self._since_begin.add(value)


@dataclass
class CommandLines:
    """The command line of every process on this host, sampled until stopped."""

    seen: set[str] = field(default_factory=set)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    raw = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if raw:
                    self.seen.add(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
            self.samples += 1
            self._stop.wait(0.005)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=10)


@dataclass
class Lifecycle:
    name: str
    inputs: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # value -> what it is
    commands: CommandLines = field(default_factory=CommandLines)


def _places(sim: StandIn, life: Lifecycle) -> dict[str, str]:
    """Every text a secret must not reach, by where it is."""
    places: dict[str, str] = {}
    for n, step in enumerate(life.steps):
        tag = f"step {n} ({' '.join(step.args) or 'main'})"
        places[f"{tag} stdout"] = "\n".join(
            line for line in step.lines if not line.startswith(MASK)
        )
        places[f"{tag} stderr"] = step.stderr
        for variable in ("GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"):
            places[f"{tag} {variable}"] = Path(step.env[variable]).read_text()
        for log in Path(step.env["RUNNER_TEMP"]).rglob("api.jsonl"):
            places[f"{tag} {log.name}"] = log.read_text()
    for pod in sim.all_pods():
        if pod.name.startswith(run_of(life.steps[0].env)):
            places[f"pod {pod.id} create input"] = json.dumps(pod.create_input)
            places[f"pod {pod.id} env"] = json.dumps(pod.env)
    places["process command lines"] = "\n".join(sorted(life.commands.seen))
    return places


def _run_lifecycle(sim: StandIn, tap: CredentialTap, tmp: Path, life: Lifecycle) -> None:
    env = sim.action_env(
        gpu_types=A6000, ssh_user=sim.ssh_user, env=f"PROBE={ENV_PROBE}", **life.inputs
    )
    stdout = tmp / f"{life.name}-main.log"
    tap.begin(stdout)
    issued_before = set(tap.issued)
    with life.commands.sampling():
        main = action.run(env, stdout_path=stdout)
    life.steps.append(main)
    assert main.returncode == 0, main.describe()
    key_file = next(Path(env["RUNNER_TEMP"]).rglob("id_ed25519"))
    for line in secret_lines(key_file.read_text()):
        life.secrets[line] = "generated SSH private key"
    post_log = tmp / f"{life.name}-post.log"
    tap.begin(post_log)
    life.steps.append(action.run(action.post_env(env, main.state), "post", stdout_path=post_log))
    if life.inputs.get("runner", True):
        stop_inputs = {k: v for k, v in life.inputs.items() if k.startswith("github")}
        stop_env = sim.action_env(mode="stop", run_id=env["GITHUB_RUN_ID"], **stop_inputs)
        stop_log = tmp / f"{life.name}-stop.log"
        tap.begin(stop_log)
        life.steps.append(action.run(stop_env, stdout_path=stop_log))
    for value in set(tap.issued) - issued_before:
        life.secrets[value] = tap.issued[value]
    assert all(s.returncode == 0 for s in life.steps), "\n".join(s.describe() for s in life.steps)


def _mask_order_problems(life: Lifecycle) -> list[str]:
    """Masks known before anything is asked of an API come before the first group;
    the SSH key's before the renting group, in which its public half is sent."""
    main = life.steps[0].lines
    first_group = next(i for i, line in enumerate(main) if line.startswith("::group::"))
    renting = next(i for i, line in enumerate(main) if line.startswith("::group::Renting"))
    problems = []
    for value, what in life.secrets.items():
        where = [i for i, line in enumerate(main) if line == f"{MASK}{value}"]
        if what in ("RunPod API key", "App private key", "PAT"):
            if not where or where[0] > first_group:
                problems.append(f"the {what} is not masked before the first API call")
        elif what == "generated SSH private key":
            if not where or where[0] > renting:
                problems.append("the generated SSH key is not masked before the pods are rented")
        elif not any(line == f"{MASK}{value}" for step in life.steps for line in step.lines):
            problems.append(f"a {what} GitHub issued was never masked")
    return problems


def test_no_secret_appears_anywhere_but_in_its_mask(
    sim: StandIn, tally: Tally, tmp_path: Path
) -> None:
    lifecycles = [
        Lifecycle("app-jit", {}),
        Lifecycle(
            "pat-token",
            {
                "github_app_id": None,
                "github_app_private_key": None,
                "github_token": sim.pat,
                "runner_registration": "token",
            },
        ),
        Lifecycle("ssh-only", {"runner": False}),
    ]
    problems: list[str] = []
    with CredentialTap(sim) as tap:
        for life in lifecycles:
            life.secrets[sim.runpod_api_key] = "RunPod API key"
            if life.name == "app-jit":
                life.secrets.update(
                    dict.fromkeys(secret_lines(sim.app_private_key_pem), "App private key")
                )
            if life.name == "pat-token":
                life.secrets[sim.pat] = "PAT"
            _run_lifecycle(sim, tap, tmp_path, life)
            found = []
            for place, text in _places(sim, life).items():
                found += [
                    f"{what} in {place}" for value, what in life.secrets.items() if value in text
                ]
                # The env input belongs on the pod and nowhere in the logs.
                if ENV_PROBE in text and not place.startswith("pod "):
                    found.append(f"the env input's value in {place}")
            order = _mask_order_problems(life)
            kinds = sorted(set(life.secrets.values()))
            tally.add(
                f"secret hygiene: {life.name} lifecycle",
                held=not found and not order,
                note=", ".join(kinds),
            )
            problems += [f"{life.name}: {p}" for p in found + order]
        problems += tap.late
    for life in lifecycles:
        saw_setup = any("bash -s" in line for line in life.commands.seen)
        assert saw_setup, (
            f"{life.name}: the sampler never saw the set-up's ssh ({life.commands.samples} samples)"
        )
        pods = [p for p in sim.all_pods() if p.name.startswith(run_of(life.steps[0].env))]
        assert pods and all(p.create_input["env"] for p in pods)
        assert all({"key": "PROBE", "value": ENV_PROBE} in p.create_input["env"] for p in pods)
    kinds = {what for life in lifecycles for what in life.secrets.values()}
    assert {
        "installation token",
        "registration token",
        "JIT config",
        "generated SSH private key",
        "PAT",
        "App private key",
    } <= kinds
    assert not problems, "\n".join(problems)
