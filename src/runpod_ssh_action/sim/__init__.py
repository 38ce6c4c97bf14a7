"""A local stand-in for RunPod and GitHub (in the spirit of moto or LocalStack).

The demo, the end-to-end tests and the benchmarks run the real action against it.
It serves RunPod's GraphQL API and GitHub's REST API over HTTPS on loopback (a
private CA, or plain HTTP for the demo), and every pod it "rents" is a real OpenSSH
server on a loopback port, so the action's SSH, runner bootstrap and teardown run
for real. It needs ``/usr/sbin/sshd`` and ``ssh-keygen`` (package openssh-server)
and, for pods that log in as root or as a throw-away user, root.

In Python::

    from runpod_ssh_action.sim import Fault, SimConfig, StandIn

    with StandIn(SimConfig(boot_delay=0.2), workdir=tmp_path) as sim:
        env = {**os.environ, **sim.action_env(mode="start", gpu_type="NVIDIA RTX A6000")}
        sim.faults.add("podFindAndDeployOnDemand", Fault.reset_after())
        ...                      # run the action with env
        assert not sim.live_pods()
    # leaving the block terminates every pod, kills what ran in them, stops the servers

From a shell (prints ``export`` lines; runs until SIGINT or SIGTERM)::

    python -m runpod_ssh_action.sim serve [--tls] [--port-file FILE] [--boot-delay S]

What it does like RunPod
    Queries are validated against ``runpod.graphql`` (HTTP 400 on an unknown field,
    e.g. ``startSSH``). A wrong key is HTTP 401 "Unauthorized"; the key may come as
    ``Authorization: Bearer`` or ``?api_key=``. Business errors are HTTP 200 with
    RunPod's own messages. Capacity is a count of free GPUs per (type, cloud,
    spot/on-demand): ``set_capacity``; ``withdraw_spot()`` makes spot disappear the
    way RunPod announced. ``runtime`` stays null until the pod has booted
    (``boot_delay``) and its sshd listens; then port 22 maps to the sshd's port on
    127.0.0.1. Each pod has its own ``RUNPOD_API_KEY`` that may read, stop and
    terminate only that pod. ``terminateAfter`` and ``stopAfter`` are enforced.
    ``preempt(pod_id)`` reclaims a pod as spot reclaims do.

Pods
    Every SSH session gets ``RUNPOD_POD_ID``, ``RUNPOD_API_KEY`` (pod-scoped),
    ``RUNPOD_PUBLIC_IP``, ``RUNPOD_TCP_PORT_22``, ``RUNPOD_GPU_COUNT`` and, with TLS,
    ``SSL_CERT_FILE``/``CURL_CA_BUNDLE``/``REQUESTS_CA_BUNDLE`` for the stand-in's CA.
    Log in with the key passed as the create input's ``PUBLIC_KEY`` env entry, as
    ``sim.ssh_user`` (root when the stand-in runs as root) or
    ``sim.unprivileged_user``. All pods share this host's file system. Stopping,
    preempting or terminating a pod kills its sshd and every process whose
    environment carries its ``RUNPOD_POD_ID`` (detached runners and watchdogs too).

Faults
    ``sim.faults.add(operation, *faults)`` queues faults for an operation: RunPod's
    GraphQL root field names (``myself``, ``pod``, ``gpuTypes``,
    ``podRentInterruptable``, ``podFindAndDeployOnDemand``, ``podResume``,
    ``podBidResume``, ``podStop``, ``podTerminate``) and GitHub's operation names
    (``actions/generate-runner-jitconfig-for-repo``, ...). The kinds are listed in
    ``faults.py``. Another process can queue them through the admin endpoint (see
    ``admin.py``) at ``sim.admin_url`` with ``sim.admin_token``.

Record
    ``sim.requests(api=None, operation=None)`` lists every request with its status,
    fault, times and the pods involved; ``sim.all_pods()`` every pod with its create
    input and the times it became ready and first took an SSH connection.
"""

import sys

try:
    import graphql  # noqa: F401
    import trustme  # noqa: F401
except ModuleNotFoundError as missing:
    _HINT = (
        f"The stand-in needs the 'sim' extra, and {missing.name} is not installed: run "
        "pip install '.[sim]' in the checkout (or pip install 'runpod-ssh-action[sim]')."
    )
    # While `python -m` looks for the package's __main__, sys.argv[0] is "-m" (Python
    # docs, "Command line and environment"): a user gets the one sentence, a program
    # importing the package the same sentence as its ImportError.
    if sys.argv[:1] == ["-m"]:
        raise SystemExit(_HINT) from None
    raise ModuleNotFoundError(_HINT, name=missing.name) from missing

from .cloud import PodInfo
from .config import DEFAULT_GPU_TYPES, GpuType, SimConfig
from .faults import Fault, FaultSchedule
from .harness import StandIn, StandInError
from .record import RequestRecord

__all__ = [
    "DEFAULT_GPU_TYPES",
    "Fault",
    "FaultSchedule",
    "GpuType",
    "PodInfo",
    "RequestRecord",
    "SimConfig",
    "StandIn",
    "StandInError",
]
