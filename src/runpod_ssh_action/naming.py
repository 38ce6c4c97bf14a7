"""Names derived from the workflow run, so stop and reap can always find what start made.

RunPod pod names are not unique and cannot be filtered on the server, so the name
carries everything a later step needs to recognise a pod: a fixed prefix, a short hash
of the repository, the run id, the attempt and the pod's index::

    rpsa-3f9a1c-14471203377-1-0

Every name uses only ``[a-z0-9-]`` and stays within 63 characters (a DNS label), which
fits RunPod's name field, GitHub's runner names and labels alike.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from dataclasses import dataclass

POD_PREFIX = "rpsa-"
MAX_NAME_LENGTH = 63
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_LENGTH = 6
_MAX_INDEX = 9999
_POD_NAME = re.compile(r"rpsa-([0-9a-f]{6})-([0-9]{1,20})-([0-9]{1,5})-([0-9]{1,4})")


@dataclass(frozen=True)
class PodName:
    repo_hash: str
    run_id: str
    attempt: int
    index: int

    @property
    def tag(self) -> str:
        """The run tag this pod was named after."""
        return f"{POD_PREFIX}{self.repo_hash}-{self.run_id}-{self.attempt}"


def repo_hash(repository: str) -> str:
    # GitHub treats owner/name case-insensitively; so does the hash.
    return hashlib.sha256(repository.lower().encode()).hexdigest()[:6]


def repo_prefix(repository: str) -> str:
    """The start of every pod name of this repository (reap ends only these)."""
    return f"{POD_PREFIX}{repo_hash(repository)}-"


def run_prefix(repository: str, run_id: str | int) -> str:
    """The start of every pod name of one workflow run, whatever the attempt: a re-run
    stop job (a later attempt) still finds the pods an earlier attempt started."""
    return f"{repo_prefix(repository)}{_digits(run_id, 'run id', 20)}-"


def run_tag(repository: str, run_id: str | int, attempt: str | int) -> str:
    if not re.fullmatch(r"[^/\s]+/[^/\s]+", repository):
        raise ValueError(f"repository must be owner/name, got {repository!r}")
    return f"{run_prefix(repository, run_id)}{_digits(attempt, 'attempt', 5)}"


def pod_name(tag: str, index: int) -> str:
    return _checked(f"{tag}-{_index(index)}")


def parse_pod_name(name: str) -> PodName | None:
    """The parts of a pod name this action made, or None for any other name."""
    match = _POD_NAME.fullmatch(name)
    if not match:
        return None
    return PodName(match[1], match[2], int(match[3]), int(match[4]))


def runner_label(tag: str, rng: random.Random) -> str:
    """A label unique to one start, shared by all its runners: the run tag alone would
    let a job of a re-run pick up a runner of an earlier start."""
    suffix = "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    return _checked(f"{tag}-{suffix}")


def runner_name(label: str, index: int) -> str:
    return _checked(f"{label}-{_index(index)}")


def _digits(value: str | int, what: str, most: int) -> str:
    text = str(value)
    if not re.fullmatch(rf"[0-9]{{1,{most}}}", text):
        raise ValueError(f"{what} must be 1 to {most} digits, got {text!r}")
    return text


def _index(index: int) -> int:
    if not 0 <= index <= _MAX_INDEX:
        raise ValueError(f"index must be from 0 to {_MAX_INDEX}, got {index}")
    return index


def _checked(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not re.fullmatch(r"[a-z0-9-]+", name):
        raise ValueError(f"{name!r} is not a name of up to {MAX_NAME_LENGTH} of [a-z0-9-]")
    return name
