"""The stand-in on another address than 127.0.0.1, as CI serves it to the action's
Docker container (which reaches the host at the bridge's gateway): the APIs, the
certificate and the pods' sshd all answer there, and a whole SSH-only start and post
step work against it."""

from __future__ import annotations

import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runpod_ssh_action.sim import SimConfig, StandIn

from . import actionrun

# All of 127.0.0.0/8 is the loopback interface on Linux, so this needs no set-up and is
# still not the address everything defaults to.
HOST = "127.0.0.2"
NAME = "standin.test"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[StandIn]:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("OpenSSH's server is not installed (apt-get install openssh-server)")
    config = SimConfig(tls=True, boot_delay=0.3, host=HOST, cert_names=(NAME,))
    with StandIn(config, workdir=tmp_path) as stand_in:
        yield stand_in


def test_every_endpoint_and_pod_answers_on_the_given_host(elsewhere: StandIn) -> None:
    runpod = urlsplit(elsewhere.runpod_url)
    assert runpod.hostname == HOST and urlsplit(elsewhere.github_api_url).hostname == HOST
    assert elsewhere.ca_bundle is not None
    context = ssl.create_default_context(cafile=elsewhere.ca_bundle)
    for name in (HOST, NAME):
        with (
            socket.create_connection((HOST, runpod.port or 443), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version()

    env = elsewhere.action_env(runner=False, ssh_user=elsewhere.ssh_user)
    started = actionrun.run(env)
    assert started.returncode == 0, started.describe()
    assert started.outputs["ssh-host"] == HOST
    posted = actionrun.post(started)
    assert posted.returncode == 0, posted.describe()
    assert elsewhere.live_pods() == []
