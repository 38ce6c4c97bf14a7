"""``python -m runpod_ssh_action.sim serve``: run the stand-in until SIGINT or SIGTERM.

Prints ``export`` lines (inputs in their underscore form, which shells accept and
the action reads too) and, with ``--port-file``, writes a JSON file with the URLs,
the CA and the admin token for other processes.
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
    return parser


def exports(sim: StandIn) -> dict[str, str]:
    env = sim.action_env()
    # Shells reject "-" in names; the action reads INPUT_RUNPOD_API_KEY as well.
    shell_env = {name.replace("-", "_"): value for name, value in env.items()}
    shell_env.update(
        RUNPOD_API_KEY=sim.runpod_api_key,
        RUNPOD_API_BASE_URL=sim.runpod_base_url,
        SIM_ADMIN_URL=sim.admin_url,
        SIM_ADMIN_TOKEN=sim.admin_token,
        SIM_SSH_USER=sim.ssh_user,
    )
    return shell_env


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
    )
    try:
        with StandIn(config, workdir=workdir) as sim:
            env = exports(sim)
            for name, value in env.items():
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
