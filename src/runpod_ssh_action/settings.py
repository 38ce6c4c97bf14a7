"""The action's interface: its inputs, typed and validated in one place, and its outputs.

Inputs arrive as ``INPUT_<NAME>`` environment variables (upper-cased, hyphens kept, as
the runner passes them to a container action; the underscore form is read too) or as
CLI flags of the same names. An empty value means "not set". Everything is checked
here, before a cent is spent: ``load_settings`` raises ``SettingsError`` holding one
sentence per broken rule, each naming the input (never a field name) and never
quoting a secret.

Two kinds of check run: each field on its own (a pydantic validator per field), then
the rules between inputs and the environment the chosen command needs. When a field is
bad, the rules that involve it are skipped, so every error is reported in one pass and
none is a knock-on effect of another.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import (
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ActionError, InputError
from .naming import run_tag
from .transport import CA_BUNDLE_VARIABLES, check_endpoint, runpod_graphql_url_variable
from .transport import RUNPOD_GRAPHQL_URL_ENV as GRAPHQL_URL_ENV
from .transport import RUNPOD_LEGACY_URL_ENV as LEGACY_URL_ENV

# GitHub refuses a runner version about 30 days after a newer release (actions/runner
# #4305), so the default is resolved per start from GitHub's release API.
DEFAULT_RUNNER_VERSION = "latest"
# The labels config.sh gives every runner unless told not to. The action's runners do
# without them: a runner carrying one takes any job asking for it, a fork's included.
RESERVED_LABELS = ("self-hosted", "linux", "x64")
# Names the action sets in the pod's environment itself (RunPod owns RUNPOD_*).
RESERVED_ENV = ("PUBLIC_KEY",)
RESERVED_ENV_PREFIX = "RUNPOD_"

Mode = Literal["start", "stop", "reap"]
# What a process was asked to do: a mode, the post step, or a terminal-only command.
COMMANDS = ("start", "stop", "post", "reap", "gpus", "status", "doctor")
# What pods of an SSH-only start outside Actions, which has no repository, are named after.
LOCAL_REPOSITORY = "local/terminal"

# The action's outputs, as action.yml documents them.
OUTPUTS: Mapping[str, str] = {
    "pod-id": "Id of the pod; comma-separated when count > 1.",
    "ssh-host": "Public IP address of the first pod's SSH port.",
    "ssh-port": "Public port of the first pod's SSH server.",
    "ssh-user": "Login user on the pods.",
    "ssh-command": "A ready ssh command line for the first pod.",
    "ssh-key-path": "Path of the generated private key (only when ssh-public-key was not given).",
    "ssh-known-hosts": "known_hosts lines with the pods' host keys, as seen at the first login.",
    "runner-label": "The label every runner of this start carries; use it in runs-on.",
    "runner-name": "Name of the first pod's runner.",
    "runner-id": "Id of the first pod's runner.",
    "gpu-type": "GPU type id the pods got.",
    "capacity": "spot or on-demand: how the pods were rented.",
    "cost-per-hour": "USD per hour of all pods together; each pod's own price is in pods.",
    "pods": (
        "JSON array with one object per pod: id, ssh host and port, gpu type, runner name and id."
    ),
}


# --- how a field is read and parsed ------------------------------------------------


class _RuleError(ValueError):
    """A broken rule, worded to follow "Input 'x' is invalid: "."""

    def __init__(self, rule: str, fix: str = ""):
        super().__init__(rule)
        self.rule = rule
        self.fix = fix


Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Input:
    """Field metadata: this field is the action input of the same name in kebab-case."""

    default: str
    parse: Parser
    description: str
    required: bool = False


@dataclass(frozen=True)
class Environment:
    """Field metadata: this field comes from the first of ``variables`` that is set."""

    variables: tuple[str, ...]
    parse: Parser
    default: str = ""

    def variable(self, env: Mapping[str, str]) -> str:
        """The variable a value was read from (the first one if none is set)."""
        return next((v for v in self.variables if env.get(v)), self.variables[0])

    def read(self, env: Mapping[str, str]) -> str:
        return env.get(self.variable(env)) or self.default


def _legacy_graphql_url(env: Mapping[str, str]) -> bool:
    return runpod_graphql_url_variable(env) == LEGACY_URL_ENV


@dataclass(frozen=True)
class _GraphQLEndpoint(Environment):
    def variable(self, env: Mapping[str, str]) -> str:
        return LEGACY_URL_ENV if _legacy_graphql_url(env) else GRAPHQL_URL_ENV


@dataclass(frozen=True)
class _LegacyGraphQLEndpoint(Environment):
    """True when the GraphQL URL came from RUNPOD_API_URL, worth a warning."""

    def read(self, env: Mapping[str, str]) -> str:
        return "true" if _legacy_graphql_url(env) else "false"


def _shown(value: str, limit: int = 40) -> str:
    """A user value fit to quote in a one-line message: short, control chars escaped."""
    text = value if len(value) <= limit else value[: limit - 3] + "..."
    return "'" + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text) + "'"


def _or(options: tuple[str, ...]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _choice(*options: str) -> Parser:
    by_key = {o.lower(): o for o in options}

    def parse(value: str) -> str:
        try:
            return by_key[value.lower()]
        except KeyError:
            raise _RuleError(f"must be {_or(options)}, got {_shown(value)}") from None

    return parse


def _boolean(value: str) -> bool:
    # The same spellings as @actions/core getBooleanInput (YAML 1.2 core schema).
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    raise _RuleError(f"must be true or false, got {_shown(value)}")


_DIGITS = re.compile(r"[0-9]+")


def _integer(low: int, high: int) -> Parser:
    def parse(value: str) -> int:
        number = int(value) if _DIGITS.fullmatch(value) and len(value) <= 9 else None
        if number is None or not low <= number <= high:
            raise _RuleError(f"must be a whole number from {low} to {high}, got {_shown(value)}")
        return number

    return parse


_MINUTES = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?")


def _minutes(low: float, high: int) -> Parser:
    """Whole or decimal minutes: short spans make quick dry runs against the stand-in."""

    def parse(value: str) -> float:
        number = float(value) if _MINUTES.fullmatch(value) else None
        if number is None or not low <= number <= high:
            raise _RuleError(
                f"must be a number of minutes from {low:g} to {high}, got {_shown(value)}"
            )
        return number

    return parse


_AMOUNT = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?|\.[0-9]{1,6}")


def _amount(value: str) -> float | None:
    if not value:
        return None
    if not _AMOUNT.fullmatch(value) or float(value) <= 0:
        raise _RuleError(f"must be a positive amount in USD such as 0.35, got {_shown(value)}")
    return float(value)


def _optional(parse: Parser) -> Parser:
    def wrapped(value: str) -> Any:
        return parse(value) if value else None

    return wrapped


def _pattern(regex: str, rule: str, *, upper: bool = False) -> Parser:
    compiled = re.compile(regex)

    def parse(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _RuleError(f"{rule}, got {_shown(value)}")
        return value.upper() if upper else value

    return parse


def _single_token(what: str) -> Callable[[str], None]:
    """Checks for a credential: one line, no spaces, printable ASCII. Never shows it."""

    def check(value: str) -> None:
        if any(c.isspace() for c in value):
            raise _RuleError(
                f"{what} must be one token without spaces or line breaks",
                "Check the secret for a pasted label or an extra line",
            )
        if not value.isascii() or not value.isprintable():
            raise _RuleError(f"{what} contains characters no such key has", "Copy the key again")

    return check


def _runpod_api_key(value: str) -> SecretStr:
    if not value:
        raise _RuleError(
            "must be set",
            "Pass your RunPod API key from a secret: runpod-api-key: ${{ secrets.RUNPOD_API_KEY }}",
        )
    # Keys made since late 2024 start with rpa_, older ones do not: the prefix is no
    # test, and RunPod's own answer to `myself` is the real check.
    _single_token("the API key")(value)
    return SecretStr(value)


def _github_token(value: str) -> SecretStr | None:
    if not value:
        return None
    _single_token("the token")(value)
    return SecretStr(value)


def _app_id(value: str) -> str | None:
    if not value:
        return None
    if re.fullmatch(r"[0-9]{1,12}|Iv[0-9A-Za-z.]{1,40}", value):
        return value
    raise _RuleError(
        f"must be the App's numeric id or its client id (Iv...), got {_shown(value)}",
        "Find both on the App's settings page",
    )


class AppPrivateKey(SecretStr):
    """The App's PEM text, kept secret, with the RSA key parsed from it.

    Each parse runs RSA's key checks (60-90 ms), so the key parsed to check the input
    is the one that signs the App's JWT.
    """

    def __init__(self, pem: str, key: rsa.RSAPrivateKey):
        super().__init__(pem)
        self.key = key


def _app_private_key(value: str) -> AppPrivateKey | None:
    if not value:
        return None
    # A PEM never contains a backslash, so "\n" escapes (a key stored on one line) can
    # only be meant as line breaks.
    pem = value.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n").strip()
    fix = "Paste the whole .pem file the App's settings page generated into the secret"
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise _RuleError(
            "the private key is encrypted", "Give the key without a passphrase"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise _RuleError("does not parse as a PEM private key", fix) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _RuleError("is not an RSA private key, which GitHub Apps use", fix)
    return AppPrivateKey(pem + "\n", key)


_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _labels(value: str) -> tuple[str, ...]:
    labels = tuple(part.strip() for part in value.split(",") if part.strip())
    seen: set[str] = set()
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise _RuleError(
                f"label {_shown(label)} must be up to 100 letters, digits, '.', '_' or '-'"
                " (labels are comma-separated)"
            )
        key = label.lower()
        if key in RESERVED_LABELS:
            raise _RuleError(
                f"label {_shown(label)} would let any job asking for it take the pods, "
                "a fork's pull request included",
                "Remove it from runner-labels and use the output runner-label in runs-on",
            )
        if key.startswith("rpsa-"):
            raise _RuleError(
                f"label {_shown(label)} uses the prefix rpsa-, which the action keeps for "
                "its own run labels"
            )
        if key in seen:
            raise _RuleError(f"label {_shown(label)} is listed twice (labels ignore case)")
        seen.add(key)
    return labels


_GPU_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+/-]{0,99}")
_MAX_GPU_TYPES = 20


def _gpu_types(value: str) -> tuple[str, ...]:
    types = tuple(part.strip() for part in re.split(r"[,\n]", value) if part.strip())
    if not types:
        raise _RuleError(
            "lists no GPU type", "Give RunPod GPU type ids such as NVIDIA GeForce RTX 4090"
        )
    if len(types) > _MAX_GPU_TYPES:
        raise _RuleError(f"lists {len(types)} GPU types; at most {_MAX_GPU_TYPES} are tried")
    for gpu in types:
        if not _GPU_TYPE.fullmatch(gpu):
            raise _RuleError(
                f"GPU type {_shown(gpu)} is not a RunPod GPU type id (up to 100 letters, "
                "digits, spaces and . _ ( ) + / -)",
                "Run the gpus command to list the ids",
            )
    if len({t.lower() for t in types}) != len(types):
        raise _RuleError("lists a GPU type twice")
    return types


def _url(name: str) -> Parser:
    def parse(value: str) -> str | None:
        if not value:
            return None
        # The URL reaches a shell script on the pod: no character a shell treats
        # specially, whatever the quoting there.
        if re.search(r"[\s\"'`$\\<>;|&]", value) or not value.isprintable():
            raise _RuleError(f"{_shown(value)} holds characters a URL here may not have")
        try:
            return check_endpoint(value, name).rstrip("/")
        except InputError as exc:
            raise _RuleError(exc.why, exc.fix) from None

    return parse


def _api_url(name: str) -> Parser:
    parse_url = _url(name)

    def parse(value: str) -> str:
        url = parse_url(value)
        if url is None:
            raise _RuleError("must not be empty")
        return str(url)

    return parse


def _sha256(value: str) -> str | None:
    if not value:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise _RuleError("must be a SHA-256 digest: 64 hexadecimal digits")
    return value.lower()


_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?/)?"
    rf"{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?"
)


def _image(value: str) -> str:
    if len(value) > 255 or not _IMAGE.fullmatch(value):
        raise _RuleError(
            f"{_shown(value)} is not a container image reference like "
            "registry/name:tag or name@sha256:digest"
        )
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env(value: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for number, line in enumerate(value.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, content = line.partition("=")
        name = name.strip()
        if not sep or not _ENV_NAME.fullmatch(name):
            raise _RuleError(
                f"line {number} is not KEY=VALUE with a POSIX variable name "
                "(letters, digits, _; not starting with a digit)"
            )
        if name in RESERVED_ENV or name.upper().startswith(RESERVED_ENV_PREFIX):
            raise _RuleError(
                f"line {number} sets {name}, which the action or RunPod sets itself",
                "Remove that line",
            )
        if "\x00" in content:
            raise _RuleError(f"line {number} holds a NUL character")
        if name in result:
            raise _RuleError(f"line {number} sets {name} a second time")
        result[name] = content
    return result


_SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
_MIN_RSA_BITS = 2048


def _ssh_public_key(value: str) -> str | None:
    if not value:
        return None
    rule = "must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)"
    # One line only: the key is appended to authorized_keys, where a second line would
    # be a second key (or one with options).
    if "\n" in value or "\r" in value or not value.isprintable():
        raise _RuleError(rule + " without line breaks or control characters")
    parts = value.split()
    if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES:
        raise _RuleError(rule, "Give the contents of the .pub file, not the private key")
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, UnsupportedAlgorithm):
        raise _RuleError(rule + "; its key data does not parse") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        raise _RuleError(
            f"is an RSA key of {key.key_size} bits; at least {_MIN_RSA_BITS} are needed"
        )
    return " ".join(parts)


def _runner_user(value: str) -> str:
    if not value:
        return value
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise _RuleError(f"must be a POSIX user name like ci, got {_shown(value)}")
    if value == "root":
        raise _RuleError(
            "names root, which is what an empty runner-user gives",
            "Leave runner-user empty, or name an unprivileged user such as ci",
        )
    return value


def _pod_ids(value: str) -> tuple[str, ...]:
    ids = [part for part in re.split(r"[\s,]+", value) if part]
    for pod in ids:
        if not re.fullmatch(r"[a-z0-9]{6,32}", pod):
            raise _RuleError(
                f"pod id {_shown(pod)} is not a RunPod pod id "
                "(6 to 32 lowercase letters and digits; ids are comma-separated)"
            )
    return tuple(dict.fromkeys(ids))


def _repository(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", value):
        raise _RuleError(f"must be owner/name, got {_shown(value)}")
    return value


def _run_id(value: str) -> str:
    if value and not re.fullmatch(r"[0-9]{1,20}", value):
        raise _RuleError(f"must be the workflow run's number, got {_shown(value)}")
    return value


def _run_attempt(value: str) -> int:
    return int(_integer(1, 99999)(value or "1"))


def _runner_temp(value: str) -> str:
    return value or tempfile.gettempdir()


def _ca_bundle(value: str) -> str | None:
    if not value:
        return None
    if not os.path.isfile(value):
        raise _RuleError(f"names a file that does not exist: {_shown(value, 120)}")
    return value


def _event_repository_visibility(path: str) -> str:
    """public, private or internal, from the event payload the runner writes at
    GITHUB_EVENT_PATH; "" outside Actions or when the payload does not say. GitHub's
    webhook schema (``repository-webhooks`` in github/rest-api-description) gives the
    repository ``visibility`` and, in every payload, ``private``."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError):
        return ""
    repository = event.get("repository") if isinstance(event, dict) else None
    if not isinstance(repository, dict):
        return ""
    visibility = repository.get("visibility")
    if visibility in ("public", "private", "internal"):
        return str(visibility)
    private = repository.get("private")
    return ("private" if private else "public") if isinstance(private, bool) else ""


