"""The one error shape every layer raises: what failed, why, and what to change.

The action prints each as a single sentence to the log and the job summary, in the
style of pypa/gh-action-pypi-publish. Messages are built from facts the caller
already holds; secrets never go into them (and the printer redacts all the same).
"""

from __future__ import annotations


class ActionError(Exception):
    """A failure a user can act on.

    ``what`` says what failed, ``why`` the cause as far as it is known, ``fix`` what
    to change. ``code`` is a short stable identifier for metrics and tests.
    """

    code = "ERROR"

    def __init__(self, what: str, why: str = "", fix: str = "", *, code: str | None = None):
        self.what = what
        self.why = why
        self.fix = fix
        if code is not None:
            self.code = code
        super().__init__(self.sentence())

    def sentence(self) -> str:
        text = self.what.rstrip(".")
        if self.why:
            text += f": {self.why.rstrip('.')}"
        text += "."
        if self.fix:
            text += f" {self.fix.rstrip('.')}."
        return text


class InputError(ActionError):
    """An input breaks a rule; raised before anything is spent."""

    code = "BAD_INPUT"

    def __init__(self, name: str, rule: str, fix: str = ""):
        self.input_name = name
        super().__init__(f"Input '{name}' is invalid", rule, fix)


class NetworkError(ActionError):
    """The request never got an HTTP answer (timeout, DNS, reset).

    Carries the spec's fields: ``endpoint``, ``timeout_seconds``, ``hostname``.
    ``maybe_acted`` is true when the request was sent and the server may have carried
    it out before the connection broke: callers of non-idempotent calls must reconcile.
    """

    code = "NETWORK_ERROR"

    def __init__(
        self,
        what: str,
        why: str,
        *,
        code: str,
        endpoint: str,
        hostname: str,
        timeout_seconds: float | None = None,
        maybe_acted: bool = False,
    ):
        self.endpoint = endpoint
        self.hostname = hostname
        self.timeout_seconds = timeout_seconds
        self.maybe_acted = maybe_acted
        super().__init__(
            what,
            why,
            "Check that the runner can reach the endpoint; the call is retried where that is safe",
            code=code,
        )


class TlsError(ActionError):
    """The server's TLS could not be trusted; never retried."""

    code = "TLS_ERROR"


class RateLimitedError(ActionError):
    """The server kept saying "slow down" past the attempts or the deadline."""

    code = "RATE_LIMITED"


class CancelledError(ActionError):
    """A wait was cut short because the workflow was cancelled."""

    code = "CANCELLED"

    def __init__(self) -> None:
        super().__init__("The step was cancelled", "the runner sent a stop signal")
