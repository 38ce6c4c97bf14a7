"""Build the action's image with Podman where no Docker engine and no registry can be used.

`make container` and the container test share this module. Podman is configured through
files of its own under a cache directory (never the repository) so that the rig works the
same on a fresh CI machine and on a developer's machine with its own Podman set-up:

- containers.conf: the runc runtime and explicit ulimits (Podman's defaults ask for limits
  that hosts with tight limits refuse);
- storage.conf: the overlay driver and a graph root inside the cache, chosen before Podman
  first runs because the driver of existing storage cannot be changed later.

No registry can be pulled from, so the base image is a Debian bookworm root file system made
with `debootstrap --variant=minbase` and imported as `localbase`; it is made once and reused
while the image exists. RUNPOD_SSH_ACTION_BASE_IMAGE names another base instead (for
example `debian:bookworm-slim` where a registry is reachable, or where debootstrap cannot
run because the user is not root).

Usage: python tools/podman_rig.py build [--tag TAG] [--context DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

IMAGE_TAG = "runpod-ssh-action:test"
LOCAL_BASE = "localbase"
BASE_OVERRIDE_VARIABLE = "RUNPOD_SSH_ACTION_BASE_IMAGE"
DEBIAN_SUITE = "bookworm"

# The build fetches packages over TLS; behind a TLS-inspecting proxy pip needs the CA that
# the host already trusts. It is handed to the build as a secret, so it never lands in a layer.
HOST_CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
"""


def storage_conf(root: Path) -> str:
    return (
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{root / "storage"}"\n'
        f'runroot = "{root / "run"}"\n'
    )


def cache_dir() -> Path:
    """Where the Podman configuration, storage and base root file system live."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runpod-ssh-action" / "podman"


class RigError(RuntimeError):
    """A step of the rig failed; the message names the command and its output."""


@dataclass(frozen=True)
class Podman:
    """Runs podman (and the tools around it) with the rig's configuration files."""

    env: Mapping[str, str]
    root: Path

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float | None = 600,
        stdin: int | None = subprocess.DEVNULL,
    ) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            list(args),
            env=dict(self.env),
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and completed.returncode != 0:
            raise RigError(
                f"`{' '.join(args)}` exited {completed.returncode}:\n"
                f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            )
        return completed

    def podman(self, *args: str, check: bool = True, timeout: float | None = 600) -> str:
        return self.run(["podman", *args], check=check, timeout=timeout).stdout


def configure(root: Path | None = None) -> Podman:
    """Write the configuration files (once) and return a Podman that uses them."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    containers = root / "containers.conf"
    storage = root / "storage.conf"
    containers.write_text(CONTAINERS_CONF)
    storage.write_text(storage_conf(root))
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(containers)
    env["CONTAINERS_STORAGE_CONF"] = str(storage)
    return Podman(env=env, root=root)


def unavailable_reason() -> str | None:
    """Why the image cannot be built here, or None when it can (checked, not guessed)."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install -y podman runc debootstrap)"
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install -y runc)"
    if not os.environ.get(BASE_OVERRIDE_VARIABLE):
        if shutil.which("debootstrap") is None and shutil.which("/usr/sbin/debootstrap") is None:
            return (
                "debootstrap is not installed, so no local base image can be made "
                f"(apt-get install -y debootstrap, or set {BASE_OVERRIDE_VARIABLE})"
            )
        if os.geteuid() != 0:
            return (
                "debootstrap needs root to make the local base image; "
                f"set {BASE_OVERRIDE_VARIABLE} to a base image Podman can pull"
            )
    rig = configure()
    info = rig.run(["podman", "info"], check=False, timeout=120)
    if info.returncode != 0:
        return f"`podman info` fails here: {info.stderr.strip()[-500:]}"
    return None


def base_image(rig: Podman) -> str:
    """The base image to build from: the override, or `localbase` made once by debootstrap."""
    override = os.environ.get(BASE_OVERRIDE_VARIABLE)
    if override:
        return override
    if rig.run(["podman", "image", "exists", LOCAL_BASE], check=False).returncode == 0:
        return LOCAL_BASE
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    with tempfile.TemporaryDirectory(dir=rig.root, prefix="rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        rig.run([debootstrap, "--variant=minbase", DEBIAN_SUITE, str(rootfs)], timeout=1200)
        # debootstrap keeps the packages it installed and the package lists; Debian's slim
        # images ship without either, so the local base matches them in size.
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / leftovers).glob("*"):
                if entry.is_file():
                    entry.unlink()
        with subprocess.Popen(
            ["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, env=dict(rig.env)
        ) as tar:
            assert tar.stdout is not None
            rig.run(["podman", "import", "-", LOCAL_BASE], stdin=tar.stdout.fileno())
        if tar.returncode != 0:
            raise RigError(f"tar of the debootstrap root file system exited {tar.returncode}")
    return LOCAL_BASE


def host_ca_bundle() -> Path | None:
    for name in HOST_CA_VARIABLES:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def build(rig: Podman, context: Path, tag: str = IMAGE_TAG) -> float:
    """Build the image from CONTEXT's Dockerfile; return the seconds the build took."""
    command = [
        "podman",
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={base_image(rig)}",
        "-t",
        tag,
        "-f",
        str(context / "Dockerfile"),
    ]
    ca = host_ca_bundle()
    if ca is not None:
        command += ["--secret", f"id=ca-bundle,src={ca}"]
    started = time.monotonic()
    rig.run([*command, str(context)], timeout=1800)
    return time.monotonic() - started


def image_size(rig: Podman, tag: str = IMAGE_TAG) -> int:
    return int(rig.podman("image", "inspect", "--format", "{{.Size}}", tag).strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--tag", default=IMAGE_TAG)
    parser.add_argument("--context", type=Path, default=Path(__file__).resolve().parents[1])
    options = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"cannot build the image: {reason}", file=sys.stderr)
        return 1
    rig = configure()
    try:
        seconds = build(rig, options.context, options.tag)
    except RigError as error:
        print(error, file=sys.stderr)
        return 1
    size = image_size(rig, options.tag)
    print(f"built {options.tag} in {seconds:.0f} s; image size {size / 1e6:.1f} MB")
    print(f"run it with CONTAINERS_CONF={rig.env['CONTAINERS_CONF']} ", end="")
    print(f"CONTAINERS_STORAGE_CONF={rig.env['CONTAINERS_STORAGE_CONF']} podman run ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
