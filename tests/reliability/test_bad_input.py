"""Bad input costs nothing: every case exits 1 with one ``::error`` naming the input,
and the stand-in never sees a create call. A runner tarball that does not match its
digest stops set-up and the pod is gone before the main step ends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runpod_ssh_action.sim import StandIn

from ..e2e import actionrun as action
from .support import A6000, Tally, leak_problems, run_of, step_problems

CREATES = ("podRentInterruptable", "podFindAndDeployOnDemand")
SHA = "ab" * 32


def _small_rsa_key() -> str:
    # Too weak on purpose: the input must refuse it.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    data = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return data.decode()


@dataclass(frozen=True)
class Bad:
    kind: str
    label: str
    names: str  # the input (or environment variable) the one error must name
    inputs: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


BAD: tuple[Bad, ...] = (
    # wrong type
    Bad("wrong type", "count is a word", "count", {"count": "two"}),
    Bad("wrong type", "gpu-count is a fraction", "gpu-count", {"gpu_count": "1.5"}),
    Bad("wrong type", "runner is yes", "runner", {"runner": "yes"}),
    Bad(
        "wrong type",
        "on-demand-fallback is maybe",
        "on-demand-fallback",
        {"on_demand_fallback": "maybe"},
    ),
    Bad(
        "wrong type", "container disk is negative", "container-disk-gb", {"container_disk_gb": "-5"}
    ),
    Bad("wrong type", "price is a word", "max-price-per-hour", {"max_price_per_hour": "cheap"}),
    Bad("wrong type", "bid is zero", "bid-per-gpu", {"bid_per_gpu": "0"}),
    Bad(
        "wrong type",
        "timeout is a word",
        "startup-timeout-minutes",
        {"startup_timeout_minutes": "ten"},
    ),
    # out of range
    Bad("out of range", "count zero", "count", {"count": "0"}),
    Bad("out of range", "count 51", "count", {"count": "51"}),
    Bad("out of range", "gpu-count 9", "gpu-count", {"gpu_count": "9"}),
    Bad("out of range", "volume too big", "volume-gb", {"volume_gb": "10241"}),
    Bad("out of range", "no vCPU", "min-vcpu", {"min_vcpu": "0"}),
    Bad("out of range", "too much memory", "min-memory-gb", {"min_memory_gb": "5000"}),
    Bad(
        "out of range",
        "lifetime under 0.2",
        "max-lifetime-minutes",
        {"max_lifetime_minutes": "0.1"},
    ),
    Bad(
        "out of range", "idle under 0.05", "idle-timeout-minutes", {"idle_timeout_minutes": "0.01"}
    ),
    Bad("out of range", "runner group 0", "runner-group-id", {"runner_group_id": "0"}),
    Bad("out of range", "max-age 0", "max-age-minutes", {"mode": "reap", "max_age_minutes": "0"}),
    # not one of the choices
    Bad("not a choice", "mode destroy", "mode", {"mode": "destroy"}),
    Bad("not a choice", "cloud PRIVATE", "cloud-type", {"cloud_type": "PRIVATE"}),
    Bad("not a choice", "capacity reserved", "capacity", {"capacity": "reserved"}),
    Bad("not a choice", "scope enterprise", "runner-scope", {"runner_scope": "enterprise"}),
    Bad("not a choice", "registration pat", "runner-registration", {"runner_registration": "pat"}),
    # format
    Bad(
        "bad format or hostile text",
        "image with a shell command",
        "image",
        {"image": "ubuntu; rm -rf /"},
    ),
    Bad(
        "bad format or hostile text", "image in capitals", "image", {"image": "Ubuntu/Base:Latest"}
    ),
    Bad("bad format or hostile text", "gpu-types empty list", "gpu-types", {"gpu_types": ",,,"}),
    Bad(
        "bad format or hostile text",
        "gpu-types with $(id)",
        "gpu-types",
        {"gpu_types": "NVIDIA $(id)"},
    ),
    Bad(
        "bad format or hostile text",
        "gpu-types injecting a command",
        "gpu-types",
        {"gpu_types": "A100\n::error::pwned"},
    ),
    Bad(
        "bad format or hostile text",
        "ssh key is not a key",
        "ssh-public-key",
        {"ssh_public_key": "not a key"},
    ),
    Bad(
        "bad format or hostile text",
        "ssh key RSA 1024",
        "ssh-public-key",
        {"ssh_public_key": _small_rsa_key()},
    ),
    Bad(
        "bad format or hostile text",
        "ssh key with a second line",
        "ssh-public-key",
        {"ssh_public_key": 'ssh-ed25519 AAAA\ncommand="sh" ssh-ed25519 AAAA'},
    ),
    Bad("bad format or hostile text", "ssh user Root!", "ssh-user", {"ssh_user": "Root!"}),
    Bad("bad format or hostile text", "data centre !!", "data-center-id", {"data_center_id": "!!"}),
    Bad("bad format or hostile text", "env name starts with a digit", "env", {"env": "1BAD=x"}),
    Bad(
        "bad format or hostile text",
        "env sets PUBLIC_KEY",
        "env",
        {"env": "PUBLIC_KEY=ssh-ed25519 AAAA"},
    ),
    Bad(
        "bad format or hostile text", "env sets RUNPOD_API_KEY", "env", {"env": "RUNPOD_API_KEY=x"}
    ),
    Bad(
        "bad format or hostile text",
        "label self-hosted",
        "runner-labels",
        {"runner_labels": "self-hosted"},
    ),
    Bad(
        "bad format or hostile text",
        "label with spaces",
        "runner-labels",
        {"runner_labels": "bad label"},
    ),
    Bad(
        "bad format or hostile text", "label rpsa-", "runner-labels", {"runner_labels": "rpsa-mine"}
    ),
    Bad(
        "bad format or hostile text",
        "label with a newline command",
        "runner-labels",
        {"runner_labels": "ok\n::add-mask::x"},
    ),
    Bad(
        "bad format or hostile text",
        "runner-version v-prefixed",
        "runner-version",
        {"runner_version": "v2.330.0"},
    ),
    Bad(
        "bad format or hostile text",
        "runner-sha256 not hex",
        "runner-sha256",
        {"runner_sha256": "xyz"},
    ),
    Bad(
        "bad format or hostile text",
        "runner URL over ftp",
        "runner-download-url",
        {"runner_download_url": "ftp://example.com/r.tgz", "runner_sha256": SHA},
    ),
    Bad(
        "bad format or hostile text",
        "runner URL with $(whoami)",
        "runner-download-url",
        {"runner_download_url": "https://example.com/$(whoami).tgz", "runner_sha256": SHA},
    ),
    Bad(
        "bad format or hostile text",
        "pod id with a path",
        "pod-id",
        {"mode": "stop", "pod_id": "../../etc/passwd"},
    ),
    Bad(
        "bad format or hostile text",
        "app id is a word",
        "github-app-id",
        {"github_app_id": "my-app"},
    ),
    Bad(
        "bad format or hostile text",
        "app key is not a key",
        "github-app-private-key",
        {"github_app_private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"},
    ),
    Bad(
        "bad format or hostile text",
        "RunPod key with a space",
        "runpod-api-key",
        {"runpod_api_key": "rpa_abc def"},
    ),
    Bad(
        "bad format or hostile text",
        "RunPod key missing",
        "runpod-api-key",
        {"runpod_api_key": None},
    ),
    Bad(
        "bad format or hostile text",
        "PAT with a line break",
        "github-token",
        {"github_app_id": None, "github_app_private_key": None, "github_token": "ghp_a\nb"},
    ),
    # conflicting combinations
    Bad(
        "conflicting inputs",
        "a PAT and an App",
        "github-token",
        {"github_token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
    ),
    Bad(
        "conflicting inputs",
        "App id without its key",
        "github-app-private-key",
        {"github_app_private_key": None},
    ),
    Bad(
        "conflicting inputs",
        "a runner without credentials",
        "runner",
        {"github_app_id": None, "github_app_private_key": None},
    ),
    Bad(
        "conflicting inputs",
        "lifetime shorter than start-up",
        "max-lifetime-minutes",
        {
            "max_lifetime_minutes": "10",
            "startup_timeout_minutes": "15",
            "idle_timeout_minutes": "5",
        },
    ),
    Bad(
        "conflicting inputs",
        "idle longer than lifetime",
        "idle-timeout-minutes",
        {"idle_timeout_minutes": "100", "max_lifetime_minutes": "60"},
    ),
    Bad(
        "conflicting inputs",
        "runners for a public repository without allow-public-repository",
        "allow-public-repository",
        {"repository_visibility": "public"},
    ),
    Bad(
        "conflicting inputs",
        "a custom runner URL without SHA-256",
        "runner-sha256",
        {"runner_download_url": "https://example.com/runner.tgz", "runner_sha256": None},
    ),
    # the environment
    Bad(
        "bad environment",
        "plain HTTP RunPod API",
        "RUNPOD_GRAPHQL_URL",
        env={"RUNPOD_GRAPHQL_URL": "http://api.runpod.io/graphql"},
    ),
    Bad(
        "bad environment",
        "plain HTTP GitHub API",
        "GITHUB_API_URL",
        env={"GITHUB_API_URL": "http://github.example.com/api/v3"},
    ),
    Bad(
        "bad environment",
        "repository not owner/name",
        "GITHUB_REPOSITORY",
        env={"GITHUB_REPOSITORY": "a b"},
    ),
    Bad("bad environment", "run id not a number", "GITHUB_RUN_ID", env={"GITHUB_RUN_ID": "12ab"}),
    Bad(
        "bad environment",
        "a pin that is no SHA-256",
        "RUNPOD_API_PINS",
        env={"RUNPOD_API_PINS": "short"},
    ),
    Bad(
        "bad environment",
        "a CA bundle that is not there",
        "REQUESTS_CA_BUNDLE",
        env={"REQUESTS_CA_BUNDLE": "/no/ca.pem"},
    ),
    # wrong, but only RunPod or GitHub can tell: they still cost nothing
    Bad(
        "refused by the API",
        "a GPU type RunPod does not know",
        "gpu-types",
        {"gpu_types": "NVIDIA Imaginary 9000"},
    ),
    Bad(
        "refused by the API",
        "a RunPod key RunPod refuses",
        "runpod-api-key",
        {"runpod_api_key": "rpa_" + "X" * 44},
    ),
    Bad(
        "refused by the API", "an App id GitHub does not know", "github-app", {"github_app_id": "1"}
    ),
    Bad(
        "refused by the API",
        "a runner version with no release",
        "runner-version",
        {"runner_version": "2.1.0"},
    ),
)


def creates(sim: StandIn) -> int:
    return sum(len(sim.requests(api="runpod", operation=op)) for op in CREATES)


def test_bad_input_exits_1_with_one_error_and_creates_nothing(sim: StandIn, tally: Tally) -> None:
    assert len(BAD) >= 40
    before = creates(sim)

    def one(bad: Bad) -> tuple[Bad, list[str]]:
        env = sim.action_env(**{"gpu_types": A6000, "runner": True, **bad.inputs})
        env.update(bad.env)
        step = action.run(env, timeout=120)
        problems = step_problems(step)
        if step.returncode != 1:
            problems.append(f"exit status {step.returncode}, not 1")
        if len(step.errors) == 1 and bad.names.lower() not in step.errors[0].lower():
            problems.append(f"the error does not name {bad.names}: {step.errors[0]}")
        if problems:
            problems.append(step.describe())
        return bad, problems

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, BAD))
    for bad, problems in results:
        tally.add("bad input through the entrypoint", held=not problems, note=bad.kind)
    broken = [f"{bad.label}: " + "\n".join(problems) for bad, problems in results if problems]
    assert not broken, "\n\n".join(broken)
    assert creates(sim) == before, "a bad input reached a create call"


def test_a_tampered_runner_tarball_stops_set_up_and_ends_the_pod(
    sim: StandIn, tally: Tally
) -> None:
    env = sim.action_env(gpu_types=A6000, ssh_user=sim.ssh_user, runner_sha256="0" * 64)
    step = action.run(env)
    made = [p for p in sim.all_pods() if p.name.startswith(run_of(env))]
    # Checked before any post step runs: the main step must end the pod itself.
    problems = step_problems(step) + leak_problems(sim, env)
    tally.add("tampered runner tarball, checked after main only", held=not problems)
    assert step.returncode == 1, step.describe()
    assert not problems, "; ".join(problems) + "\n" + step.describe()
    assert made, "the start never got as far as a pod"
    assert "checksum" in step.errors[0].lower() or "sha-256" in step.errors[0].lower()
