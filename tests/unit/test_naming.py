"""Run-derived names: they round-trip, stay short and safe, and never collide across
repositories or runs."""

from __future__ import annotations

import hashlib
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runpod_ssh_action.naming import (
    MAX_NAME_LENGTH,
    POD_PREFIX,
    PodName,
    parse_pod_name,
    pod_name,
    repo_prefix,
    run_prefix,
    run_tag,
    runner_label,
    runner_name,
)

SAFE = re.compile(r"[a-z0-9-]+")


def test_run_tag_shape() -> None:
    digest = hashlib.sha256(b"octo-org/gpu-repo").hexdigest()[:6]
    assert run_tag("octo-org/gpu-repo", "14471203377", 2) == f"rpsa-{digest}-14471203377-2"
    assert run_tag("octo-org/gpu-repo", 14471203377, "2") == f"rpsa-{digest}-14471203377-2"


def test_repository_case_does_not_matter() -> None:
    assert repo_prefix("Octo-Org/GPU-Repo") == repo_prefix("octo-org/gpu-repo")
    assert repo_prefix("octo-org/gpu-repo") != repo_prefix("octo-org/other")


def test_pod_name_round_trips() -> None:
    tag = run_tag("o/r", "123", 1)
    name = pod_name(tag, 3)
    assert name == f"{tag}-3"
    parsed = parse_pod_name(name)
    assert parsed == PodName(repo_prefix("o/r")[5:-1], "123", 1, 3)
    assert parsed is not None and parsed.tag == tag


@given(
    repository=st.from_regex(
        r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}", fullmatch=True
    ),
    run_id=st.integers(min_value=1, max_value=10**20 - 1),
    attempt=st.integers(min_value=1, max_value=99999),
    index=st.integers(min_value=0, max_value=49),
    seed=st.integers(),
)
def test_names_round_trip_and_stay_safe(
    repository: str, run_id: int, attempt: int, index: int, seed: int
) -> None:
    tag = run_tag(repository, run_id, attempt)
    name = pod_name(tag, index)
    label = runner_label(tag, random.Random(seed))
    runner = runner_name(label, index)
    for text in (tag, name, label, runner):
        assert len(text) <= MAX_NAME_LENGTH
        assert SAFE.fullmatch(text)
    parsed = parse_pod_name(name)
    assert parsed is not None
    assert (parsed.run_id, parsed.attempt, parsed.index) == (str(run_id), attempt, index)
    assert parsed.tag == tag
    assert name.startswith(run_prefix(repository, run_id))
    assert name.startswith(repo_prefix(repository))
    assert label.startswith(tag + "-")
    # The label's suffix keeps a runner's name from parsing as a pod name.
    assert parse_pod_name(runner) is None


def test_longest_possible_names_fit() -> None:
    tag = run_tag("o/r", "9" * 20, 99999)
    label = runner_label(tag, random.Random(0))
    assert len(runner_name(label, 9999)) <= MAX_NAME_LENGTH


def test_run_prefix_does_not_match_a_longer_run_id() -> None:
    short = run_prefix("o/r", 12)
    assert not pod_name(run_tag("o/r", 123, 1), 0).startswith(short)
    assert pod_name(run_tag("o/r", 12, 3), 0).startswith(short)


def test_runner_label_is_random_per_start_and_reproducible_with_a_seed() -> None:
    tag = run_tag("o/r", 1, 1)
    assert runner_label(tag, random.Random(7)) == runner_label(tag, random.Random(7))
    labels = {runner_label(tag, random.Random(seed)) for seed in range(50)}
    assert len(labels) == 50
    assert all(re.fullmatch(re.escape(tag) + r"-[a-z0-9]{6}", label) for label in labels)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "my-pod",
        "rpsa-",
        "rpsa-abcdef-1-1",
        "rpsa-ABCDEF-1-1-0",
        "rpsa-abcdeg-1-1-0",
        "rpsa-abcdef-1-1-0-extra",
        "rpsa-abcdef-x-1-0",
        "xrpsa-abcdef-1-1-0",
        "rpsa-abcdef-1-1-0\n",
    ],
)
def test_foreign_names_do_not_parse(name: str) -> None:
    assert parse_pod_name(name) is None


def test_prefix_constant() -> None:
    assert repo_prefix("o/r").startswith(POD_PREFIX)


@pytest.mark.parametrize(
    ("repository", "run_id", "attempt"),
    [
        ("no-slash", 1, 1),
        ("o/r", "", 1),
        ("o/r", "12a", 1),
        ("o/r", 1, 0 - 1),
        ("o/r", "9" * 21, 1),
    ],
)
def test_bad_run_tags_raise(repository: str, run_id: str | int, attempt: int) -> None:
    with pytest.raises(ValueError):
        run_tag(repository, run_id, attempt)


def test_bad_indexes_and_tags_raise() -> None:
    with pytest.raises(ValueError):
        pod_name("rpsa-abcdef-1-1", -1)
    with pytest.raises(ValueError):
        pod_name("rpsa-abcdef-1-1", 10000)
    with pytest.raises(ValueError):
        pod_name("Bad Tag", 0)
    with pytest.raises(ValueError):
        runner_name("x" * 63, 0)
