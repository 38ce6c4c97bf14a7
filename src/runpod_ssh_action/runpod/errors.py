"""What RunPod's answers mean, as errors a user can act on.

RunPod's error codes are no stable contract (business errors arrive as HTTP 200 with
``errors[]`` and the real server rarely sets ``extensions.code``), so an error is
recognised by its message first and by the spec's ``extensions.code`` second.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ActionError, RateLimitedError


class RunPodError(ActionError):
    """RunPod refused or failed a call.

    ``server_message`` and ``server_code`` keep what the server said (already free of
    secrets); ``retryable`` marks a failure a repeated read may get past.
    """

    code = "RUNPOD_ERROR"
    default_fix = "Check the message above and the RunPod status page, then rerun the job"

    def __init__(
        self,
        what: str,
        why: str = "",
        fix: str | None = None,
        *,
        server_message: str | None = None,
        server_code: str | None = None,
        retryable: bool = False,
    ):
        self.server_message = server_message
        self.server_code = server_code
        self.retryable = retryable
        super().__init__(what, why, self.default_fix if fix is None else fix)


class AuthError(RunPodError):
    code = "UNAUTHENTICATED"
    default_fix = (
        "Check the runpod-api-key secret: create a new key under RunPod Settings > API Keys "
        "(a Restricted key needs read/write access to the GraphQL API)"
    )


class NoCapacityError(RunPodError):
    code = "NO_CAPACITY"
    default_fix = "Try another gpu-types entry, cloud-type ALL, or on-demand"


class SpotWithdrawnError(NoCapacityError):
    """RunPod's schema no longer has spot (its mutation or price fields fail validation)."""

    code = "SPOT_WITHDRAWN"
    default_fix = (
        "Set capacity: on-demand, or on-demand-fallback: true: RunPod no longer offers spot"
    )


class BidTooLowError(RunPodError):
    code = "BID_TOO_LOW"
    default_fix = "Raise the spot bid per GPU above the current minimum bid, or use on-demand"


class InsufficientCreditError(RunPodError):
    code = "INSUFFICIENT_CREDITS"
    default_fix = "Add credit to the RunPod account (or turn on auto-pay), then rerun the job"


class PodNotFoundError(RunPodError):
    code = "NOT_FOUND"
    default_fix = "The pod is gone already (terminated, preempted or never created)"


class InvalidRequestError(RunPodError):
    code = "INVALID_REQUEST"
    default_fix = (
        "Check the inputs the message names (GPU type id, image, disk sizes, cloud type) "
        "against what RunPod offers"
    )


class FieldRefusedError(InvalidRequestError):
    """HTTP 400: RunPod's schema lacks fields, types or arguments the request named.

    The request failed validation, so nothing was done. ``fields`` are the names the
    server quoted.
    """

    def __init__(self, what: str, why: str, *, fields: frozenset[str], server_code: str | None):
        self.fields = fields
        super().__init__(what, why, server_code=server_code)


class RunPodServerError(RunPodError):
    code = "RUNPOD_SERVER_ERROR"
    default_fix = "RunPod failed internally; rerun the job later, or check status.runpod.io"


class CreateUncertainError(RunPodError):
    """A create may have made a pod, and listing pods to find out failed too."""

    code = "CREATE_UNCERTAIN"

    def __init__(self, what: str, why: str, *, pod_name: str):
        self.pod_name = pod_name
        super().__init__(
            what,
            why,
            f"A pod named '{pod_name}' may exist: the cleanup step terminates pods by name, "
            "or terminate it in the RunPod console",
        )


# Real messages (see the API facts), matched on the lower-cased text, first rule wins.
_MESSAGE_RULES: tuple[tuple[re.Pattern[str], type[RunPodError], str | None], ...] = (
    (
        re.compile(r"cannot resume a spot pod as an on demand pod"),
        InvalidRequestError,
        "Resume a spot pod with a bid (podBidResume), not as an on-demand pod",
    ),
    (
        re.compile(
            r"no longer any instances available|no instances available|"
            r"not enough free gpus|no (free )?gpus available|insufficient gpu capacity"
        ),
        NoCapacityError,
        None,
    ),
    (re.compile(r"\bbid\b.*\b(too low|below|minimum)\b"), BidTooLowError, None),
    (
        re.compile(
            r"insufficient (credit|funds|balance)|not enough (credit|funds|balance)|"
            r"balance (is )?too low"
        ),
        InsufficientCreditError,
        None,
    ),
    (re.compile(r"\bpod\b.*\bnot found\b"), PodNotFoundError, None),
    (
        re.compile(
            r"\bunauthori[sz]ed\b|unauthenticated|invalid (authorization|api) (token|key)|"
            r"token has expired"
        ),
        AuthError,
        None,
    ),
    (re.compile(r"something went wrong"), RunPodServerError, None),
)

_CODE_RULES: dict[str, type[RunPodError]] = {
    "UNAUTHENTICATED": AuthError,
    "FORBIDDEN": AuthError,
    "RESOURCE_UNAVAILABLE": NoCapacityError,
    "SUPPLY_CONSTRAINT": NoCapacityError,
    "BID_TOO_LOW": BidTooLowError,
    "INSUFFICIENT_CREDITS": InsufficientCreditError,
    "NOT_FOUND": PodNotFoundError,
    "BAD_USER_INPUT": InvalidRequestError,
    "GRAPHQL_VALIDATION_FAILED": InvalidRequestError,
    "GRAPHQL_PARSE_FAILED": InvalidRequestError,
    "INTERNAL_SERVER_ERROR": RunPodServerError,
}


# graphql-js's validation and variable messages quote what the schema lacks (graphql-core
# quotes with ' instead): "Cannot query field "x" on type "Y".", "Unknown type "X".",
# "Unknown argument "x" on field ...", and for a variable's input object
# '... Field "x" is not defined by type "Y".' (seen from RunPod in
# artokun/comfyui-mcp#2016).
_MISSING_NAME = re.compile(
    r"""(?:Cannot query field|Unknown type|Unknown argument|Field) ["'](\w+)["']"""
    r"""(?: on type| on field|\.|(?= is not defined))"""
)


def missing_names(errors: list[dict[str, Any]]) -> frozenset[str]:
    """The schema names a 400 answer says do not exist."""
    return frozenset(
        name for error in errors for name in _MISSING_NAME.findall(error_message(error))
    )


def error_code(error: Any) -> str | None:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return code if isinstance(code, str) else None


def error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "no message given"


def is_rate_limit_error(error: Any) -> bool:
    return error_code(error) == "RATE_LIMITED" or "rate limit" in error_message(error).lower()


def classify(what: str, error: Any) -> ActionError:
    """The error for one entry of a GraphQL ``errors[]`` list (message wins over code)."""
    message = error_message(error)
    code = error_code(error)
    if is_rate_limit_error(error):
        return RateLimitedError(
            what,
            f"RunPod said: {message}",
            "Run fewer starts at once on this key, or rerun the job later",
        )
    lowered = message.lower()
    kind: type[RunPodError] = RunPodError
    fix: str | None = None
    for pattern, rule_kind, rule_fix in _MESSAGE_RULES:
        if pattern.search(lowered):
            kind, fix = rule_kind, rule_fix
            break
    else:
        if code in _CODE_RULES:
            kind = _CODE_RULES[code]
    return kind(
        what,
        f"RunPod said: {message}",
        fix,
        server_message=message,
        server_code=code,
        retryable=kind is RunPodServerError,
    )
