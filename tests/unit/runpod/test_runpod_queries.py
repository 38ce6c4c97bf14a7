"""Every document the client can send validates against the SDL the stand-in serves."""

from __future__ import annotations

import pytest
from runpod_fakes import FULL_SPEC, check_document

from runpod_ssh_action.runpod import PodSpec, queries

CONSTANT_DOCUMENTS = {
    "MYSELF": queries.MYSELF,
    "LIST_PODS": queries.LIST_PODS,
    "POD": queries.POD,
    "CREATE_SPOT": queries.CREATE_SPOT,
    "CREATE_ON_DEMAND": queries.CREATE_ON_DEMAND,
    "RESUME": queries.RESUME,
    "BID_RESUME": queries.BID_RESUME,
    "STOP": queries.STOP,
    "TERMINATE": queries.TERMINATE,
    "GPU_TYPES": queries.GPU_TYPES,
    "GPU_TYPES_NO_SPOT": queries.GPU_TYPES_NO_SPOT,
}


def test_every_constant_document_is_listed() -> None:
    names = {n for n in dir(queries) if n.isupper() and isinstance(getattr(queries, n), str)}
    documents = {n for n in names if getattr(queries, n).lstrip().startswith(("query", "mutation"))}
    assert documents == set(CONSTANT_DOCUMENTS)


@pytest.mark.parametrize("name", sorted(CONSTANT_DOCUMENTS))
def test_constant_documents_validate(name: str) -> None:
    check_document(CONSTANT_DOCUMENTS[name])


@pytest.mark.parametrize("count", [1, 2, 30])
def test_batched_pods_query_validates(count: int) -> None:
    query = queries.pods_query(count)
    operation = check_document(query, {f"p{i}": f"id-{i}" for i in range(count)})
    aliases = [s.alias.value for s in operation.selection_set.selections]
    assert aliases == [f"p{i}" for i in range(count)]


def test_batched_pods_query_needs_a_pod() -> None:
    with pytest.raises(ValueError):
        queries.pods_query(0)


def test_every_create_field_coerces_into_both_create_inputs() -> None:
    payload = FULL_SPEC.to_input()
    check_document(queries.CREATE_ON_DEMAND, {"input": payload})
    check_document(queries.CREATE_SPOT, {"input": {**payload, "bidPerGpu": 0.3}})


def test_a_hostile_name_stays_in_the_variables() -> None:
    hostile = 'x") { id } } mutation { podTerminate(input: {podId: "victim"}) }'
    payload = PodSpec(name=hostile).to_input()
    check_document(queries.CREATE_ON_DEMAND, {"input": payload})
    assert hostile not in queries.CREATE_ON_DEMAND
    assert payload["name"] == hostile


def test_the_check_rejects_the_specs_start_ssh_casing() -> None:
    with pytest.raises(AssertionError, match="startSSH"):
        check_document(queries.CREATE_ON_DEMAND, {"input": {"name": "n", "startSSH": True}})


def test_the_check_rejects_an_unknown_field() -> None:
    with pytest.raises(AssertionError, match="lastStatusChanged"):
        check_document('query { pod(input: {podId: "x"}) { lastStatusChanged } }')
