"""Settings: every input read from INPUT_* (both forms) or flags, every rule enforced
with one sentence naming the input, and no secret ever in an error."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr, ValidationError

from runpod_ssh_action.errors import InputError
from runpod_ssh_action.settings import (
    INPUTS,
    Settings,
    SettingsError,
    load_settings,
)

API_KEY = "rpa_TESTKEY0123456789"
TOKEN = "ghp_TESTTOKEN0123456789"
BASE = {
    "INPUT_RUNPOD-API-KEY": API_KEY,
    "INPUT_GITHUB-TOKEN": TOKEN,
    "GITHUB_REPOSITORY": "octo-org/gpu-repo",
    "GITHUB_RUN_ID": "14471203377",
    "GITHUB_RUN_ATTEMPT": "1",
}


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **kwargs: object) -> str:
    encryption = kwargs.get("encryption", serialization.NoEncryption())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        encryption,  # type: ignore[arg-type]
    ).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def app_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return _pem(rsa_key)


def _ssh_pub(key: object) -> str:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def load(
    extra: dict[str, str] | None = None, *, drop: tuple[str, ...] = (), **kw: object
) -> Settings:
    env = {k: v for k, v in {**BASE, **(extra or {})}.items() if k not in drop}
    return load_settings(env, **kw)  # type: ignore[arg-type]


def errors_of(
    extra: dict[str, str], *, drop: tuple[str, ...] = (), **kw: object
) -> list[InputError]:
    with pytest.raises(SettingsError) as info:
        load(extra, drop=drop, **kw)
    return info.value.errors


# --- reading ---------------------------------------------------------------------


def test_defaults_of_every_input() -> None:
    s = load()
    assert s.mode == "start"
    assert s.runner is True
    assert s.runner_scope == "repo"
    assert s.runner_group_id == 1
    assert s.runner_labels == ()
    assert s.runner_registration == "jit"
    assert s.allow_public_repository is False
    assert s.repository_visibility == ""
    assert s.runner_version == "latest"
    assert s.gpu_types == ("NVIDIA GeForce RTX 4090",)
    assert (s.gpu_count, s.count) == (1, 1)
    assert s.cloud_type == "ALL"
    assert s.capacity == "spot"
    assert s.on_demand_fallback is True
    assert s.bid_per_gpu is None and s.max_price_per_hour is None
    assert s.image == "runpod/pytorch:2.8.0-py3.11-cuda12.8.1-cudnn-devel-ubuntu22.04"
    assert (s.container_disk_gb, s.volume_gb, s.min_vcpu, s.min_memory_gb) == (20, 0, 1, 4)
    assert s.data_center_id is None
    assert s.env == {}
    assert s.ssh_public_key is None
    assert s.ssh_user == "root"
    assert s.runner_user == ""
    assert (s.startup_timeout_minutes, s.max_lifetime_minutes, s.idle_timeout_minutes) == (
        15,
        360,
        15,
    )
    assert s.pod_id == ()
    assert s.max_age_minutes == 360
    assert s.dry_run is False
    assert s.runpod_api_url == "https://api.runpod.io/graphql"
    assert s.github_api_url == "https://api.github.com"
    assert s.github_server_url == "https://github.com"
    assert s.runpod_api_pins == frozenset() and s.github_api_pins == frozenset()
    assert s.ca_bundle is None
    assert s.runner_temp  # a temp directory even outside Actions


def test_every_declared_default_is_valid() -> None:
    env = {**{f"INPUT_{spec.name.upper()}": spec.default for spec in INPUTS}, **BASE}
    assert load_settings(env).mode == "start"


def test_hyphen_form_as_the_runner_passes_it() -> None:
    assert load({"INPUT_GPU-COUNT": "3"}).gpu_count == 3


def test_underscore_form_too() -> None:
    s = load_settings(
        {
            "INPUT_RUNPOD_API_KEY": API_KEY,
            "INPUT_GITHUB_TOKEN": TOKEN,
            "INPUT_GPU_COUNT": "4",
            "GITHUB_REPOSITORY": "a/b",
            "GITHUB_RUN_ID": "1",
        }
    )
    assert s.gpu_count == 4
    assert s.runpod_api_key.get_secret_value() == API_KEY


def test_hyphen_form_wins_and_empty_means_unset() -> None:
    assert load({"INPUT_GPU-COUNT": "2", "INPUT_GPU_COUNT": "6"}).gpu_count == 2
    assert load({"INPUT_GPU-COUNT": "", "INPUT_GPU_COUNT": "6"}).gpu_count == 6
    assert load({"INPUT_GPU-COUNT": "   "}).gpu_count == 1


def test_overrides_win_over_the_environment() -> None:
    s = load({"INPUT_GPU-COUNT": "2"}, overrides={"gpu-count": "7", "cloud-type": "secure"})
    assert s.gpu_count == 7
    assert s.cloud_type == "SECURE"


def test_an_empty_override_leaves_the_input_unset() -> None:
    assert load({"INPUT_GPU-COUNT": "2"}, overrides={"gpu-count": ""}).gpu_count == 2


def test_overrides_are_checked_like_inputs() -> None:
    errors = errors_of({}, overrides={"gpu-count": "nine"})
    assert [e.input_name for e in errors] == ["gpu-count"]


def test_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="gpu_count"):
        load(overrides={"gpu_count": "2"})


def test_the_process_environment_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_GPU-COUNT", "8")
    monkeypatch.setenv("COUNT", "9")
    s = load()
    assert (s.gpu_count, s.count) == (1, 1)


def test_values_are_trimmed() -> None:
    s = load({"INPUT_RUNPOD-API-KEY": f"  {API_KEY}\n", "INPUT_SSH-USER": " ubuntu "})
    assert s.runpod_api_key.get_secret_value() == API_KEY
    assert s.ssh_user == "ubuntu"


def test_a_runner_user_with_the_default_root_login() -> None:
    assert load({"INPUT_RUNNER-USER": " ci "}).runner_user == "ci"


def test_enums_ignore_case() -> None:
    s = load(
        {"INPUT_CLOUD-TYPE": "community", "INPUT_MODE": "START", "INPUT_CAPACITY": "On-Demand"}
    )
    assert (s.cloud_type, s.mode, s.capacity) == ("COMMUNITY", "start", "on-demand")


@pytest.mark.parametrize("text", ["true", "True", "TRUE"])
def test_true_spellings(text: str) -> None:
    assert load({"INPUT_DRY-RUN": text}).dry_run is True


def test_lists() -> None:
    s = load(
        {
            "INPUT_GPU-TYPES": (
                "NVIDIA H100 80GB HBM3,\n NVIDIA A100-SXM4-80GB\nNVIDIA RTX 6000 Ada Generation,"
            ),
            "INPUT_RUNNER-LABELS": "gpu, cuda-12.8 ,big_mem",
            "INPUT_POD-ID": "abc123def, xyz789uvw abc123def",
        }
    )
    assert s.gpu_types == (
        "NVIDIA H100 80GB HBM3",
        "NVIDIA A100-SXM4-80GB",
        "NVIDIA RTX 6000 Ada Generation",
    )
    assert s.runner_labels == ("gpu", "cuda-12.8", "big_mem")
    assert s.pod_id == ("abc123def", "xyz789uvw")


def test_env_lines() -> None:
    s = load({"INPUT_ENV": "# tuning\nOMP_NUM_THREADS=8\n\nURL=http://x/?a=b\nEMPTY="})
    assert s.env == {"OMP_NUM_THREADS": "8", "URL": "http://x/?a=b", "EMPTY": ""}


def test_amounts_and_data_center() -> None:
    s = load(
        {
            "INPUT_BID-PER-GPU": "0.35",
            "INPUT_MAX-PRICE-PER-HOUR": "2",
            "INPUT_DATA-CENTER-ID": "eu-ro-1",
        }
    )
    assert (s.bid_per_gpu, s.max_price_per_hour, s.data_center_id) == (0.35, 2.0, "EU-RO-1")


def test_environment_values() -> None:
    s = load(
        {
            "RUNPOD_GRAPHQL_URL": "http://127.0.0.1:8080/graphql",
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "GITHUB_SERVER_URL": "https://ghe.example.com",
            "GITHUB_RUN_ATTEMPT": "3",
            "RUNNER_TEMP": "/runner/temp",
            "RUNPOD_API_PINS": base64.b64encode(b"\x01" * 32).decode(),
        }
    )
    assert s.runpod_api_url == "http://127.0.0.1:8080/graphql"
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.github_run_attempt == 3
    assert s.runner_temp == "/runner/temp"
    assert s.runpod_api_pins == frozenset({base64.b64encode(b"\x01" * 32).decode()})


def test_runpod_api_url_is_the_graphql_url_only_when_it_ends_in_graphql() -> None:
    # runpodctl: RUNPOD_API_URL is the REST base, RUNPOD_GRAPHQL_URL the GraphQL URL
    # (internal/configenv/configenv.go).
    rest = load({"RUNPOD_API_URL": "https://rest.runpod.io/v1"})
    assert rest.runpod_api_url == "https://api.runpod.io/graphql"
    assert not any("RUNPOD_API_URL" in n for n in rest.advisories())
    legacy = load({"RUNPOD_API_URL": "http://127.0.0.1:9/graphql"})
    assert legacy.runpod_api_url == "http://127.0.0.1:9/graphql"
    (note,) = [n for n in legacy.advisories() if "RUNPOD_API_URL" in n]
    assert "RUNPOD_GRAPHQL_URL" in note
    both = load(
        {"RUNPOD_API_URL": "http://127.0.0.1:9/graphql", "RUNPOD_GRAPHQL_URL": "http://[::1]:9/g"}
    )
    assert both.runpod_api_url == "http://[::1]:9/g"
    assert not any("RUNPOD_API_URL" in n for n in both.advisories())


def test_ca_bundle_from_either_variable(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert load({"SSL_CERT_FILE": str(bundle)}).ca_bundle == str(bundle)
    assert load({"REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": "/nope"}).ca_bundle == str(
        bundle
    )
    # requests reads CURL_CA_BUNDLE after REQUESTS_CA_BUNDLE; so do the settings.
    assert load({"CURL_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": "/nope"}).ca_bundle == str(bundle)
    errors = errors_of({"SSL_CERT_FILE": str(tmp_path / "missing.pem")})
    assert errors[0].sentence().startswith("Environment variable 'SSL_CERT_FILE' is invalid:")


# --- credentials -----------------------------------------------------------------


def test_github_app(app_pem: str) -> None:
    s = load(
        {"INPUT_GITHUB-APP-ID": "123456", "INPUT_GITHUB-APP-PRIVATE-KEY": app_pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert s.uses_app and s.has_github_credentials
    assert s.github_app_id == "123456"
    assert s.github_app_private_key is not None
    assert "BEGIN RSA PRIVATE KEY" in s.github_app_private_key.get_secret_value()


def test_the_app_key_is_parsed_once_and_kept_for_signing(
    rsa_key: rsa.RSAPrivateKey, app_pem: str
) -> None:
    s = load(
        {"INPUT_GITHUB-APP-ID": "123456", "INPUT_GITHUB-APP-PRIVATE-KEY": app_pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )

    key = s.app_private_key
    assert key is not None
    assert key.private_numbers() == rsa_key.private_numbers()
    assert app_pem not in repr(s) and "BEGIN" not in repr(s.github_app_private_key)
    assert load(BASE).app_private_key is None


def test_an_app_key_handed_in_as_a_secret_is_checked_and_parsed_too(
    rsa_key: rsa.RSAPrivateKey, app_pem: str
) -> None:
    typed = {**dict(load(BASE)), "github_token": None, "github_app_id": "1"}
    del typed["github_app_private_key"]

    s = Settings(**typed, github_app_private_key=SecretStr(app_pem))

    assert s.app_private_key is not None
    assert s.app_private_key.private_numbers() == rsa_key.private_numbers()
    with pytest.raises(ValidationError):
        Settings(**typed, github_app_private_key=SecretStr("not a key"))


def test_app_key_with_literal_newline_escapes_and_client_id(app_pem: str) -> None:
    one_line = app_pem.strip().replace("\n", "\\n")
    s = load(
        {"INPUT_GITHUB-APP-ID": "Iv23liAbCdEf0123", "INPUT_GITHUB-APP-PRIVATE-KEY": one_line},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert s.github_app_private_key is not None
    assert s.github_app_private_key.get_secret_value() == app_pem


def test_pkcs8_app_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    s = load(
        {"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert s.uses_app


def test_token_only() -> None:
    s = load()
    assert not s.uses_app and s.has_github_credentials
    assert s.github_token is not None and s.github_token.get_secret_value() == TOKEN


def test_secret_values_lists_every_secret(app_pem: str) -> None:
    s = load(
        {"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": app_pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert s.secret_values() == [API_KEY, app_pem]
    assert load().secret_values() == [API_KEY, TOKEN]


def test_secrets_do_not_show_in_repr() -> None:
    s = load()
    assert API_KEY not in repr(s) and TOKEN not in repr(s) and API_KEY not in str(s.model_dump())


def test_ssh_only_needs_no_github_credentials() -> None:
    s = load({"INPUT_RUNNER": "false"}, drop=("INPUT_GITHUB-TOKEN",))
    assert not s.has_github_credentials


@pytest.mark.parametrize(
    "key",
    [
        ed25519.Ed25519PrivateKey.generate().public_key(),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
    ],
    ids=["ed25519", "ecdsa"],
)
def test_ssh_public_keys(key: object) -> None:
    line = _ssh_pub(key) + " me@laptop"
    assert load({"INPUT_SSH-PUBLIC-KEY": line}).ssh_public_key == line


def test_rsa_ssh_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    line = _ssh_pub(rsa_key.public_key())
    assert load({"INPUT_SSH-PUBLIC-KEY": line}).ssh_public_key == line


# --- derived values --------------------------------------------------------------


def test_repository_parts_and_targets() -> None:
    s = load()
    assert (s.github_owner, s.github_repo) == ("octo-org", "gpu-repo")
    assert s.github_target_url == "https://github.com/octo-org/gpu-repo"
    org = load({"INPUT_RUNNER-SCOPE": "org", "INPUT_RUNNER-GROUP-ID": "7"})
    assert org.github_target_url == "https://github.com/octo-org"
    assert org.runner_group_id == 7


def test_token_registration_takes_an_organization_group() -> None:
    # config.sh takes the group's name, which the start looks up from the id.
    org = {"INPUT_RUNNER-SCOPE": "org", "INPUT_RUNNER-GROUP-ID": "4"}
    s = load({"INPUT_RUNNER-REGISTRATION": "token"} | org)
    assert (s.runner_registration, s.runner_group_id) == ("token", 4)
    # Without a runner the group means nothing.
    assert load({"INPUT_RUNNER": "false", "INPUT_RUNNER-GROUP-ID": "4"}).runner is False


def _event(tmp_path: Path, payload: object) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return {"GITHUB_EVENT_PATH": str(path)}


@pytest.mark.parametrize(
    ("repository", "visibility"),
    [
        ({"private": True, "visibility": "private"}, "private"),
        ({"private": True, "visibility": "internal"}, "internal"),
        ({"private": False, "visibility": "public"}, "public"),
        ({"private": False}, "public"),  # GitHub Enterprise Server payloads without visibility
        ({"private": True}, "private"),
        ({}, ""),
    ],
)
def test_repository_visibility_from_the_event_payload(
    tmp_path: Path, repository: dict[str, object], visibility: str
) -> None:
    env = _event(tmp_path, {"action": "opened", "repository": repository})
    assert load(env, command="reap").repository_visibility == visibility


@pytest.mark.parametrize("payload", ["not json", "[]", {"repository": "x"}])
def test_an_event_payload_that_does_not_say_is_no_refusal(tmp_path: Path, payload: object) -> None:
    assert load(_event(tmp_path, payload)).repository_visibility == ""
    assert load({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}).repository_visibility == ""


def test_a_public_repository_needs_allow_public_repository(tmp_path: Path) -> None:
    public = _event(tmp_path, {"repository": {"private": False, "visibility": "public"}})
    (error,) = errors_of(public)
    sentence = error.sentence()
    assert error.input_name == "allow-public-repository"
    assert "public repository octo-org/gpu-repo" in sentence and "fork" in sentence
    assert "\n" not in sentence
    assert load(public | {"INPUT_ALLOW-PUBLIC-REPOSITORY": "true"}).allow_public_repository
    # SSH only registers no runner; stop, reap and the post step end what exists.
    assert load(public | {"INPUT_RUNNER": "false"}).runner is False
    assert load(public | {"INPUT_MODE": "stop"}).mode == "stop"
    assert load(public | {"INPUT_MODE": "reap"}).mode == "reap"
    assert load(public, command="post").mode == "start"
    # Outside Actions there is no event file, and nothing to refuse.
    assert load().repository_visibility == ""


def test_run_tag() -> None:
    assert load({"GITHUB_RUN_ATTEMPT": "2"}).run_tag.endswith("-14471203377-2")


def test_runner_version_is_latest_or_a_version() -> None:
    assert load().runner_version == "latest"
    assert (load().runner_download_url, load().runner_sha256) == (None, None)
    # A pinned version needs no runner-sha256: its release publishes the checksum.
    assert load({"INPUT_RUNNER-VERSION": "2.330.0"}).runner_version == "2.330.0"


def test_custom_runner_tarball() -> None:
    digest = hashlib.sha256(b"runner").hexdigest().upper()
    s = load(
        {
            "INPUT_RUNNER-DOWNLOAD-URL": "https://mirror.example.com/runner.tar.gz",
            "INPUT_RUNNER-SHA256": digest,
        }
    )
    assert s.runner_download_url == "https://mirror.example.com/runner.tar.gz"
    assert s.runner_sha256 == digest.lower()


def test_seconds_helpers() -> None:
    s = load({"INPUT_MAX-AGE-MINUTES": "30"})
    assert (s.startup_timeout_seconds, s.max_lifetime_seconds) == (900, 21600)
    assert (s.idle_timeout_seconds, s.max_age_seconds) == (900, 1800)


def test_repository_unknown_outside_actions() -> None:
    s = load(
        {"INPUT_MODE": "stop", "INPUT_POD-ID": "abcdef123"},
        drop=("GITHUB_REPOSITORY",),
        command="gpus",
    )
    with pytest.raises(Exception, match="GITHUB_REPOSITORY"):
        _ = s.github_owner


def test_advisories() -> None:
    s = load(
        {"INPUT_ENV": "HF_TOKEN=x\nDEBUG=1", "INPUT_MODE": "reap", "INPUT_MAX-AGE-MINUTES": "60"}
    )
    notes = s.advisories()
    assert any("HF_TOKEN" in n and "DEBUG" not in n for n in notes)
    assert any("max-age-minutes" in n for n in notes)
    assert load().advisories() == []


# --- rules: one bad input, one error naming it --------------------------------------

KEY_ED = _ssh_pub(ed25519.Ed25519PrivateKey.generate().public_key())
BAD = [
    # (extra env, dropped vars, input named, words in the rule)
    ({"INPUT_MODE": "restart"}, (), "mode", "must be start, stop or reap, got 'restart'"),
    ({"INPUT_RUNPOD-API-KEY": ""}, (), "runpod-api-key", "must be set"),
    ({"INPUT_RUNPOD-API-KEY": "rpa_abc def"}, (), "runpod-api-key", "without spaces"),
    ({"INPUT_RUNPOD-API-KEY": "rpa_abc\nrpa_def"}, (), "runpod-api-key", "line breaks"),
    ({"INPUT_RUNPOD-API-KEY": "rpa_abc\x07"}, (), "runpod-api-key", "characters"),
    ({"INPUT_GITHUB-TOKEN": "ghp abc"}, (), "github-token", "without spaces"),
    ({"INPUT_GITHUB-APP-ID": "my-app"}, (), "github-app-id", "numeric id"),
    ({"INPUT_GITHUB-APP-ID": "12$(id)"}, (), "github-app-id", "numeric id"),
    ({"INPUT_GITHUB-APP-PRIVATE-KEY": "not a key"}, (), "github-app-private-key", "does not parse"),
    ({"INPUT_RUNNER": "yes"}, (), "runner", "must be true or false, got 'yes'"),
    ({"INPUT_RUNNER-SCOPE": "enterprise"}, (), "runner-scope", "must be repo or org"),
    ({"INPUT_RUNNER-GROUP-ID": "0"}, (), "runner-group-id", "whole number from 1"),
    ({"INPUT_RUNNER-LABELS": "gpu,self-hosted"}, (), "runner-labels", "any job asking for it"),
    ({"INPUT_RUNNER-LABELS": "Linux"}, (), "runner-labels", "any job asking for it"),
    ({"INPUT_RUNNER-LABELS": "gpu,GPU"}, (), "runner-labels", "listed twice"),
    ({"INPUT_RUNNER-LABELS": "big gpu"}, (), "runner-labels", "letters, digits"),
    ({"INPUT_RUNNER-LABELS": "a::set-output"}, (), "runner-labels", "letters, digits"),
    ({"INPUT_RUNNER-LABELS": "x$(reboot)"}, (), "runner-labels", "letters, digits"),
    ({"INPUT_RUNNER-LABELS": "l" * 101}, (), "runner-labels", "up to 100"),
    ({"INPUT_RUNNER-LABELS": "rpsa-mine"}, (), "runner-labels", "prefix rpsa-"),
    ({"INPUT_RUNNER-REGISTRATION": "pat"}, (), "runner-registration", "must be jit or token"),
    ({"INPUT_RUNNER-VERSION": "newest"}, (), "runner-version", "latest or a version like"),
    ({"INPUT_RUNNER-VERSION": "v2.330.0"}, (), "runner-version", "latest or a version like"),
    (
        {"INPUT_RUNNER-DOWNLOAD-URL": "ftp://x/r.tgz", "INPUT_RUNNER-SHA256": "a" * 64},
        (),
        "runner-download-url",
        "http(s)",
    ),
    (
        {
            "INPUT_RUNNER-DOWNLOAD-URL": "http://mirror.example.com/r.tgz",
            "INPUT_RUNNER-SHA256": "a" * 64,
        },
        (),
        "runner-download-url",
        "loopback",
    ),
    (
        {
            "INPUT_RUNNER-DOWNLOAD-URL": "https://x/r.tgz'; rm -rf /'",
            "INPUT_RUNNER-SHA256": "a" * 64,
        },
        (),
        "runner-download-url",
        "characters",
    ),
    ({"INPUT_RUNNER-SHA256": "abc"}, (), "runner-sha256", "64 hexadecimal"),
    (
        {"INPUT_RUNNER-DOWNLOAD-URL": "https://mirror.example.com/r.tgz"},
        (),
        "runner-sha256",
        "custom runner-download-url",
    ),
    ({"INPUT_GPU-TYPES": " , \n"}, (), "gpu-types", "no GPU type"),
    ({"INPUT_GPU-TYPES": "NVIDIA A100\x00"}, (), "gpu-types", "not a RunPod GPU type"),
    ({"INPUT_GPU-TYPES": 'NVIDIA "A100"'}, (), "gpu-types", "not a RunPod GPU type"),
    ({"INPUT_GPU-TYPES": "G" * 101}, (), "gpu-types", "up to 100"),
    ({"INPUT_GPU-TYPES": "NVIDIA L4,nvidia l4"}, (), "gpu-types", "twice"),
    ({"INPUT_GPU-TYPES": ",".join(f"GPU {i}" for i in range(21))}, (), "gpu-types", "at most 20"),
    ({"INPUT_GPU-COUNT": "two"}, (), "gpu-count", "must be a whole number from 1 to 8, got 'two'"),
    ({"INPUT_GPU-COUNT": "9"}, (), "gpu-count", "from 1 to 8, got '9'"),
    ({"INPUT_GPU-COUNT": "1.0"}, (), "gpu-count", "whole number"),
    ({"INPUT_COUNT": "0"}, (), "count", "from 1 to 50"),
    ({"INPUT_COUNT": "51"}, (), "count", "from 1 to 50"),
    ({"INPUT_COUNT": "-1"}, (), "count", "from 1 to 50"),
    ({"INPUT_CLOUD-TYPE": "PRIVATE"}, (), "cloud-type", "ALL, SECURE or COMMUNITY"),
    ({"INPUT_CAPACITY": "reserved"}, (), "capacity", "spot or on-demand"),
    ({"INPUT_ON-DEMAND-FALLBACK": "1"}, (), "on-demand-fallback", "true or false"),
    ({"INPUT_BID-PER-GPU": "0"}, (), "bid-per-gpu", "positive amount"),
    ({"INPUT_BID-PER-GPU": "-0.2"}, (), "bid-per-gpu", "positive amount"),
    ({"INPUT_BID-PER-GPU": "nan"}, (), "bid-per-gpu", "positive amount"),
    ({"INPUT_MAX-PRICE-PER-HOUR": "1e3"}, (), "max-price-per-hour", "positive amount"),
    ({"INPUT_MAX-PRICE-PER-HOUR": "$2"}, (), "max-price-per-hour", "positive amount"),
    ({"INPUT_IMAGE": "Ubuntu:latest"}, (), "image", "container image reference"),
    ({"INPUT_IMAGE": "ubuntu:22.04;reboot"}, (), "image", "container image reference"),
    ({"INPUT_CONTAINER-DISK-GB": "0"}, (), "container-disk-gb", "from 1"),
    ({"INPUT_VOLUME-GB": "lots"}, (), "volume-gb", "whole number"),
    ({"INPUT_MIN-VCPU": "0"}, (), "min-vcpu", "from 1"),
    ({"INPUT_MIN-MEMORY-GB": "4.5"}, (), "min-memory-gb", "whole number"),
    ({"INPUT_DATA-CENTER-ID": "EU RO 1"}, (), "data-center-id", "data center id"),
    ({"INPUT_DATA-CENTER-ID": "EU-RO-1\n::stop"}, (), "data-center-id", "data center id"),
    ({"INPUT_ENV": "JUST_A_WORD"}, (), "env", "KEY=VALUE"),
    ({"INPUT_ENV": "1ABC=x"}, (), "env", "POSIX variable name"),
    ({"INPUT_ENV": "A-B=x"}, (), "env", "POSIX variable name"),
    ({"INPUT_ENV": "PUBLIC_KEY=ssh-ed25519 AAAA"}, (), "env", "sets PUBLIC_KEY"),
    ({"INPUT_ENV": "RUNPOD_API_KEY=x"}, (), "env", "sets RUNPOD_API_KEY"),
    ({"INPUT_ENV": "A=1\nA=2"}, (), "env", "second time"),
    (
        {"INPUT_SSH-PUBLIC-KEY": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"},
        (),
        "ssh-public-key",
        "OpenSSH public key",
    ),
    ({"INPUT_SSH-PUBLIC-KEY": "ssh-ed25519 bm90IGEga2V5"}, (), "ssh-public-key", "does not parse"),
    ({"INPUT_SSH-PUBLIC-KEY": KEY_ED + "\n" + KEY_ED}, (), "ssh-public-key", "line breaks"),
    (
        {"INPUT_SSH-PUBLIC-KEY": 'command="sh" ' + KEY_ED},
        (),
        "ssh-public-key",
        "OpenSSH public key",
    ),
    ({"INPUT_SSH-USER": "Root"}, (), "ssh-user", "POSIX user name"),
    ({"INPUT_SSH-USER": "user;id"}, (), "ssh-user", "POSIX user name"),
    ({"INPUT_RUNNER-USER": "CI"}, (), "runner-user", "POSIX user name"),
    ({"INPUT_RUNNER-USER": "root"}, (), "runner-user", "what an empty runner-user gives"),
    (
        {"INPUT_RUNNER-USER": "ci", "INPUT_SSH-USER": "ubuntu"},
        (),
        "runner-user",
        "needs ssh-user: root",
    ),
    (
        {"INPUT_RUNNER-USER": "ci", "INPUT_RUNNER": "false"},
        (),
        "runner-user",
        "runner is false",
    ),
    ({"INPUT_STARTUP-TIMEOUT-MINUTES": "0"}, (), "startup-timeout-minutes", "from 0.1 to 120"),
    ({"INPUT_STARTUP-TIMEOUT-MINUTES": "1e3"}, (), "startup-timeout-minutes", "got '1e3'"),
    ({"INPUT_IDLE-TIMEOUT-MINUTES": "0.01"}, (), "idle-timeout-minutes", "from 0.05"),
    ({"INPUT_MAX-LIFETIME-MINUTES": "20000"}, (), "max-lifetime-minutes", "from 0.2 to 10080"),
    (
        {"INPUT_RUNNER-REGISTRATION": "token", "INPUT_RUNNER-GROUP-ID": "4"},
        (),
        "runner-group-id",
        "repository runners have only the default group",
    ),
    ({"INPUT_RUNNER-GROUP-ID": "4"}, (), "runner-group-id", "only the default group"),
    (
        {"INPUT_MAX-LIFETIME-MINUTES": "15"},
        (),
        "max-lifetime-minutes",
        "more than startup-timeout-minutes (15)",
    ),
    (
        {"INPUT_IDLE-TIMEOUT-MINUTES": "400"},
        (),
        "idle-timeout-minutes",
        "not exceed max-lifetime-minutes (360)",
    ),
    ({"INPUT_POD-ID": "ABCDEF123"}, (), "pod-id", "not a RunPod pod id"),
    ({"INPUT_POD-ID": "abc"}, (), "pod-id", "6 to 32"),
    ({"INPUT_POD-ID": "abcdef1'; x"}, (), "pod-id", "not a RunPod pod id"),
    ({"INPUT_MAX-AGE-MINUTES": "0"}, (), "max-age-minutes", "from 1"),
    ({"INPUT_DRY-RUN": "maybe"}, (), "dry-run", "true or false"),
    ({}, ("INPUT_GITHUB-TOKEN",), "runner", "needs GitHub credentials"),
]
BAD_ENV = [
    ({"GITHUB_REPOSITORY": "just-a-name"}, (), "GITHUB_REPOSITORY", "owner/name"),
    ({}, ("GITHUB_REPOSITORY",), "GITHUB_REPOSITORY", "must be set"),
    ({"GITHUB_RUN_ID": "12a"}, (), "GITHUB_RUN_ID", "run's number"),
    ({}, ("GITHUB_RUN_ID",), "GITHUB_RUN_ID", "must be set"),
    ({"GITHUB_RUN_ATTEMPT": "0"}, (), "GITHUB_RUN_ATTEMPT", "from 1"),
    ({"RUNPOD_GRAPHQL_URL": "http://api.runpod.io/graphql"}, (), "RUNPOD_GRAPHQL_URL", "loopback"),
    ({"RUNPOD_API_URL": "http://api.runpod.io/graphql"}, (), "RUNPOD_API_URL", "loopback"),
    ({"GITHUB_API_URL": "api.github.com"}, (), "GITHUB_API_URL", "http(s) URL"),
    ({"GITHUB_SERVER_URL": "https://github.com/$(id)"}, (), "GITHUB_SERVER_URL", "characters"),
    ({"GITHUB_API_PINS": "not-a-pin"}, (), "GITHUB_API_PINS", "base64 SHA-256"),
    ({"RUNPOD_API_PINS": base64.b64encode(b"x" * 16).decode()}, (), "RUNPOD_API_PINS", "base64"),
]


@pytest.mark.parametrize(
    ("extra", "drop", "name", "words"), BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input(extra: dict[str, str], drop: tuple[str, ...], name: str, words: str) -> None:
    errors = errors_of(extra, drop=drop)
    assert [e.input_name for e in errors] == [name]
    sentence = errors[0].sentence()
    assert sentence.startswith(f"Input '{name}' is invalid: ")
    assert words in sentence
    assert "\n" not in sentence and sentence.endswith(".")
    # The input's name, never the model's field name.
    field = name.replace("-", "_")
    assert field == name or field not in sentence


@pytest.mark.parametrize(
    ("extra", "drop", "name", "words"), BAD_ENV, ids=[b[2] + str(i) for i, b in enumerate(BAD_ENV)]
)
def test_bad_environment(
    extra: dict[str, str], drop: tuple[str, ...], name: str, words: str
) -> None:
    errors = errors_of(extra, drop=drop)
    assert [e.input_name for e in errors] == [name]
    assert errors[0].sentence().startswith(f"Environment variable '{name}' is invalid: ")
    assert words in errors[0].sentence()


def test_at_least_forty_distinct_bad_inputs() -> None:
    assert len(BAD) + len(BAD_ENV) >= 40
    assert len({b[2] for b in BAD}) >= 30


def test_app_key_that_is_not_rsa() -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    errors = errors_of(
        {"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert [e.input_name for e in errors] == ["github-app-private-key"]
    assert "not an RSA private key" in errors[0].sentence()


def test_encrypted_app_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key, encryption=serialization.BestAvailableEncryption(b"pw"))
    errors = errors_of(
        {"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": pem},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert "encrypted" in errors[0].sentence()


def test_short_rsa_ssh_key() -> None:
    # A weak key on purpose: the rule under test refuses it.
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    errors = errors_of({"INPUT_SSH-PUBLIC-KEY": _ssh_pub(small.public_key())})
    assert "1024 bits" in errors[0].sentence()


def test_app_id_without_key_and_key_without_id(app_pem: str) -> None:
    [error] = errors_of({"INPUT_GITHUB-APP-ID": "1"}, drop=("INPUT_GITHUB-TOKEN",))
    assert error.input_name == "github-app-private-key"
    [error] = errors_of({"INPUT_GITHUB-APP-PRIVATE-KEY": app_pem}, drop=("INPUT_GITHUB-TOKEN",))
    assert error.input_name == "github-app-id"


def test_app_and_token_together(app_pem: str) -> None:
    [error] = errors_of({"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": app_pem})
    assert error.sentence() == (
        "Input 'github-token' is invalid: is given together with a GitHub App. Give a GitHub "
        "App (github-app-id and github-app-private-key) or github-token, not both."
    )


# --- secrets never in errors ----------------------------------------------------------


def test_secrets_never_appear_in_errors(app_pem: str) -> None:
    marker = "SUPERSECRETVALUE"
    broken_pem = app_pem.replace("MII", marker, 1)
    env = {
        "INPUT_RUNPOD-API-KEY": f"rpa_{marker} x",
        "INPUT_GITHUB-TOKEN": f"ghp_{marker}\nmore",
        "INPUT_GITHUB-APP-ID": "1",
        "INPUT_GITHUB-APP-PRIVATE-KEY": broken_pem,
    }
    with pytest.raises(SettingsError) as info:
        load(env)
    text = " ".join([str(info.value), repr(info.value), *(e.sentence() for e in info.value.errors)])
    assert marker not in text
    assert {e.input_name for e in info.value.errors} >= {
        "runpod-api-key",
        "github-token",
        "github-app-private-key",
    }


def test_garbage_private_key_is_not_echoed() -> None:
    secret = "-----BEGIN RSA PRIVATE KEY-----\nSECRETBODY\n-----END RSA PRIVATE KEY-----"
    [error] = errors_of(
        {"INPUT_GITHUB-APP-ID": "1", "INPUT_GITHUB-APP-PRIVATE-KEY": secret},
        drop=("INPUT_GITHUB-TOKEN",),
    )
    assert "SECRETBODY" not in error.sentence()
    assert error.sentence() == (
        "Input 'github-app-private-key' is invalid: does not parse as a PEM private key. "
        "Paste the whole .pem file the App's settings page generated into the secret."
    )


# --- all errors in one pass, without knock-on effects -------------------------------


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of(
        {
            "INPUT_GPU-COUNT": "two",
            "INPUT_COUNT": "100",
            "INPUT_GITHUB-APP-ID": "77",
            "INPUT_MAX-LIFETIME-MINUTES": "10",
        }
    )
    assert [e.input_name for e in errors] == [
        "gpu-count",
        "count",
        "github-token",
        "github-app-private-key",
        "max-lifetime-minutes",
        "idle-timeout-minutes",
    ]


def test_rules_skip_fields_that_are_bad_on_their_own() -> None:
    # max-lifetime "abc" fails on its own: the rule comparing it with the timeouts must
    # not add a second, confusing error.
    errors = errors_of({"INPUT_MAX-LIFETIME-MINUTES": "abc", "INPUT_IDLE-TIMEOUT-MINUTES": "400"})
    assert [e.input_name for e in errors] == ["max-lifetime-minutes"]
    errors = errors_of({"INPUT_RUNNER-VERSION": "x"})
    assert [e.input_name for e in errors] == ["runner-version"]


def test_settings_error_is_one_readable_action_error() -> None:
    with pytest.raises(SettingsError) as info:
        load({"INPUT_GPU-COUNT": "two", "INPUT_COUNT": "0"})
    assert info.value.code == "BAD_INPUT"
    assert "gpu-count, count" in info.value.sentence()


# --- what each command needs ---------------------------------------------------------


def test_stop_by_pod_id_needs_no_run() -> None:
    s = load(
        {"INPUT_MODE": "stop", "INPUT_POD-ID": "abcdef123"},
        drop=("GITHUB_RUN_ID",),
    )
    assert s.pod_id == ("abcdef123",)


def test_stop_by_name_needs_the_run() -> None:
    [error] = errors_of({"INPUT_MODE": "stop"}, drop=("GITHUB_RUN_ID",))
    assert error.input_name == "GITHUB_RUN_ID"


def test_reap_needs_the_repository_but_no_github_credentials() -> None:
    s = load({"INPUT_MODE": "reap"}, drop=("INPUT_GITHUB-TOKEN", "GITHUB_RUN_ID"))
    assert s.mode == "reap"
    [error] = errors_of({"INPUT_MODE": "reap"}, drop=("GITHUB_REPOSITORY",))
    assert error.input_name == "GITHUB_REPOSITORY"


def test_gpus_needs_only_the_api_key() -> None:
    env = {"INPUT_RUNPOD-API-KEY": API_KEY}
    assert load_settings(env, command="gpus").runpod_api_key.get_secret_value() == API_KEY
    with pytest.raises(SettingsError):
        load_settings(env, command="start")


def test_post_checks_what_the_main_step_checked() -> None:
    env = {"INPUT_RUNPOD-API-KEY": API_KEY, "INPUT_MODE": "reap", "GITHUB_REPOSITORY": "a/b"}
    assert load_settings(env, command="post").mode == "reap"
    assert load_settings(env, command="main").mode == "reap"
    with pytest.raises(SettingsError):
        load_settings({**env, "INPUT_MODE": "start"}, command="post")


def test_unknown_command_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown command"):
        load(command="launch")


def test_input_table_matches_the_model() -> None:
    names = [spec.name for spec in INPUTS]
    assert len(names) == len(set(names)) == 38
    assert all(spec.description.endswith(".") for spec in INPUTS)
    assert {s.name for s in INPUTS if s.secret} == {
        "runpod-api-key",
        "github-app-private-key",
        "github-token",
    }
    assert [s.name for s in INPUTS if s.required] == ["runpod-api-key"]
