"""``python -m runpod_ssh_action.sim serve``: run the stand-in until SIGINT or SIGTERM.

Prints ``export`` lines for a terminal: the endpoints, the CA, the RunPod key and the
GitHub App's credentials under the names the CLI reads there, the stand-in repository,
and the admin endpoint. ``--actions-env`` prints the whole imitation of an Actions step
instead (``GITHUB_ACTIONS=true``, the ``GITHUB_*`` files, a throw-away ``HOME``, inputs
in their underscore form): pasted into a terminal it would put the CLI in Actions mode
and move the user's home, so it is for scripts that imitate a step. With
``--port-file`` a JSON file with the URLs, the CA, the admin token and the Actions
environment is written for other processes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from ..errors import ActionError
from .config import SimConfig
from .harness import StandIn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runpod_ssh_action.sim")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the stand-in until SIGINT/SIGTERM")
    serve.add_argument("--tls", action="store_true", help="HTTPS with a private CA")
    serve.add_argument("--port-file", type=Path, help="write URLs and tokens here as JSON")
    serve.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    serve.add_argument("--boot-delay", type=float, default=SimConfig.boot_delay)
    serve.add_argument("--runner-online-delay", type=float, default=SimConfig.runner_online_delay)
    serve.add_argument("--rate-limit", action="store_true", help="enforce 100/min, 10/s per key")
    serve.add_argument("--no-spot", action="store_true", help="start with spot withdrawn")
    serve.add_argument(
        "--host",
        default=SimConfig.host,
        help="IPv4 address to listen on and to be reached at, APIs and pods alike (a Docker "
        "container action reaches the host at the bridge's gateway, e.g. 172.17.0.1)",
    )
    serve.add_argument(
        "--cert-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another name the HTTPS certificate is valid for (repeatable)",
    )
    serve.add_argument(
        "--actions-env",
        action="store_true",
        help="print the environment of an Actions step (GITHUB_ACTIONS=true, GITHUB_* "
        "files, HOME) instead of what a terminal needs",
    )
    return parser


def _admin(sim: StandIn) -> dict[str, str]:
    return {
        "RUNPOD_API_BASE_URL": sim.runpod_base_url,
        "SIM_ADMIN_URL": sim.admin_url,
        "SIM_ADMIN_TOKEN": sim.admin_token,
        "SIM_SSH_USER": sim.ssh_user,
    }


def exports(sim: StandIn) -> dict[str, str]:
    """The environment of an Actions step using the stand-in."""
    env = sim.action_env()
    # Shells reject "-" in names; the action reads INPUT_RUNPOD_API_KEY as well.
    shell_env = {name.replace("-", "_"): value for name, value in env.items()}
    shell_env.update(RUNPOD_API_KEY=sim.runpod_api_key, **_admin(sim))
    return shell_env


def terminal_exports(sim: StandIn) -> dict[str, str]:
    """What the CLI in a terminal needs to use the stand-in, and nothing of Actions."""
    env = {"RUNPOD_API_KEY": sim.runpod_api_key, "RUNPOD_GRAPHQL_URL": sim.runpod_url}
    if sim.ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = sim.ca_bundle
    if sim.config.github:
        env.update(
            GITHUB_REPOSITORY=sim.repo,
            GITHUB_API_URL=sim.github_api_url,
            GITHUB_SERVER_URL=sim.github_api_url,
            RUNPOD_SSH_ACTION_GITHUB_APP_ID=str(sim.app_id),
            RUNPOD_SSH_ACTION_GITHUB_APP_PRIVATE_KEY=sim.app_private_key_pem,
        )
    return {**env, **_admin(sim)}


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="runpod-standin-")) if temporary else args.workdir
    config = SimConfig(
        tls=args.tls,
        boot_delay=args.boot_delay,
        runner_online_delay=args.runner_online_delay,
        rate_limit=args.rate_limit,
        spot=not args.no_spot,
        host=args.host,
        cert_names=tuple(args.cert_name),
    )
    try:
        with StandIn(config, workdir=workdir) as sim:
            env = exports(sim)
            shown = env if args.actions_env else terminal_exports(sim)
            for name, value in shown.items():
                print(f"export {name}={shlex.quote(value)}")
            print("# stand-in running; stop with Ctrl-C or SIGTERM", flush=True)
            if args.port_file is not None:
                # Written whole, then renamed, so a reader never sees half a file.
                partial = args.port_file.with_name(args.port_file.name + ".partial")
                partial.write_text(
                    json.dumps(
                        {
                            "runpod_url": sim.runpod_url,
                            "github_api_url": sim.github_api_url,
                            "admin_url": sim.admin_url,
                            "admin_token": sim.admin_token,
                            "ca_bundle": sim.ca_bundle,
                            "env": env,
                        },
                        indent=2,
                    )
                )
                partial.replace(args.port_file)
            stop.wait()
            print(f"# stopping: ending {len(sim.live_pods())} pod(s)", file=sys.stderr, flush=True)
    except ActionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