def _pins(value: str) -> frozenset[str]:
    pins = [p.strip() for p in value.split(",") if p.strip()]
    for pin in pins:
        try:
            ok = len(base64.b64decode(pin, validate=True)) == 32
        except binascii.Error:
            ok = False
        if not ok:
            raise _RuleError(
                f"pin {_shown(pin)} is not a base64 SHA-256 of a SubjectPublicKeyInfo "
                "(44 characters ending in =)"
            )
    return frozenset(pins)


# --- the model ---------------------------------------------------------------------


class Settings(BaseSettings):
    """Every input and environment value the action uses, typed.

    Build it with ``load_settings``: constructing it directly (typed values, e.g. in
    tests) checks each field but not the rules between fields.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    # Inputs, in the order action.yml lists them.
    mode: Annotated[
        Mode,
        Input(
            "start",
            _choice("start", "stop", "reap"),
            "start: rent pods and register runners. stop: terminate this run's pods (or those "
            "in pod-id) and delete their runners. reap: terminate this repository's pods older "
            "than max-age-minutes.",
        ),
    ]
    runpod_api_key: Annotated[
        SecretStr,
        Input(
            "",
            _runpod_api_key,
            "RunPod API key. Pass it from a secret; it is masked in the log and never sent "
            "to the pod.",
            required=True,
        ),
    ]
    github_app_id: Annotated[
        str | None,
        Input(
            "",
            _app_id,
            "GitHub App id (numeric) or client id (Iv...), used to mint a short-lived token "
            "that registers the runners. Preferred over github-token.",
        ),
    ]
    github_app_private_key: Annotated[
        SecretStr | None,
        Input(
            "",
            _app_private_key,
            "The GitHub App's PEM private key (a key stored on one line with \\n escapes "
            "works too).",
        ),
    ]
    github_token: Annotated[
        SecretStr | None,
        Input(
            "",
            _github_token,
            "A personal access token instead of a GitHub App (repo scope; admin:org for org "
            "runners). The workflow's own GITHUB_TOKEN cannot register runners. Giving both "
            "a token and an App is an error.",
        ),
    ]
    runner: Annotated[
        bool,
        Input(
            "true",
            _boolean,
            "Register an ephemeral self-hosted runner on each pod (true), or only give SSH "
            "access (false).",
        ),
    ]
    runner_scope: Annotated[
        Literal["repo", "org"],
        Input(
            "repo",
            _choice("repo", "org"),
            "Where runners register: repo (this repository) or org (its owner organization).",
        ),
    ]
    runner_group_id: Annotated[
        int,
        Input(
            "1",
            _integer(1, 2_147_483_647),
            "Runner group id for runner-scope: org (1 is the default group).",
        ),
    ]
    runner_labels: Annotated[
        tuple[str, ...],
        Input(
            "",
            _labels,
            "Extra runner labels, comma-separated. Every runner also gets a label unique to "
            "this start (output runner-label), and no other: not self-hosted, linux or x64, "
            "so no job but those asking for its labels can take it.",
        ),
    ]
    allow_public_repository: Annotated[
        bool,
        Input(
            "false",
            _boolean,
            "Register runners for a public repository (true). Refused by default: a pull "
            "request from any fork can run its code on the pods.",
        ),
    ]
    runner_registration: Annotated[
        Literal["jit", "token"],
        Input(
            "jit",
            _choice("jit", "token"),
            "jit: a just-in-time runner configuration. token: a one-hour registration token "
            "and config.sh.",
        ),
    ]
    runner_version: Annotated[
        str,
        Input(
            DEFAULT_RUNNER_VERSION,
            _pattern(
                r"latest|[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}",
                "must be latest or a version like 2.330.0",
            ),
            "Version of the Actions runner installed on the pods: latest (the newest release, "
            "looked up at each start) or a pinned version like 2.330.0. GitHub stops giving "
            "jobs to a version about 30 days after a newer release.",
        ),
    ]
    runner_download_url: Annotated[
        str | None,
        Input(
            "",
            _url("runner-download-url"),
            "URL of the runner tarball; empty means the official release of runner-version. "
            "A custom URL needs runner-sha256.",
        ),
    ]
    runner_sha256: Annotated[
        str | None,
        Input(
            "",
            _sha256,
            "SHA-256 of the runner tarball (64 hex digits), checked on the pod before it is "
            "unpacked; empty means the checksum published with the runner release.",
        ),
    ]
    gpu_types: Annotated[
        tuple[str, ...],
        Input(
            "NVIDIA GeForce RTX 4090",
            _gpu_types,
            "RunPod GPU type ids, comma- or newline-separated, in order of preference.",
        ),
    ]
    gpu_count: Annotated[int, Input("1", _integer(1, 8), "GPUs per pod (1-8).")]
    count: Annotated[
        int,
        Input(
            "1",
            _integer(1, 50),
            "Pods (and runners) to start (1-50); all runners of one start share one label.",
        ),
    ]
    cloud_type: Annotated[
        Literal["ALL", "SECURE", "COMMUNITY"],
        Input(
            "ALL",
            _choice("ALL", "SECURE", "COMMUNITY"),
            # Community Cloud is peer-to-peer providers, Secure Cloud the one RunPod
            # names for sensitive data (runpod/docs pods/choose-a-pod.mdx).
            "RunPod cloud: ALL, SECURE or COMMUNITY. ALL and COMMUNITY may rent in Community "
            "Cloud, where the pod runs on a third-party host's machine, with your job, its "
            "runner registration and the pod's SSH key; use SECURE for private code or secrets.",
        ),
    ]
    capacity: Annotated[
        Literal["spot", "on-demand"],
        Input(
            "spot",
            _choice("spot", "on-demand"),
            "spot (interruptible, cheaper) or on-demand.",
        ),
    ]
    on_demand_fallback: Annotated[
        bool,
        Input(
            "true",
            _boolean,
            "When no GPU type has spot capacity, rent on-demand instead (true) or fail (false).",
        ),
    ]
    bid_per_gpu: Annotated[
        float | None,
        Input(
            "",
            _amount,
            "Maximum spot bid in USD per hour per GPU; empty means the current minimum bid.",
        ),
    ]
    max_price_per_hour: Annotated[
        float | None,
        Input(
            "",
            _amount,
            "Never rent a pod that costs more than this many USD per hour (checked before "
            "renting); empty means no cap.",
        ),
    ]
    image: Annotated[
        str,
        Input(
            "runpod/pytorch:2.8.0-py3.11-cuda12.8.1-cudnn-devel-ubuntu22.04",
            _image,
            "Container image of the pods. It needs bash and an sshd that authorizes the "
            "PUBLIC_KEY variable, as RunPod's official images do.",
        ),
    ]
    container_disk_gb: Annotated[
        int, Input("20", _integer(1, 2048), "Container disk per pod in GB.")
    ]
    volume_gb: Annotated[
        int,
        Input("0", _integer(0, 10240), "Pod volume in GB, mounted at /workspace (0 means none)."),
    ]
    min_vcpu: Annotated[int, Input("1", _integer(1, 512), "Minimum vCPUs per pod.")]
    min_memory_gb: Annotated[int, Input("4", _integer(1, 4096), "Minimum RAM per pod in GB.")]
    data_center_id: Annotated[
        str | None,
        Input(
            "",
            _optional(
                _pattern(
                    r"[A-Za-z]{2,4}(-[A-Za-z0-9]{1,5}){1,3}",
                    "must be a RunPod data center id like EU-RO-1",
                    upper=True,
                )
            ),
            "RunPod data center id (e.g. EU-RO-1); empty means any.",
        ),
    ]
    env: Annotated[
        dict[str, str],
        Input(
            "",
            _env,
            "Extra KEY=VALUE lines for the pods' environment. Not for secrets: RunPod shows "
            "a pod's environment to anyone with access to the account.",
        ),
    ]
    ssh_public_key: Annotated[
        str | None,
        Input(
            "",
            _ssh_public_key,
            "An OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa) to authorize on the pods; "
            "empty means an ephemeral ed25519 key pair is generated (output ssh-key-path).",
        ),
    ]
    ssh_user: Annotated[
        str,
        Input(
            "root",
            _pattern(r"[a-z_][a-z0-9_-]{0,31}", "must be a POSIX user name like root"),
            "Login user on the pods.",
        ),
    ]
    runner_user: Annotated[
        str,
        Input(
            "",
            _runner_user,
            "Empty: the runner, and so every job, runs as ssh-user (root on RunPod's images), "
            "which can read the pod's RunPod key and stop its watchdog. A name: the runner "
            "runs as that unprivileged user, created on the pod without sudo, which can do "
            "neither; needs ssh-user: root.",
        ),
    ]
    startup_timeout_minutes: Annotated[
        float,
        Input(
            "15",
            _minutes(0.1, 120),
            "Minutes from create until the runner is online (or SSH answers, with runner: "
            "false); past that the pod is terminated.",
        ),
    ]
    max_lifetime_minutes: Annotated[
        float,
        Input(
            "360",
            _minutes(0.2, 10080),
            "Hard cap on a pod's life in minutes, enforced by RunPod (terminateAfter) and by "
            "a watchdog on the pod.",
        ),
    ]
    idle_timeout_minutes: Annotated[
        float,
        Input(
            "15",
            _minutes(0.05, 10080),
            "A pod whose runner has taken no job within this many minutes terminates itself.",
        ),
    ]
    pod_id: Annotated[
        tuple[str, ...],
        Input(
            "",
            _pod_ids,
            "stop: ids of the pods to terminate, comma-separated; empty means this run's pods, "
            "found by name.",
        ),
    ]
    max_age_minutes: Annotated[
        int,
        Input(
            "360",
            _integer(1, 44640),
            "reap: pods this action started for this repository longer ago than this are "
            "terminated.",
        ),
    ]
    dry_run: Annotated[
        bool, Input("false", _boolean, "reap: list what would be reaped and terminate nothing.")
    ]

    # The environment the runner provides.
    github_repository: Annotated[str, Environment(("GITHUB_REPOSITORY",), _repository)]
    github_run_id: Annotated[str, Environment(("GITHUB_RUN_ID",), _run_id)]
    github_run_attempt: Annotated[int, Environment(("GITHUB_RUN_ATTEMPT",), _run_attempt)]
    runpod_api_url: Annotated[
        str,
        _GraphQLEndpoint(
            (GRAPHQL_URL_ENV, LEGACY_URL_ENV),
            _api_url(GRAPHQL_URL_ENV),
            "https://api.runpod.io/graphql",
        ),
    ]
    runpod_api_url_is_legacy: Annotated[bool, _LegacyGraphQLEndpoint((LEGACY_URL_ENV,), _boolean)]
    github_api_url: Annotated[
        str, Environment(("GITHUB_API_URL",), _api_url("GITHUB_API_URL"), "https://api.github.com")
    ]
    github_server_url: Annotated[
        str,
        Environment(("GITHUB_SERVER_URL",), _api_url("GITHUB_SERVER_URL"), "https://github.com"),
    ]
    runner_temp: Annotated[str, Environment(("RUNNER_TEMP",), _runner_temp)]
    ca_bundle: Annotated[str | None, Environment(CA_BUNDLE_VARIABLES, _ca_bundle)]
    repository_visibility: Annotated[
        str, Environment(("GITHUB_EVENT_PATH",), _event_repository_visibility)
    ]
    runpod_api_pins: Annotated[frozenset[str], Environment(("RUNPOD_API_PINS",), _pins)]
    github_api_pins: Annotated[frozenset[str], Environment(("GITHUB_API_PINS",), _pins)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what is handed in: pydantic's own environment source would read
        # variables such as ENV or COUNT from the process behind our back.
        return (init_settings,)

    @field_validator("*", mode="wrap")
    @classmethod
    def _parse(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # Raw strings (from the environment or flags) are parsed; typed values pass,
        # except a secret handed in as a plain SecretStr, which is checked as its text
        # would be (and so an App key always comes with its parsed key).
        if type(value) is SecretStr:
            value = value.get_secret_value()
        if isinstance(value, str):
            value = _metadata(cls.model_fields[str(info.field_name)]).parse(value.strip())
        return handler(value)

    # --- derived values ---

    @property
    def uses_app(self) -> bool:
        return self.github_app_id is not None

    @property
    def app_private_key(self) -> rsa.RSAPrivateKey | None:
        """The App's key, parsed once when the input was checked."""
        value = self.github_app_private_key
        return value.key if isinstance(value, AppPrivateKey) else None

    @property
    def has_github_credentials(self) -> bool:
        return self.uses_app or self.github_token is not None

    @property
    def github_owner(self) -> str:
        return self._repository_parts()[0]

    @property
    def github_repo(self) -> str:
        return self._repository_parts()[1]

    @property
    def github_target_url(self) -> str:
        """What a runner registers with: the repository, or its owner for org runners."""
        if self.runner_scope == "org":
            return f"{self.github_server_url}/{self.github_owner}"
        return f"{self.github_server_url}/{self.github_repository}"

    @property
    def pod_repository(self) -> str:
        """The repository pods are named after: outside Actions an SSH-only start may
        have none, and its pods are then named after LOCAL_REPOSITORY."""
        return self.github_repository or LOCAL_REPOSITORY

    @property
    def run_tag(self) -> str:
        return run_tag(self.pod_repository, self.github_run_id, self.github_run_attempt)

    @property
    def startup_timeout_seconds(self) -> int:
        return round(self.startup_timeout_minutes * 60)

    @property
    def max_lifetime_seconds(self) -> int:
        return round(self.max_lifetime_minutes * 60)

    @property
    def idle_timeout_seconds(self) -> int:
        return round(self.idle_timeout_minutes * 60)

    @property
    def max_age_seconds(self) -> int:
        return self.max_age_minutes * 60

    def secret_values(self) -> list[str]:
        """Every secret this run holds, for masking before anything is printed."""
        secrets = (self.runpod_api_key, self.github_token, self.github_app_private_key)
        return [s.get_secret_value() for s in secrets if s is not None]

    def advisories(self) -> list[str]:
        """Legal but doubtful choices, worth a warning in the log."""
        notes = []
        secretish = [k for k in self.env if re.search(r"TOKEN|SECRET|PASSW|API_?KEY|PRIVATE", k)]
        if secretish:
            notes.append(
                f"Input 'env' sets {', '.join(secretish)}: RunPod shows a pod's environment "
                "to anyone with access to the account, so keep secrets out of it."
            )
        if self.runpod_api_url_is_legacy:
            notes.append(
                f"{LEGACY_URL_ENV} is read as RunPod's GraphQL URL because it ends in "
                f"/graphql; runpodctl means its REST URL by that name: set {GRAPHQL_URL_ENV} "
                "instead."
            )
        if self.mode == "reap" and self.max_age_minutes < self.max_lifetime_minutes:
            notes.append(
                f"Input 'max-age-minutes' ({self.max_age_minutes}) is below "
                f"max-lifetime-minutes ({self.max_lifetime_minutes}): reap may end pods "
                "whose jobs are still running."
            )
        return notes

    def _repository_parts(self) -> tuple[str, str]:
        owner, _, name = self.github_repository.partition("/")
        if not owner or not name:
            raise ActionError(
                "The repository is unknown",
                "GITHUB_REPOSITORY is not set",
                "Run inside GitHub Actions, or set GITHUB_REPOSITORY=owner/name",
            )
        return owner, name


