"""Every way RunPod says no, with its real messages and with the spec's codes."""

from __future__ import annotations

import pytest
from runpod_fakes import FakeRunPod, Reply, gql_error

from runpod_ssh_action.errors import ActionError, RateLimitedError
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.runpod.errors import (
    AuthError,
    BidTooLowError,
    InsufficientCreditError,
    InvalidRequestError,
    NoCapacityError,
    PodNotFoundError,
    RunPodError,
    RunPodServerError,
    classify,
)

REAL_MESSAGES = [
    (
        "There are no longer any instances available with the requested specifications. "
        "Please refresh and try again.",
        NoCapacityError,
    ),
    (
        "There are no longer any instances available with enough disk space.",
        NoCapacityError,
    ),
    (
        "There are no instances available with the request specifications. Please try again later.",
        NoCapacityError,
    ),
    ("There are not enough free GPUs on the host machine to start this pod.", NoCapacityError),
    ("pod not found to terminate", PodNotFoundError),
    ("Something went wrong. Please try again later or contact support.", RunPodServerError),
    ("Cannot resume a spot pod as an on demand pod.", InvalidRequestError),
    ("Unauthorized", AuthError),
]

SPEC_CODES = [
    ("Invalid authorization token", "UNAUTHENTICATED", AuthError),
    ("Token has expired", "UNAUTHENTICATED", AuthError),
    ("Insufficient credit balance", "INSUFFICIENT_CREDITS", InsufficientCreditError),
    ("No GPUs available for specified configuration", "RESOURCE_UNAVAILABLE", NoCapacityError),
    ("Bid price below minimum required", "BID_TOO_LOW", BidTooLowError),
    ("Pod not found", "NOT_FOUND", PodNotFoundError),
    ("Invalid input parameters", "BAD_USER_INPUT", InvalidRequestError),
    ('Cannot query field "foo" on type "Pod".', "GRAPHQL_VALIDATION_FAILED", InvalidRequestError),
    ("Internal failure", "INTERNAL_SERVER_ERROR", RunPodServerError),
]

# The codes alone, with messages that say nothing: the code must decide.
CODE_ONLY = [
    ("UNAUTHENTICATED", AuthError),
    ("RESOURCE_UNAVAILABLE", NoCapacityError),
    ("BID_TOO_LOW", BidTooLowError),
    ("INSUFFICIENT_CREDITS", InsufficientCreditError),
    ("NOT_FOUND", PodNotFoundError),
    ("BAD_USER_INPUT", InvalidRequestError),
    ("GRAPHQL_VALIDATION_FAILED", InvalidRequestError),
    ("INTERNAL_SERVER_ERROR", RunPodServerError),
]


@pytest.mark.parametrize(("message", "kind"), REAL_MESSAGES)
def test_real_messages(message: str, kind: type[RunPodError]) -> None:
    error = classify("Doing it", {"message": message})
    assert type(error) is kind
    assert message.rstrip(".") in str(error)
    assert error.fix


@pytest.mark.parametrize(("message", "code", "kind"), SPEC_CODES)
def test_spec_errors(message: str, code: str, kind: type[RunPodError]) -> None:
    assert type(classify("Doing it", {"message": message, "extensions": {"code": code}})) is kind


@pytest.mark.parametrize(("code", "kind"), CODE_ONLY)
def test_codes_alone(code: str, kind: type[RunPodError]) -> None:
    error = classify("Doing it", {"message": "Request failed", "extensions": {"code": code}})
    assert type(error) is kind
    assert isinstance(error, RunPodError) and error.server_code == code


def test_the_message_wins_over_the_code() -> None:
    error = classify(
        "Doing it",
        {
            "message": "There are not enough free GPUs on the host machine to start this pod.",
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        },
    )
    assert type(error) is NoCapacityError


def test_rate_limited_in_the_body_is_a_rate_limit_error() -> None:
    error = classify(
        "Doing it", {"message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMITED"}}
    )
    assert isinstance(error, RateLimitedError)


def test_unknown_errors_keep_the_message() -> None:
    error = classify("Doing it", {"message": "The flux capacitor is out of alignment"})
    assert type(error) is RunPodError
    assert "flux capacitor is out of alignment" in str(error)
    assert error.code == "RUNPOD_ERROR"


def test_no_capacity_says_what_to_change() -> None:
    error = classify(
        "Creating pod",
        {"message": "There are no instances available with the request specifications."},
    )
    assert "Try another gpu-types entry, cloud-type ALL, or on-demand." in str(error)


def test_only_internal_errors_are_retryable() -> None:
    retryable = {
        kind: classify("x", {"message": m}).retryable  # type: ignore[union-attr]
        for m, kind in REAL_MESSAGES
    }
    assert retryable == {kind: kind is RunPodServerError for _, kind in REAL_MESSAGES}


@pytest.mark.parametrize(("message", "kind"), REAL_MESSAGES)
def test_real_messages_through_the_client(
    client: RunPodClient, server: FakeRunPod, message: str, kind: type[RunPodError]
) -> None:
    # A create is where these land; a server error there leads to a pod-list check,
    # so script an empty list and no further success.
    server.reply(gql_error(message))
    if kind is RunPodServerError:
        server.reply(
            {"data": {"myself": {"pods": []}}},
            gql_error(message),
            {"data": {"myself": {"pods": []}}},
            gql_error(message),
            {"data": {"myself": {"pods": []}}},
        )
    with pytest.raises(kind):
        client.create_on_demand(PodSpec(name="n"))


def test_http_401_is_an_auth_error(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply("Unauthorized", status=401))
    with pytest.raises(AuthError) as caught:
        client.myself()
    assert "401" in str(caught.value)
    assert "runpod-api-key" in str(caught.value)
    assert len(server.sent) == 1


def test_http_403_is_an_auth_error(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply({"errors": [{"message": "Forbidden"}]}, status=403))
    with pytest.raises(AuthError):
        client.list_pods()


def test_http_400_keeps_the_servers_message(client: RunPodClient, server: FakeRunPod) -> None:
    body = {
        "errors": [
            {
                "message": 'Unknown argument "gpuCnt" on field "lowestPrice".',
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
            }
        ]
    }
    server.reply(Reply(body, status=400))
    with pytest.raises(InvalidRequestError, match='Unknown argument "gpuCnt"'):
        client.gpu_types(1, use_cache=False)
    assert len(server.sent) == 1


def test_http_400_without_json(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply("bad request: body too large", status=400))
    with pytest.raises(InvalidRequestError, match="body too large"):
        client.myself()


def test_http_5xx_is_a_server_error(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply("<html>bad gateway</html>", status=502))
    with pytest.raises(RunPodServerError, match="HTTP 502"):
        client.stop("p1")


def test_other_statuses_are_runpod_errors(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply("teapot", status=418))
    with pytest.raises(RunPodError, match="HTTP 418: teapot"):
        client.stop("p1")


def test_malformed_json_is_a_server_error(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(Reply("<html>maintenance</html>"))
    with pytest.raises(RunPodServerError, match="not a JSON object"):
        client.stop("p1")


def test_every_error_is_an_action_error_with_a_fix() -> None:
    for kind in (
        AuthError,
        NoCapacityError,
        BidTooLowError,
        InsufficientCreditError,
        PodNotFoundError,
        InvalidRequestError,
        RunPodServerError,
        RunPodError,
    ):
        error = kind("Doing it", "because")
        assert isinstance(error, ActionError)
        assert error.fix and str(error).startswith("Doing it: because.")
