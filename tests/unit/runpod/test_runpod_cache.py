"""The on-disk gpuTypes cache: hits, expiry, keys, damage and atomic writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from runpod_fakes import FakeRunPod

from runpod_ssh_action.clock import FakeClock
from runpod_ssh_action.runpod import RunPodClient
from runpod_ssh_action.runpod.cache import GpuTypeCache, cache_key, default_cache_dir

A40 = {
    "id": "NVIDIA A40",
    "displayName": "A40",
    "lowestPrice": {"minimumBidPrice": 0.2, "uninterruptablePrice": 0.4, "stockStatus": "High"},
}
L4 = {"id": "NVIDIA L4", "displayName": "L4", "lowestPrice": None}


def answer(*gpus: dict[str, object]) -> dict[str, object]:
    return {"data": {"gpuTypes": list(gpus)}}


def test_a_second_call_is_served_from_the_cache(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(answer(A40, L4))
    first = client.gpu_types(1)
    assert client.gpu_types(1) == first
    assert len(server.sent) == 1
    assert client.gpu_type_cache.path.is_file()


def test_a_new_client_reads_the_same_cache(
    make_client: Callable[..., RunPodClient], server: FakeRunPod
) -> None:
    server.reply(answer(A40))
    make_client().gpu_types(1)
    assert [g.id for g in make_client().gpu_types(1)] == ["NVIDIA A40"]
    assert len(server.sent) == 1


def test_the_cache_lasts_an_hour(
    client: RunPodClient, server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(answer(A40), answer(L4))
    client.gpu_types(1)
    clock.advance(3599)
    assert [g.id for g in client.gpu_types(1)] == ["NVIDIA A40"]
    clock.advance(2)
    assert [g.id for g in client.gpu_types(1)] == ["NVIDIA L4"]
    assert len(server.sent) == 2


def test_a_cache_from_the_future_is_not_trusted(
    make_client: Callable[..., RunPodClient], server: FakeRunPod, clock: FakeClock
) -> None:
    server.reply(answer(A40), answer(L4))
    clock.advance(600)
    make_client().gpu_types(1)
    earlier = FakeClock()
    assert [g.id for g in make_client(clock=earlier).gpu_types(1)] == ["NVIDIA L4"]


@pytest.mark.parametrize(
    ("first", "second"),
    [((1, None), (2, None)), ((1, None), (1, ["NVIDIA A40"])), ((1, ["a"]), (1, ["a", "b"]))],
)
def test_entries_are_keyed_by_count_and_ids(
    client: RunPodClient,
    server: FakeRunPod,
    first: tuple[int, list[str] | None],
    second: tuple[int, list[str] | None],
) -> None:
    server.reply(answer(A40), answer(A40))
    client.gpu_types(*first)
    client.gpu_types(*second)
    client.gpu_types(*first)
    client.gpu_types(*second)
    assert len(server.sent) == 2


def test_the_order_of_ids_does_not_matter_to_the_key() -> None:
    assert cache_key(1, ["b", "a", "a"]) == cache_key(1, ["a", "b"]) != cache_key(1, None)


def test_use_cache_false_asks_runpod(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(answer(A40), answer(L4))
    client.gpu_types(1)
    assert [g.id for g in client.gpu_types(1, use_cache=False)] == ["NVIDIA L4"]
    assert [g.id for g in client.gpu_types(1)] == ["NVIDIA L4"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[]",
        json.dumps({"format": 99, "entries": {}}),
        json.dumps({"format": 1, "entries": []}),
        json.dumps({"format": 1, "entries": {"1|*": {"fetched_at": "yesterday", "gpu_types": []}}}),
        json.dumps(
            {
                "format": 1,
                "entries": {"1|*": {"fetched_at": "2026-01-01T00:00:00+00:00", "gpu_types": "A40"}},
            }
        ),
        json.dumps(
            {
                "format": 1,
                "entries": {
                    "1|*": {
                        "fetched_at": "2026-01-01T00:00:00+00:00",
                        "gpu_types": [{"name": "no id"}],
                    }
                },
            }
        ),
        json.dumps(
            {
                "format": 1,
                "entries": {"1|*": {"fetched_at": "2026-01-01T00:00:00", "gpu_types": []}},
            }
        ),
    ],
)
def test_a_damaged_cache_is_ignored_and_replaced(
    client: RunPodClient, server: FakeRunPod, content: str
) -> None:
    path = client.gpu_type_cache.path
    path.parent.mkdir(parents=True)
    path.write_text(content)
    server.reply(answer(A40))
    assert [g.id for g in client.gpu_types(1)] == ["NVIDIA A40"]
    assert json.loads(path.read_text())["entries"]["1|*"]["gpu_types"] == [A40]


def test_binary_garbage_is_ignored(client: RunPodClient, server: FakeRunPod) -> None:
    path = client.gpu_type_cache.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00garbage")
    server.reply(answer(A40))
    assert len(client.gpu_types(1)) == 1


def test_an_unwritable_cache_is_only_a_miss(
    make_client: Callable[..., RunPodClient], server: FakeRunPod, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    client = make_client(cache_dir=blocker)
    server.reply(answer(A40), answer(A40))
    client.gpu_types(1)
    client.gpu_types(1)
    assert len(server.sent) == 2


def test_the_write_is_atomic(
    client: RunPodClient, server: FakeRunPod, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply(answer(A40), answer(L4))
    client.gpu_types(1)
    path = client.gpu_type_cache.path
    before = path.read_text()
    replaced: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    client.gpu_types(2)
    ((src, dst),) = replaced
    assert Path(src).parent == path.parent and dst == str(path)
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_stale_entries_are_dropped_on_write(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = GpuTypeCache(tmp_path / "gpu_types.json", clock)
    cache.put("1|*", [A40])
    clock.advance(4000)
    cache.put("2|*", [L4])
    assert set(json.loads(cache.path.read_text())["entries"]) == {"2|*"}


def test_default_cache_dir() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/runpod")
    assert default_cache_dir({}) == Path.home() / ".cache" / "runpod"


def test_the_client_uses_xdg_cache_home(
    make_client: Callable[..., RunPodClient], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    client = make_client(cache_dir=None)
    assert client.gpu_type_cache.path == tmp_path / "xdg" / "runpod" / "gpu_types.json"
