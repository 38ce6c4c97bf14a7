"""The command line, and the container's entry points.

``runpod-ssh-action start|stop|post|reap|gpus|status|doctor [--<input> VALUE ...]`` takes
every action input as a flag of the same name; flags win over ``INPUT_*`` variables and
go through the same checks; ``doctor`` checks a set-up without renting anything. In the
action's container, ``runpod-ssh-action-main`` runs the step (what it does comes from
the ``mode`` input) and ``runpod-ssh-action-post`` the post step.

Outside Actions (``GITHUB_ACTIONS`` is not ``true``) the CLI provides what the runner
would: credentials also come from ``RUNPOD_API_KEY`` and the ``RUNPOD_SSH_ACTION_GITHUB_*``
variables, files go to the user's state directory instead of ``RUNNER_TEMP``, and a
``start`` without ``GITHUB_RUN_ID`` makes a run id up (time and chance) and remembers it,
so a later ``stop`` or ``post`` of the same user finds its pods.

Order matters: SIGINT and SIGTERM are taken over first, before the heavy imports, so
from then on a cancel only sets an event (never a KeyboardInterrupt traceback), which
every wait polls, and cleanup runs inside the runner's cancel window (PID 1 in a container gets
no default signal handlers, so without these it would not even notice); inputs are
checked before anything is spent; secrets are masked before anything else is printed.
This module therefore imports nothing heavy at the top: the console scripts load it
before ``main`` can take the signals over.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from . import __version__
from .errors import ActionError

if TYPE_CHECKING:
    from .settings import SettingsError
    from .workflow import Workflow

PROG = "runpod-ssh-action"
# A start cancelled before it began has rented nothing; the commands that end things
# still run, inside the cancel window, as they would for a later cancel.
CANCELLED_BEFORE_START = (
    "The step was cancelled before it started: the runner sent a stop signal. Nothing was rented."
)


@dataclass(frozen=True)
class CliArgs:
    command: str
    overrides: dict[str, str] = field(default_factory=dict)
    json: bool = False


# Credentials by the variables a terminal user exports; a flag or an INPUT_* variable
# wins. Not GITHUB_TOKEN (in Actions the workflow's token, which cannot register
# runners) nor GH_TOKEN (the gh CLI's, usually far broader than runners need): a name
# of its own, so no token is handed over by accident.
CREDENTIAL_VARIABLES = {
    "runpod-api-key": "RUNPOD_API_KEY",
    "github-token": "RUNPOD_SSH_ACTION_GITHUB_TOKEN",
    "github-app-id": "RUNPOD_SSH_ACTION_GITHUB_APP_ID",
    "github-app-private-key": "RUNPOD_SSH_ACTION_GITHUB_APP_PRIVATE_KEY",
}
# The commands a user types; main and post are the container's entry points.
_SHOWN_COMMANDS = ("start", "stop", "reap", "gpus", "status", "doctor")
_FLAG_GROUPS = {
    "credentials": tuple(CREDENTIAL_VARIABLES),
    "pods": (
        "count",
        "gpu-types",
        "gpu-count",
        "cloud-type",
        "capacity",
        "on-demand-fallback",
        "bid-per-gpu",
        "max-price-per-hour",
        "image",
        "container-disk-gb",
        "volume-gb",
        "min-vcpu",
        "min-memory-gb",
        "data-center-id",
        "env",
    ),
    "ssh": ("ssh-public-key", "ssh-user"),
    "runner": (
        "runner",
        "runner-scope",
        "runner-group-id",
        "runner-labels",
        "runner-registration",
        "runner-version",
        "runner-download-url",
        "runner-sha256",
        "allow-public-repository",
    ),
    "timeouts": ("startup-timeout-minutes", "max-lifetime-minutes", "idle-timeout-minutes"),
    "stop and reap": ("mode", "pod-id", "max-age-minutes", "dry-run"),
}


def _parser() -> argparse.ArgumentParser:
    from .settings import COMMANDS, INPUTS  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Rent RunPod GPU pods with SSH and an ephemeral GitHub Actions runner.",
        epilog="Every flag can also be given as an INPUT_<NAME> variable "
        "(e.g. INPUT_RUNPOD-API-KEY), and the credentials as "
        + ", ".join(CREDENTIAL_VARIABLES.values())
        + ". Prefer variables for secrets: flags show in process lists.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "command",
        choices=("main", *COMMANDS),
        metavar="{" + ",".join(c for c in COMMANDS if c in _SHOWN_COMMANDS) + "}",
        help="gpus lists GPU types and prices; status lists the pods; doctor checks a set-up",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the outputs as one JSON object on stdout"
    )
    groups = {title: parser.add_argument_group(title) for title in _FLAG_GROUPS}
    other = parser.add_argument_group("other inputs")
    for spec in INPUTS:
        title = next((t for t, names in _FLAG_GROUPS.items() if spec.name in names), None)
        (groups[title] if title else other).add_argument(
            f"--{spec.name}",
            dest=spec.field,
            metavar="VALUE",
            help=(
                spec.description + (f" Default: {spec.default}." if spec.default else "")
            ).replace("%", "%%"),
        )
    return parser


def parse_args(argv: Sequence[str]) -> CliArgs:
    """Flags by input name; only those given. Exits 2 on a usage error (argparse's way)."""
    from .settings import INPUTS  # noqa: PLC0415

    parser = _parser()
    namespace = parser.parse_args(list(argv))
    overrides = {
        spec.name: value for spec in INPUTS if (value := getattr(namespace, spec.field)) is not None
    }
    command: str = namespace.command
    if command in ("start", "stop", "reap"):
        given = overrides.get("mode")
        if given is not None and given.lower() != command:
            parser.error(f"--mode {given} contradicts the command {command}")
        overrides["mode"] = command
    return CliArgs(command, overrides, bool(namespace.json))


@contextmanager
def _cancel_on_signals(cancelled: threading.Event) -> Iterator[None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        cancelled.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None, cancelled: threading.Event | None = None) -> int:
    """Run one command. ``cancelled`` is an event a launcher may have set on a signal
    that came before this function could take the signals over."""
    cancelled = cancelled or threading.Event()
    with _cancel_on_signals(cancelled):
        return _run(sys.argv[1:] if argv is None else argv, cancelled)


def _run(argv: Sequence[str], cancelled: threading.Event) -> int:
    from .workflow import Workflow, in_actions  # noqa: PLC0415

    args = parse_args(argv)
    env = dict(os.environ)
    terminal = not in_actions(env)
    out = sys.stderr if terminal and args.json else sys.stdout
    workflow = Workflow(env, out, outputs_to=sys.stdout, json_outputs=args.json)
    try:
        if terminal and not env.get("RUNNER_TEMP"):
            from .local_state import state_dir  # noqa: PLC0415

            env["RUNNER_TEMP"] = str(state_dir(env))
        return _run_command(args, env, workflow, cancelled)
    except ActionError as exc:
        workflow.error(exc.sentence())
        return 1
    finally:
        workflow.finish()


def _credentials(env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """The overrides, plus credentials from CREDENTIAL_VARIABLES where no flag or
    INPUT_* variable gives them."""
    given = dict(overrides)
    for name, variable in CREDENTIAL_VARIABLES.items():
        upper = name.upper()
        inputs = (env.get(f"INPUT_{upper}"), env.get(f"INPUT_{upper.replace('-', '_')}"))
        value = env.get(variable, "")
        if name not in given and not any(v and v.strip() for v in inputs) and value.strip():
            given[name] = value
    return given


def _local_run_id(args: CliArgs, env: dict[str, str], workflow: Workflow) -> dict[str, str]:
    """Outside Actions, the environment for the settings: a start without GITHUB_RUN_ID
    gets a run id made up; a stop or post the one the user's last start remembered."""
    if workflow.in_actions or env.get("GITHUB_RUN_ID"):
        return env
    if args.command == "start":
        run_id = f"{int(time.time())}{secrets.randbelow(1000):03d}"
    elif args.command in ("stop", "post"):
        run_id = workflow.state("run-id") or ""
    else:
        return env
    return {**env, "GITHUB_RUN_ID": run_id} if run_id else env


def _run_command(
    args: CliArgs, env: dict[str, str], workflow: Workflow, cancelled: threading.Event
) -> int:
    from .settings import SettingsError, load_settings  # noqa: PLC0415

    settings_env = _local_run_id(args, env, workflow)
    try:
        overrides = _credentials(env, args.overrides)
        settings = load_settings(settings_env, overrides, command=args.command)
    except SettingsError as exc:
        if args.command == "post":
            # The main step failed on the same inputs before it spent anything, and
            # has said so already: the post step has nothing to clean up.
            workflow.info("Inputs are invalid (see the main step); nothing to clean up.")
            return 0
        _report_invalid(workflow, exc)
        return 1
    for secret in settings.secret_values():
        workflow.add_mask(secret)
    for note in settings.advisories():
        workflow.warning(note)
    _notice_environment(workflow)

    command = settings.mode if args.command == "main" else args.command
    if command == "start" and settings_env.get("GITHUB_RUN_ID") != env.get("GITHUB_RUN_ID"):
        run_id = settings.github_run_id
        workflow.save_state("run-id", run_id)
        workflow.info(
            f"Run id {run_id}: a later `{PROG} stop` of this user ends these pods "
            f"(from elsewhere: GITHUB_RUN_ID={run_id} {PROG} stop)."
        )
    try:
        # Imported here: the lifecycle pulls in every API client, and a bad input
        # should be reported without any of that.
        from .lifecycle import run  # noqa: PLC0415

        if command == "start" and cancelled.is_set():
            workflow.error(CANCELLED_BEFORE_START)
            return 1
        return run(command, settings, workflow, cancelled)
    except ActionError as exc:
        workflow.error(exc.sentence())
        return 1
    except Exception as exc:
        workflow.error(f"Unexpected {type(exc).__name__}: {exc}. Please report this bug.")
        workflow.debug("".join(traceback.format_exception(exc)))
        return 1


def _notice_environment(workflow: Workflow) -> None:
    """One line naming the endpoints, proxies and CA bundles the environment moved.

    A notice rather than a warning: proxies, private CAs and GHES endpoints are normal
    on self-hosted runners, and a warning on every run teaches people to skip
    warnings. A notice still lands in the run's annotations, where a value an earlier
    step slipped in through GITHUB_ENV can be seen."""
    from .transport import environment_overrides  # noqa: PLC0415

    moved = environment_overrides(os.environ)
    if moved:
        workflow.notice(
            f"The environment sets {', '.join(moved)}: the API calls go and are trusted "
            "accordingly. Check these are yours (the runner, the workflow or an earlier "
            "step through GITHUB_ENV set them).",
            title="Endpoints and trust from the environment",
        )


def _report_invalid(workflow: Workflow, exc: SettingsError) -> None:
    from .workflow import markdown_text  # noqa: PLC0415

    for error in exc.errors:
        workflow.error(error.sentence(), title="Invalid input")
    workflow.summary(
        "### runpod-ssh-action: invalid inputs\n\nNothing was started.\n\n"
        + "".join(f"- {markdown_text(e.sentence())}\n" for e in exc.errors)
    )


def main_step() -> int:
    """The container's entrypoint (action.yml ``runs.entrypoint``)."""
    return main(["main", *sys.argv[1:]])


def post_step() -> int:
    """The container's post entrypoint (action.yml ``runs.post-entrypoint``)."""
    return main(["post", *sys.argv[1:]])
