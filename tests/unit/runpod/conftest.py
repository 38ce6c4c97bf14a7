"""Fixtures for the RunPod client's tests (the scripted server is in runpod_fakes)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from runpod_fakes import API_KEY, URL, FakeRunPod

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.runpod import RunPodClient
from runpod_ssh_action.transport import ApiLog


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def masker() -> Masker:
    return Masker()


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def server(rsps: responses.RequestsMock) -> FakeRunPod:
    return FakeRunPod(rsps)


@pytest.fixture
def make_client(
    clock: FakeClock, masker: Masker, log_stream: io.StringIO, tmp_path: Path
) -> Iterator[Callable[..., RunPodClient]]:
    made: list[RunPodClient] = []

    def make(**overrides: Any) -> RunPodClient:
        options: dict[str, Any] = {
            "url": URL,
            "clock": clock,
            "masker": masker,
            "log": ApiLog(masker, log_stream),
            "cache_dir": tmp_path / "cache",
            "rng": random.Random(7),
        }
        options.update(overrides)
        client = RunPodClient(options.pop("api_key", API_KEY), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., RunPodClient]) -> RunPodClient:
    return make_client()
