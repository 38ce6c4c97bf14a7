"""The action's real image, built with Podman and run the way GitHub's runner runs it.

The runner starts a container action with `docker run --workdir /github/workspace`, the
inputs as `INPUT_<NAME>` variables (hyphens kept), the job's directories mounted under
/github, the file-command files inside /github/file_commands, and for the post step
`--entrypoint <post-entrypoint>` with the main step's state as `STATE_<name>` variables.
On cancel it sends SIGINT to the docker CLI (which passes it on to the container),
SIGTERM 7.5 s later, and 2.5 s after that kills the CLI process only
(actions/runner src/Runner.Sdk/ProcessInvoker.cs): the container may run on while the
post step starts with the state written so far. Before runner v2.331.0 the runner's
temp directory is not mounted at all (ContainerActionHandler.cs, actions/runner #4163):
RUNNER_TEMP then holds the host's path, and only HOME (the host's
$RUNNER_TEMP/_github_home) and the workspace are shared with later steps.
These tests do the same against the stand-in, over the host's network, and check that no
pod or runner outlives the job and no secret reaches the log.

Podman is configured by tools/podman_rig.py (also `make container`); the tests skip, with
the reason, only where Podman cannot run at all.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import runpod_ssh_action
from runpod_ssh_action.sim import SimConfig, StandIn

REPO = Path(__file__).resolve().parents[2]
TEST_CONTAINER = "runpod-ssh-action-test-"
pytestmark = [pytest.mark.container, pytest.mark.slow]


def _load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rig = _load_tool("podman_rig")

# Where the runner mounts a job's directories inside a container action.
WORKSPACE = "/github/workspace"
FILE_COMMANDS = "/github/file_commands"
HOME = "/github/home"
RUNNER_TEMP = "/github/runner_temp"
WORKFLOW = "/github/workflow"
CA_IN_CONTAINER = "/github/stand-in-ca.pem"
# Both step names link to this launcher, which execs tini in front of the step.
LAUNCHER = "/usr/local/lib/runpod-ssh-action/step.py"

# The environment the stand-in describes holds paths of the host; inside the container
# they are the mounted paths above, so these are set per step instead of forwarded.
HOST_PATHS = {
    "GITHUB_OUTPUT",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_WORKSPACE",
    "GITHUB_EVENT_PATH",
    "HOME",
    "RUNNER_TEMP",
    "REQUESTS_CA_BUNDLE",
}
FORWARDED_PREFIXES = ("INPUT_", "GITHUB_", "RUNNER_", "RUNPOD_")

# The runner's cancel: SIGINT, then SIGTERM 7.5 s later, then a kill of the CLI 2.5 s later.
SIGTERM_AFTER = 7.5
KILL_AFTER = 2.5


def parse_file_commands(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT/GITHUB_STATE file as the runner does (`k=v` and heredocs)."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
            values[name] = value
            continue
        assert heredoc > 0, f"not a file command: {line!r}"
        name, delimiter = line.split("<<", 1)
        body: list[str] = []
        for inner in lines:
            if inner == delimiter:
                break
            body.append(inner)
        else:
            raise AssertionError(f"{name}: no closing {delimiter!r}")
        values[name] = "\n".join(body)
    return values


def without_mask_commands(log: str) -> str:
    """The log as the runner prints it: `::add-mask::` lines are consumed, not shown."""
    return "\n".join(line for line in log.splitlines() if not line.startswith("::add-mask::"))


@dataclass
class Step:
    """One run of the image: its name, files and, once finished, its exit code and log."""

    name: str
    container: str
    output: Path
    state: Path
    summary: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    seconds: float = 0.0
    started: float = field(default=0.0, repr=False)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def outputs(self) -> dict[str, str]:
        return parse_file_commands(self.output.read_text())

    def saved_state(self) -> dict[str, str]:
        return parse_file_commands(self.state.read_text())

    def describe(self) -> str:
        return f"{self.name} step exited {self.returncode}; its log ends:\n{self.text()[-6000:]}"


class Job:
    """A job on a runner: the directories the runner mounts, and steps run as containers."""

    def __init__(
        self, podman: Any, root: Path, sim: StandIn, *, temp_mounted: bool = True, **inputs: Any
    ) -> None:
        self.podman = podman
        self.root = root
        self.sim = sim
        # As the runner lays them out: HOME is a folder of the runner's temp directory.
        self.host_temp = root / "runner_temp"
        self.dirs = {
            WORKSPACE: root / "workspace",
            FILE_COMMANDS: root / "file_commands",
            HOME: self.host_temp / "_github_home",
            WORKFLOW: root / "workflow",
        }
        if temp_mounted:
            self.dirs[RUNNER_TEMP] = self.host_temp
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (self.dirs[WORKFLOW] / "event.json").write_text("{}\n")
        # One environment for every step of the job: same run id, same inputs.
        described = sim.action_env(**inputs)
        self.variables = {
            name: value
            for name, value in described.items()
            if name.startswith(FORWARDED_PREFIXES) and name not in HOST_PATHS
        }
        self.variables |= {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": WORKSPACE,
            "GITHUB_EVENT_PATH": f"{WORKFLOW}/event.json",
            "HOME": HOME,
            # Unmounted, the variable keeps the host's path (no translation applies).
            "RUNNER_TEMP": RUNNER_TEMP if temp_mounted else str(self.host_temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        assert sim.ca_bundle, "the stand-in must serve TLS for these tests"
        self.ca_bundle = sim.ca_bundle
        self.steps: list[Step] = []

    def start(self, name: str, *, entrypoint: str | None = None, state: dict[str, str]) -> Step:
        """Start a step's container the way the runner does; return at once."""
        step_id = uuid.uuid4().hex
        files = self.dirs[FILE_COMMANDS]
        step = Step(
            name=name,
            container=f"{TEST_CONTAINER}{step_id[:12]}",
            output=files / f"set_output_{step_id}",
            state=files / f"save_state_{step_id}",
            summary=files / f"step_summary_{step_id}",
            log=self.root / f"{name}.log",
        )
        for path in (step.output, step.state, step.summary):
            path.touch()
        variables = self.variables | {
            "GITHUB_OUTPUT": f"{FILE_COMMANDS}/{step.output.name}",
            "GITHUB_STATE": f"{FILE_COMMANDS}/{step.state.name}",
            "GITHUB_STEP_SUMMARY": f"{FILE_COMMANDS}/{step.summary.name}",
            "GITHUB_ENV": f"{FILE_COMMANDS}/set_env_{step_id}",
            "GITHUB_PATH": f"{FILE_COMMANDS}/add_path_{step_id}",
            "REQUESTS_CA_BUNDLE": CA_IN_CONTAINER,
        }
        variables |= {f"STATE_{key}": value for key, value in state.items()}
        command = ["podman", "run", "--rm", "--name", step.container, "--network", "host"]
        command += ["--workdir", WORKSPACE]
        for inside, outside in self.dirs.items():
            command += ["-v", f"{outside}:{inside}"]
        command += ["-v", f"{self.ca_bundle}:{CA_IN_CONTAINER}:ro"]
        # Like the runner: `-e NAME` only, the value taken from podman's own environment,
        # so no secret appears on a command line.
        for variable in sorted(variables):
            command += ["-e", variable]
        if entrypoint is not None:
            command += ["--entrypoint", entrypoint]
        command.append(rig.IMAGE_TAG)
        environment = dict(self.podman.env) | variables
        with step.log.open("wb") as log:
            step.started = time.monotonic()
            step.process = subprocess.Popen(
                command, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.steps.append(step)
        return step

    def wait(self, step: Step, timeout: float) -> Step:
        assert step.process is not None
        try:
            step.returncode = step.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.podman.run(["podman", "kill", step.container], check=False)
            step.returncode = step.process.wait(timeout=60)
            pytest.fail(f"the {step.name} step ran longer than {timeout} s:\n{step.describe()}")
        step.seconds = time.monotonic() - step.started
        return step

    def run(self, name: str, *, entrypoint: str | None = None, state: dict[str, str]) -> Step:
        return self.wait(self.start(name, entrypoint=entrypoint, state=state), timeout=600)

    def container_ends_by_itself(self, step: Step, timeout: float) -> bool:
        """Whether the step's container is gone within ``timeout`` without being killed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.podman.podman("ps", "--all", "--format", "{{.Names}}")
            if step.container not in listed.split():
                return True
            time.sleep(0.5)
        return False

    def secrets(self) -> list[str]:
        key_body = self.sim.app_private_key_pem.strip().splitlines()[1]
        return [self.sim.runpod_api_key, self.sim.pat, key_body]

    def assert_no_secret_printed(self) -> None:
        for step in self.steps:
            shown = without_mask_commands(step.text())
            shown += step.output.read_text() + step.summary.read_text()
            for secret in self.secrets():
                assert secret not in shown, f"a secret reached the {step.name} step's log/outputs"

    def cleanup(self) -> None:
        for step in self.steps:
            if step.process is not None and step.process.poll() is None:
                self.podman.run(["podman", "rm", "--force", step.container], check=False)
                step.process.wait(timeout=60)


def note(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print past pytest's capture: these figures are reported, never asserted."""
    with capsys.disabled():
        print(f"\n[container] {text}")


@dataclass(frozen=True)
class Built:
    podman: Any
    seconds: float


@pytest.fixture(scope="module")
def built() -> Built:
    reason = rig.unavailable_reason()
    if reason is not None:
        pytest.skip(f"Podman cannot build the image here: {reason}")
    podman = rig.configure()
    try:
        seconds = rig.build(podman, REPO)
    except rig.RigError as error:
        pytest.fail(f"the image did not build:\n{error}")
    return Built(podman, seconds)


@pytest.fixture
def podman(built: Built) -> Any:
    return built.podman


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[StandIn]:
    # Pods boot in a few seconds so that a cancel lands while the step is still waiting.
    with StandIn(SimConfig(tls=True, boot_delay=3.0), workdir=tmp_path / "stand-in") as sim:
        yield sim


@pytest.fixture
def job_factory(podman: Any, stand_in: StandIn, tmp_path: Path) -> Iterator[Any]:
    jobs: list[Job] = []

    def make(**inputs: Any) -> Job:
        job = Job(podman, tmp_path / f"job-{len(jobs)}", stand_in, **inputs)
        jobs.append(job)
        return job

    yield make
    for job in jobs:
        job.cleanup()


def in_image(podman: Any, entrypoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command in a throw-away container of the image, without network."""
    command = ["podman", "run", "--rm", "--network", "none", "--entrypoint", entrypoint]
    result: subprocess.CompletedProcess[str] = podman.run(
        [*command, rig.IMAGE_TAG, *args], check=False, timeout=120
    )
    return result


def test_image_runs_the_cli_and_reports_size_and_start_up(
    built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    podman = built.podman
    started = time.monotonic()
    result = in_image(podman, "runpod-ssh-action", "--version")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert runpod_ssh_action.__version__ in result.stdout + result.stderr
    size = rig.image_size(podman)
    note(
        capsys,
        f"image {rig.IMAGE_TAG}: {size / 1e6:.1f} MB, built in {built.seconds:.0f} s; "
        f"`--version` from container start to exit: {seconds:.2f} s",
    )


def test_action_yml_entrypoints_start_installed_steps_through_the_launcher(podman: Any) -> None:
    action = _load_tool("render_tables").load_action(REPO / "action.yml")
    for key in ("entrypoint", "post-entrypoint"):
        name = action["runs"][key]
        resolved = in_image(podman, "readlink", "-f", name)
        assert resolved.returncode == 0, f"runs.{key} {name} is not in the image"
        assert resolved.stdout.strip() == LAUNCHER, f"runs.{key} {name} bypasses tini"
        step = f"/opt/venv/bin/{Path(name).name}"
        installed = in_image(podman, "test", "-x", step)
        assert installed.returncode == 0, f"runs.{key} {name} starts {step}: not installed"


def test_ssh_only_start_then_post_leaves_no_pod(
    job_factory: Any, stand_in: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_factory(runner="false", startup_timeout_minutes=5)

    main = job.run("main", state={})
    assert main.returncode == 0, main.describe()
    outputs = main.outputs()
    assert outputs.get("pod-id"), f"no pod-id output: {outputs}\n{main.describe()}"
    assert outputs.get("ssh-host"), f"no ssh-host output: {outputs}"
    live = {pod.id for pod in stand_in.live_pods()}
    assert set(outputs["pod-id"].split(",")) == live
    note(capsys, f"SSH-only main step (pod boot {3.0} s in the stand-in): {main.seconds:.1f} s")

    post = job.run("post", entrypoint="runpod-ssh-action-post", state=main.saved_state())
    assert post.returncode == 0, post.describe()
    stand_in.wait_for(lambda: not stand_in.live_pods(), timeout=30)
    assert stand_in.live_pods() == [], post.describe()
    job.assert_no_secret_printed()


def test_cancelled_start_then_post_leaves_no_pod_and_no_runner(
    job_factory: Any, stand_in: StandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_factory(count=2, startup_timeout_minutes=5)
    main = job.start("main", state={})
    process = main.process
    assert process is not None
    created = stand_in.wait_for(
        lambda: bool(stand_in.live_pods()) or process.poll() is not None, timeout=300
    )
    assert created and process.poll() is None, f"no pod while running:\n{main.describe()}"

    pid1 = job.podman.run(
        ["podman", "exec", main.container, "cat", "/proc/1/comm"], check=False
    ).stdout.strip()
    assert pid1 == "tini", f"PID 1 in the container is {pid1!r}, so signals may not reach Python"

    # The runner signals the CLI process (podman run passes signals on to the
    # container), and at the end kills that process only, never the container.
    cancelled = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=SIGTERM_AFTER)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=KILL_AFTER)
        except subprocess.TimeoutExpired:
            process.kill()
    job.wait(main, timeout=60)
    note(
        capsys,
        f"cancel: main step's CLI ended ({main.returncode}) "
        f"{time.monotonic() - cancelled:.1f} s after SIGINT",
    )

    # The post step starts at once, with the state as written, the container maybe
    # still tearing down beside it.
    post = job.run("post", entrypoint="runpod-ssh-action-post", state=main.saved_state())
    assert post.returncode == 0, post.describe()
    assert job.container_ends_by_itself(main, timeout=60), main.describe()
    stand_in.wait_for(lambda: not stand_in.live_pods(), timeout=30)
    assert stand_in.live_pods() == [], f"{main.describe()}\n{post.describe()}"
    assert stand_in.github.runners() == [], f"{main.describe()}\n{post.describe()}"
    left = [line for step in (main, post) for line in step.text().splitlines()]
    assert not [line for line in left if "Pod left running" in line], post.describe()
    job.assert_no_secret_printed()


def test_on_a_runner_before_2_331_the_key_reaches_later_steps_on_the_host(
    job_factory: Any, stand_in: StandIn
) -> None:
    job = job_factory(runner="false", startup_timeout_minutes=5, temp_mounted=False)

    main = job.run("main", state={})
    assert main.returncode == 0, main.describe()
    outputs = main.outputs()
    # A later `run:` step on the host expands $RUNNER_TEMP to the host's temp directory.
    host = {"RUNNER_TEMP": str(job.host_temp)}
    key = Path(outputs["ssh-key-path"].replace("$RUNNER_TEMP", host["RUNNER_TEMP"]))
    assert key.is_file(), f"ssh-key-path {outputs['ssh-key-path']} names no file on the host"
    assert key.stat().st_mode & 0o777 == 0o600
    login = subprocess.run(
        [
            "sh",
            "-c",
            outputs["ssh-command"].replace("ssh ", "ssh -o BatchMode=yes ", 1)
            + " 'echo $RUNPOD_POD_ID'",
        ],
        env=dict(os.environ) | host,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == outputs["pod-id"]

    post = job.run("post", entrypoint="runpod-ssh-action-post", state=main.saved_state())
    assert post.returncode == 0, post.describe()
    stand_in.wait_for(lambda: not stand_in.live_pods(), timeout=30)
    assert stand_in.live_pods() == []
    assert not key.exists(), "the post step left the private key behind"
    job.assert_no_secret_printed()


def test_file_commands_parse_like_the_runner() -> None:
    text = "pod-id=abc\nssh-known-hosts<<EOF_1\n[h]:22 ssh-ed25519 AAA\nline=2\nEOF_1\n\nx=a<<b\n"
    assert parse_file_commands(text) == {
        "pod-id": "abc",
        "ssh-known-hosts": "[h]:22 ssh-ed25519 AAA\nline=2",
        "x": "a<<b",
    }
    with pytest.raises(AssertionError):
        parse_file_commands("name<<END\nnever closed\n")


def test_mask_commands_are_not_part_of_the_shown_log() -> None:
    assert without_mask_commands("::add-mask::s3cret\nhello\n") == "hello"
    assert "s3cret" in without_mask_commands("echo s3cret\n")


# Kept last so that a stray container from a failed test above is reported, not hidden.
def test_no_test_container_is_left_running(podman: Any) -> None:
    def leftovers() -> list[str]:
        listed = podman.podman("ps", "--all", "--format", "{{.Names}} {{.Status}}")
        return [line for line in listed.splitlines() if line.startswith(TEST_CONTAINER)]

    # `podman run --rm` removes an exited container in its own time (conmon's clean-up),
    # so one that has just exited may still be listed for a moment; one still running a
    # minute on is left behind.
    deadline = time.monotonic() + 60
    while leftovers() and time.monotonic() < deadline:
        time.sleep(1)
    assert leftovers() == []


def test_rig_configuration_stays_outside_the_repository(podman: Any) -> None:
    for variable in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
        path = Path(podman.env[variable]).resolve()
        assert REPO not in path.parents, f"{variable} points into the repository: {path}"
        assert path.is_file()