def _metadata(field: FieldInfo) -> Input | Environment:
    for item in field.metadata:
        if isinstance(item, Input | Environment):
            return item
    raise TypeError("every Settings field declares where it comes from")


@dataclass(frozen=True)
class InputSpec:
    """One action input as action.yml and the CLI present it."""

    name: str
    field: str
    default: str
    description: str
    required: bool
    secret: bool


def _input_specs() -> tuple[InputSpec, ...]:
    specs = []
    for field_name, field in Settings.model_fields.items():
        meta = _metadata(field)
        if isinstance(meta, Input):
            specs.append(
                InputSpec(
                    name=field_name.replace("_", "-"),
                    field=field_name,
                    default=meta.default,
                    description=meta.description,
                    required=meta.required,
                    secret=SecretStr in _type_args(field.annotation),
                )
            )
    return tuple(specs)


def _type_args(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


INPUTS: tuple[InputSpec, ...] = _input_specs()
_INPUT_BY_NAME = {spec.name: spec for spec in INPUTS}


# --- reading ------------------------------------------------------------------------


class ActionInputsSource(PydanticBaseSettingsSource):
    """Raw values for every field, from ``INPUT_<NAME>`` (hyphen form, then underscore
    form), CLI overrides (which win) and the environment, with defaults filled in."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        env: Mapping[str, str],
        overrides: Mapping[str, str] | None = None,
    ):
        super().__init__(settings_cls)
        unknown = sorted(set(overrides or {}) - set(_INPUT_BY_NAME))
        if unknown:
            raise ValueError(f"not action inputs: {', '.join(unknown)}")
        self._env = env
        self._overrides = overrides or {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        meta = _metadata(field)
        if isinstance(meta, Input):
            return self._input(field_name.replace("_", "-"), meta.default), field_name, False
        return meta.read(self._env), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            name: self.get_field_value(field, name)[0]
            for name, field in self.settings_cls.model_fields.items()
        }

    def _input(self, name: str, default: str) -> str:
        upper = name.upper()
        for value in (
            self._overrides.get(name),
            self._env.get(f"INPUT_{upper}"),
            self._env.get(f"INPUT_{upper.replace('-', '_')}"),
        ):
            if value is not None and value.strip():
                return value
        return default


# --- errors and rules ---------------------------------------------------------------


class EnvironmentVariableError(InputError):
    """An environment value the runner (or the user, outside Actions) provides is bad."""

    def __init__(self, name: str, rule: str, fix: str = ""):
        self.input_name = name
        ActionError.__init__(self, f"Environment variable '{name}' is invalid", rule, fix)


class SettingsError(ActionError):
    """One or more inputs break a rule; nothing has been spent."""

    code = "BAD_INPUT"

    def __init__(self, errors: list[InputError]):
        self.errors = errors
        names = ", ".join(dict.fromkeys(e.input_name for e in errors))
        super().__init__(
            f"{len(errors)} input error(s) ({names})",
            "; ".join(e.sentence() for e in errors),
            "Fix the inputs named above",
        )


def _field_error(field_name: str, rule: str, fix: str, env: Mapping[str, str]) -> InputError:
    meta = _metadata(Settings.model_fields[field_name])
    if isinstance(meta, Environment):
        return EnvironmentVariableError(meta.variable(env), rule, fix)
    return InputError(field_name.replace("_", "-"), rule, fix)


def _field_errors(exc: ValidationError, env: Mapping[str, str]) -> dict[str, InputError]:
    errors: dict[str, InputError] = {}
    for item in exc.errors():
        field_name = str(item["loc"][0])
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, _RuleError):
            rule, fix = cause.rule, cause.fix
        else:
            # pydantic's own messages name no value, so they are safe to pass on.
            rule, fix = item["msg"], ""
        errors.setdefault(field_name, _field_error(field_name, rule, fix, env))
    return errors


@dataclass(frozen=True)
class _Broken:
    """A rule between fields: which fields it reads, and the error to report."""

    fields: frozenset[str]
    error: InputError


def _rule_errors(s: Settings, command: str) -> list[_Broken]:
    broken: list[_Broken] = []

    def fail(fields: tuple[str, ...], error: InputError) -> None:
        broken.append(_Broken(frozenset(fields), error))

    both = "Give a GitHub App (github-app-id and github-app-private-key) or github-token"
    if s.github_token is not None and (s.github_app_id or s.github_app_private_key):
        fail(
            ("github_token", "github_app_id", "github_app_private_key"),
            InputError("github-token", "is given together with a GitHub App", both + ", not both"),
        )
    if s.github_app_id and s.github_app_private_key is None:
        fail(
            ("github_app_id", "github_app_private_key"),
            InputError("github-app-private-key", "must be set when github-app-id is"),
        )
    if s.github_app_private_key is not None and not s.github_app_id:
        fail(
            ("github_app_id", "github_app_private_key"),
            InputError("github-app-id", "must be set when github-app-private-key is"),
        )

    action = s.mode if command in ("main", "post") else command
    # stop ends pods with the RunPod key alone; without GitHub credentials it leaves the
    # (ephemeral) runners to go offline with their pods.
    needs_github = s.runner and action == "start"
    # A half-given App is reported above; this is for no credentials at all.
    given = s.github_token or s.github_app_id or s.github_app_private_key
    if needs_github and not given:
        fail(
            ("runner", "github_token", "github_app_id", "github_app_private_key"),
            InputError(
                "runner",
                "registering runners needs GitHub credentials",
                both + ", or set runner: false for SSH access only",
            ),
        )

    if s.max_lifetime_minutes <= s.startup_timeout_minutes:
        fail(
            ("max_lifetime_minutes", "startup_timeout_minutes"),
            InputError(
                "max-lifetime-minutes",
                f"must be more than startup-timeout-minutes ({s.startup_timeout_minutes:g}), "
                f"got {s.max_lifetime_minutes:g}",
            ),
        )
    if s.idle_timeout_minutes > s.max_lifetime_minutes:
        fail(
            ("idle_timeout_minutes", "max_lifetime_minutes"),
            InputError(
                "idle-timeout-minutes",
                f"must not exceed max-lifetime-minutes ({s.max_lifetime_minutes:g}), "
                f"got {s.idle_timeout_minutes:g}",
            ),
        )

    if s.runner_user and s.ssh_user != "root":
        # Only root can add the user and keep the pod's key from it (pod/bootstrap.sh).
        fail(
            ("runner_user", "ssh_user"),
            InputError(
                "runner-user",
                f"needs ssh-user: root to create the user on the pod, got {s.ssh_user}",
                "Set ssh-user to root, or leave runner-user empty",
            ),
        )
    if s.runner_user and not s.runner:
        fail(
            ("runner_user", "runner"),
            InputError(
                "runner-user",
                "only applies to the runner, and runner is false",
                "Leave runner-user empty for SSH access only",
            ),
        )

    if s.runner and s.runner_scope == "repo" and s.runner_group_id != 1:
        # Runner groups belong to organizations (GitHub's REST API has runner-group
        # endpoints only under /orgs and /enterprises).
        fail(
            ("runner", "runner_scope", "runner_group_id"),
            InputError(
                "runner-group-id",
                f"is {s.runner_group_id}, but repository runners have only the default group",
                "Set runner-group-id to 1, or runner-scope: org to use an organization's group",
            ),
        )

    if (
        action == "start"
        and command != "post"
        and s.runner
        and s.repository_visibility == "public"
        and not s.allow_public_repository
    ):
        fail(
            ("runner", "allow_public_repository", "repository_visibility"),
            InputError(
                "allow-public-repository",
                f"must be true to register runners for the public repository "
                f"{s.github_repository or 'of this run'}, because a pull request from any "
                "fork can run its code on the pods",
                "Set allow-public-repository: true to accept that, or runner: false for SSH "
                "access only",
            ),
        )

    if s.runner_sha256 is None and s.runner_download_url is not None:
        # A custom URL is not looked up in the release API, so nothing vouches for it.
        fail(
            ("runner_sha256", "runner_download_url"),
            InputError(
                "runner-sha256",
                "is required with a custom runner-download-url",
                "Give the tarball's SHA-256 in runner-sha256 (sha256sum prints it)",
            ),
        )

    needs_run = action == "start" or (action == "stop" and not s.pod_id)
    # Pods are named after the repository, or LOCAL_REPOSITORY for an SSH-only start
    # outside Actions; runners, and GitHub credentials, need the real one.
    needs_repository = needs_github or action == "reap"
    needs_repository = needs_repository or (action in ("stop", "doctor") and bool(given))
    outside = "GitHub Actions sets it; outside Actions set it yourself"
    if needs_repository and not s.github_repository:
        fail(
            ("github_repository", "pod_id", "runner"),
            EnvironmentVariableError(
                "GITHUB_REPOSITORY", f"must be set to owner/name for {action}", outside
            ),
        )
    if needs_run and not s.github_run_id:
        fail(
            ("github_run_id", "pod_id"),
            EnvironmentVariableError(
                "GITHUB_RUN_ID",
                f"must be set to the workflow run's number for {action}, which names "
                "the pods after the run",
                outside,
            ),
        )
    return broken


def _stand_in(field_name: str) -> str:
    """A valid raw value for a field that failed, so the rules can still be checked."""
    meta = _metadata(Settings.model_fields[field_name])
    if isinstance(meta, Input) and meta.required:
        return "stand-in"
    return meta.default


def load_settings(
    env: Mapping[str, str],
    overrides: Mapping[str, str] | None = None,
    *,
    command: str = "main",
) -> Settings:
    """Read and check every input. ``overrides`` are CLI flags by input name and win
    over the environment. ``command`` (start, stop, post, reap, gpus, status, doctor, or main
    for "as the mode input says") decides which environment values are required.

    Raises ``SettingsError`` listing every broken rule.
    """
    if command not in (*COMMANDS, "main"):
        raise ValueError(f"unknown command {command!r}")
    source = ActionInputsSource(Settings, env, overrides)
    try:
        settings = Settings.model_validate(source())
        bad: dict[str, InputError] = {}
    except ValidationError as exc:
        bad = _field_errors(exc, env)
        raw = source()
        raw.update({name: _stand_in(name) for name in bad})
        settings = Settings.model_validate(raw)
    errors = list(bad.values())
    errors += [b.error for b in _rule_errors(settings, command) if not b.fields & bad.keys()]
    if errors:
        raise SettingsError(errors)
    return settings
