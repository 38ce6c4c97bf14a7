"""The RunPod GraphQL client.

The create-reconcile invariant: **one create call makes at most one pod.** A create is
never retried blindly. When its answer is lost after the request may have reached
RunPod (a timeout or a broken connection, an HTTP 5xx, "Something went wrong", a body
that is not JSON), the client lists the account's pods and looks for the spec's
``name``: if a pod by that name exists, it is adopted and returned; only when none does
is the create sent again, a bounded number of times. If the listing itself fails, the
client stops with ``CreateUncertainError`` naming the pod, so the caller's teardown can
find any such pod by name. ``PodSpec.name`` is required and must be unique for that
reason (a retried create reuses the same name, so even a pod the listing could not yet
show is caught by a teardown by name).

Reads (``myself``, ``pod``, the batched ``pods``, the pod list, ``gpuTypes``) and
``podTerminate`` are idempotent and retried on network errors, HTTP 5xx, internal
server errors and malformed bodies; ``podStop``, ``podResume`` and ``podBidResume`` are
not. Every value is sent as a GraphQL variable; the documents are constants.

RunPod's schema is changing under its clients: spot ("is being removed from the runpod
api", RunPod, April 2026) and ``terminateAfter`` on the spot input (runpodctl sends it
only on ``PodFindAndDeployOnDemandInput``, internal/api/graphql.go). A request naming
what the schema lacks is refused whole with HTTP 400 before anything is done, so the
client learns from the first refusal, asks without the missing part, and remembers for
the rest of the run; ``take_notices`` hands the caller what it learnt, once.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests

from ..clock import Clock, remaining
from ..errors import ActionError, InputError, NetworkError
from ..masking import FIELD_MASK, Masker
from ..transport import (
    RUNPOD_GRAPHQL_URL_ENV,
    ApiLog,
    Metrics,
    RateLimiter,
    RetryPolicy,
    Transport,
    ca_bundle_from_env,
    check_endpoint,
    runpod_graphql_url_variable,
)
from . import queries
from .cache import GpuTypeCache, cache_key, default_cache_dir
from .errors import (
    AuthError,
    CreateUncertainError,
    FieldRefusedError,
    InvalidRequestError,
    NoCapacityError,
    PodNotFoundError,
    RunPodError,
    RunPodServerError,
    SpotWithdrawnError,
    classify,
    error_code,
    error_message,
    missing_names,
)
from .models import Account, GpuType, Pod, PodSpec
from .rate_limit import runpod_rate_limit

DEFAULT_URL = "https://api.runpod.io/graphql"
# What a schema without spot lacks: any of these refused means "no spot here".
SPOT_NAMES = frozenset(
    {
        "podRentInterruptable",
        "PodRentInterruptableInput",
        "minimumBidPrice",
        "secureSpotPrice",
        "communitySpotPrice",
    }
)
CREATE_ATTEMPTS = 3
_SERVER_TEXT_LIMIT = 300

T = TypeVar("T")
Data = dict[str, Any]
Errors = list[dict[str, Any]]


class RunPodClient:
    def __init__(
        self,
        api_key: str,
        *,
        url: str | None = None,
        clock: Clock,
        masker: Masker,
        log: ApiLog,
        metrics: Metrics | None = None,
        ca_bundle: str | None = None,
        pins: frozenset[str] = frozenset(),
        limiter: RateLimiter | bool | None = True,
        cache_dir: str | os.PathLike[str] | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        create_attempts: int = CREATE_ATTEMPTS,
    ):
        # Registered before anything else can print it, even in a validation error.
        masker.add(api_key)
        api_key = _checked_key(api_key)
        self.url = check_endpoint(
            url or endpoint_from_env(os.environ) or DEFAULT_URL, RUNPOD_GRAPHQL_URL_ENV
        )
        self._clock = clock
        self._masker = masker
        self._log = log
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._create_attempts = max(1, create_attempts)
        # True means RunPod's documented budget (the spec's 100/min, 10/s).
        rate_limiter = (
            RateLimiter(clock, per_minute=100, per_second=10)
            if limiter is True
            else limiter or None
        )
        self.transport = Transport(
            base_url=self.url,
            clock=clock,
            masker=masker,
            log=log,
            metrics=metrics or Metrics(),
            rate_limit_rule=runpod_rate_limit,
            limiter=rate_limiter,
            retry=self._retry,
            connect_timeout=timeout,
            read_timeout=timeout,
            ca_bundle=ca_bundle or ca_bundle_from_env(),
            pins=pins,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            rng=self._rng,
        )
        directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.gpu_type_cache = GpuTypeCache(directory / "gpu_types.json", clock)
        self._learnt = threading.Lock()
        # Why RunPod has no spot for this run (None while it may have).
        self.spot_withdrawn: str | None = None
        self._spot_terminate_after = True
        self._notices: list[str] = []

    def take_notices(self) -> list[str]:
        """What the client learnt about RunPod's API since the last call, each once."""
        with self._learnt:
            notices, self._notices = self._notices, []
            return notices

    def _withdraw_spot(self, refusal: FieldRefusedError) -> None:
        with self._learnt:
            if self.spot_withdrawn is None:
                self.spot_withdrawn = refusal.why
                self._notices.append(
                    "RunPod no longer offers spot: it refused the spot fields "
                    f"({refusal.why}). Spot is not asked for again in this run."
                )

    def _refuse_spot_terminate_after(self) -> None:
        with self._learnt:
            if self._spot_terminate_after:
                self._spot_terminate_after = False
                self._notices.append(
                    "RunPod refused terminateAfter on spot pods: spot pods of this run have "
                    "no server-side deadline (the pod's watchdog, the post step, stop and "
                    "reap still end them)."
                )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RunPodClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- account and listing ---------------------------------------------------

    def myself(self) -> Account:
        what = "Checking the RunPod API key"

        def read(data: Data, errors: Errors) -> Account:
            self._raise_first(what, errors)
            account = data.get("myself")
            if not isinstance(account, dict) or not isinstance(account.get("id"), str):
                raise AuthError(what, "RunPod returned no account for this key")
            return Account.from_api(account)

        return self._run("myself", queries.MYSELF, {}, what=what, idempotent=True, read=read)

    def list_pods(self, name_prefix: str | None = None) -> list[Pod]:
        """The account's pods, only those whose name starts with ``name_prefix`` if given
        (RunPod has no name filter, so it is applied here)."""
        what = "Listing the RunPod account's pods"

        def read(data: Data, errors: Errors) -> list[Pod]:
            self._raise_first(what, errors)
            account = data.get("myself")
            if not isinstance(account, dict):
                raise AuthError(what, "RunPod returned no account for this key")
            pods = [self._pod(what, p) for p in _items(account.get("pods"))]
            if name_prefix is None:
                return pods
            return [p for p in pods if p.name is not None and p.name.startswith(name_prefix)]

        return self._run("myself", queries.LIST_PODS, {}, what=what, idempotent=True, read=read)

    # --- reading pods ------------------------------------------------------------

    def pod(self, pod_id: str) -> Pod | None:
        """The pod, or ``None`` when RunPod no longer knows it (terminated or never made)."""
        what = f"Reading RunPod pod {pod_id}"

        def read(data: Data, errors: Errors) -> Pod | None:
            try:
                self._raise_first(what, errors)
            except PodNotFoundError:
                return None
            found = data.get("pod")
            return self._pod(what, found) if isinstance(found, dict) else None

        return self._run(
            "pod", queries.POD, {"podId": pod_id}, what=what, idempotent=True, read=read
        )

    def pods(self, pod_ids: Sequence[str]) -> dict[str, Pod | None]:
        """Several pods in one request (aliases p0, p1, ...); ``None`` for a gone pod."""
        ids = list(dict.fromkeys(pod_ids))
        if not ids:
            return {}
        what = f"Reading {len(ids)} RunPod pod(s)"
        by_alias = {queries.pod_alias(i): pod_id for i, pod_id in enumerate(ids)}

        def read(data: Data, errors: Errors) -> dict[str, Pod | None]:
            gone: set[str] = set()
            for error in errors:
                path = error.get("path")
                alias = path[0] if isinstance(path, list) and path else None
                failure = classify(what, self._redacted(error))
                if isinstance(failure, PodNotFoundError) and alias in by_alias:
                    gone.add(alias)
                else:
                    raise failure
            result: dict[str, Pod | None] = {}
            for alias, pod_id in by_alias.items():
                found = data.get(alias)
                result[pod_id] = (
                    self._pod(what, found)
                    if isinstance(found, dict) and alias not in gone
                    else None
                )
            return result

        return self._run(
            "pods",
            queries.pods_query(len(ids)),
            dict(by_alias),
            what=what,
            idempotent=True,
            read=read,
        )

    # --- creating ----------------------------------------------------------------

    def create_spot(self, spec: PodSpec, bid_per_gpu: float) -> Pod:
        """Rent an interruptible (spot) pod with ``podRentInterruptable``."""
        if not bid_per_gpu > 0:
            raise ValueError("bid_per_gpu must be a positive price in USD per GPU-hour")
        what = f"Creating spot pod '{spec.name}' on RunPod"
        if self.spot_withdrawn is not None:
            raise SpotWithdrawnError(what, self.spot_withdrawn)
        payload = {**spec.to_input(), "bidPerGpu": bid_per_gpu}
        if not self._spot_terminate_after:
            payload.pop("terminateAfter", None)
        try:
            return self._create("podRentInterruptable", queries.CREATE_SPOT, spec, payload, what)
        except FieldRefusedError as exc:
            if exc.fields & SPOT_NAMES:
                self._withdraw_spot(exc)
                raise SpotWithdrawnError(what, exc.why) from None
            if "terminateAfter" not in exc.fields or "terminateAfter" not in payload:
                raise
            # A validation failure created nothing: sending it again is safe.
            self._refuse_spot_terminate_after()
            payload.pop("terminateAfter")
            return self._create("podRentInterruptable", queries.CREATE_SPOT, spec, payload, what)

    def create_on_demand(self, spec: PodSpec) -> Pod:
        """Rent an on-demand pod with ``podFindAndDeployOnDemand``."""
        what = f"Creating on-demand pod '{spec.name}' on RunPod"
        return self._create(
            "podFindAndDeployOnDemand", queries.CREATE_ON_DEMAND, spec, spec.to_input(), what
        )

    def _create(self, operation: str, query: str, spec: PodSpec, payload: Data, what: str) -> Pod:
        variables = {"input": payload}
        log_variables = {"input": _env_masked(payload)}

        def read(data: Data, errors: Errors) -> Pod:
            self._raise_first(what, errors)
            created = data.get(operation)
            if created is None and operation in data:
                # A null create without errors is how RunPod says "no capacity" too.
                raise NoCapacityError(what, "RunPod answered with no pod and no error")
            if not isinstance(created, dict):
                raise RunPodServerError(what, "RunPod answered without a pod")
            return self._pod(what, created)

        last: ActionError
        for attempt in range(1, self._create_attempts + 1):
            try:
                return self._run(
                    operation,
                    query,
                    variables,
                    what=what,
                    idempotent=False,
                    read=read,
                    log_variables=log_variables,
                )
            except (NetworkError, RunPodServerError) as exc:
                last = exc
                maybe_acted = not isinstance(exc, NetworkError) or exc.maybe_acted
                if not maybe_acted and attempt == self._create_attempts:
                    break
                # Give a slow server time to finish what it may be doing before we look.
                self._retry_wait(operation, self._backoff(attempt), exc.code)
                if maybe_acted:
                    adopted = self._find_created(operation, spec, what, exc)
                    if adopted is not None:
                        return adopted
        raise last

    def _find_created(
        self, operation: str, spec: PodSpec, what: str, cause: ActionError
    ) -> Pod | None:
        try:
            matches = [p for p in self.list_pods(spec.name) if p.name == spec.name]
        except ActionError as exc:
            raise CreateUncertainError(
                f"{what} may have succeeded",
                f"the answer was lost ({cause.why or cause.code}) and listing pods to "
                f"check failed too ({exc.why or exc.code})",
                pod_name=spec.name,
            ) from None
        self._log.emit(
            {
                "timestamp": _stamp(self._clock),
                "type": "reconcile",
                "operation": operation,
                "name": spec.name,
                "found": [p.id for p in matches],
                "action": "adopt" if matches else "none found",
            }
        )
        return matches[0] if matches else None

    # --- lifecycle ---------------------------------------------------------------

    def resume(self, pod_id: str, gpu_count: int) -> Pod:
        """Start a stopped on-demand pod again (``podResume``); fails for spot pods."""
        return self._pod_mutation(
            "podResume",
            queries.RESUME,
            {"podId": pod_id, "gpuCount": gpu_count},
            f"Resuming RunPod pod {pod_id}",
        )

    def bid_resume(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod:
        """Start a stopped spot pod again with a new bid (``podBidResume``)."""
        return self._pod_mutation(
            "podBidResume",
            queries.BID_RESUME,
            {"podId": pod_id, "bidPerGpu": bid_per_gpu, "gpuCount": gpu_count},
            f"Resuming spot pod {pod_id} on RunPod",
        )

    def stop(self, pod_id: str) -> Pod:
        """Stop a pod (its volume stays, and is billed); ``terminate`` ends it."""
        return self._pod_mutation(
            "podStop", queries.STOP, {"podId": pod_id}, f"Stopping RunPod pod {pod_id}"
        )

    def terminate(self, pod_id: str) -> bool:
        """End a pod for good: ``True`` if terminated now, ``False`` if already gone.

        Retried like a read, so a retry after a lost answer may report ``False`` for a
        pod the first attempt terminated; either way the pod is gone.
        """
        what = f"Terminating RunPod pod {pod_id}"

        def read(data: Data, errors: Errors) -> bool:
            try:
                self._raise_first(what, errors)
            except PodNotFoundError:
                return False
            return True

        return self._run(
            "podTerminate",
            queries.TERMINATE,
            {"input": {"podId": pod_id}},
            what=what,
            idempotent=True,
            read=read,
        )

    def _pod_mutation(self, operation: str, query: str, payload: Data, what: str) -> Pod:
        def read(data: Data, errors: Errors) -> Pod:
            self._raise_first(what, errors)
            found = data.get(operation)
            if not isinstance(found, dict):
                raise RunPodServerError(what, "RunPod answered without a pod")
            return self._pod(what, found)

        return self._run(
            operation, query, {"input": payload}, what=what, idempotent=False, read=read
        )

    # --- GPU types ---------------------------------------------------------------

    def gpu_types(
        self, gpu_count: int, ids: Sequence[str] | None = None, *, use_cache: bool = True
    ) -> list[GpuType]:
        """GPU types with prices for ``gpu_count`` GPUs, in the order of ``ids`` if given
        (unknown ids are left out). Answers are cached on disk for an hour."""
        wanted = list(dict.fromkeys(ids)) if ids is not None else None
        if wanted == []:
            return []
        key = cache_key(gpu_count, wanted)
        raw = self.gpu_type_cache.get(key) if use_cache else None
        if raw is None:
            try:
                raw = self._fetch_gpu_types(gpu_count, wanted)
            except FieldRefusedError as exc:
                if not exc.fields & SPOT_NAMES or self.spot_withdrawn is not None:
                    raise
                self._withdraw_spot(exc)
                raw = self._fetch_gpu_types(gpu_count, wanted)
            self.gpu_type_cache.put(key, raw)
        return [GpuType.from_api(item) for item in raw]

    def _fetch_gpu_types(self, gpu_count: int, ids: list[str] | None) -> list[dict[str, Any]]:
        what = "Listing RunPod GPU types"
        query = queries.GPU_TYPES if self.spot_withdrawn is None else queries.GPU_TYPES_NO_SPOT
        variables: Data = {"lowestPrice": {"gpuCount": gpu_count}}
        if ids is not None and len(ids) == 1:
            variables["input"] = {"id": ids[0]}

        def read(data: Data, errors: Errors) -> list[dict[str, Any]]:
            self._raise_first(what, errors)
            items = [i for i in _items(data.get("gpuTypes")) if isinstance(i.get("id"), str)]
            if ids is None:
                return items
            by_id = {i["id"]: i for i in items}
            return [by_id[i] for i in ids if i in by_id]

        return self._run("gpuTypes", query, variables, what=what, idempotent=True, read=read)

    # --- the wire ----------------------------------------------------------------

    def _run(
        self,
        operation: str,
        query: str,
        variables: Data,
        *,
        what: str,
        idempotent: bool,
        read: Callable[[Data, Errors], T],
        log_variables: Any = None,
    ) -> T:
        """Send one document and interpret the answer with ``read``; for idempotent
        calls, repeat on server failures the transport cannot see (a 200 saying
        INTERNAL_SERVER_ERROR, a body that is not JSON)."""
        deadline = self._clock.monotonic() + self._retry.deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                data, errors = self._post(
                    operation,
                    query,
                    variables,
                    what=what,
                    idempotent=idempotent,
                    log_variables=variables if log_variables is None else log_variables,
                )
                return read(data, errors)
            except RunPodServerError as exc:
                if not (idempotent and exc.retryable) or attempt >= self._retry.max_attempts:
                    raise
                wait = self._backoff(attempt)
                if wait > remaining(self._clock, deadline):
                    raise
                self._retry_wait(operation, wait, exc.code)

    def _post(
        self,
        operation: str,
        query: str,
        variables: Data,
        *,
        what: str,
        idempotent: bool,
        log_variables: Any,
    ) -> tuple[Data, Errors]:
        response = self.transport.request(
            "POST",
            self.url,
            operation=operation,
            idempotent=idempotent,
            json_body={"query": query, "variables": variables},
            log_variables=log_variables,
        )
        status = response.status_code
        if status in (401, 403):
            raise AuthError(
                what,
                f"RunPod answered HTTP {status}: the API key was not accepted"
                + (" for this operation" if status == 403 else ""),
            )
        if status >= 500:
            # The transport has already retried this where that was safe.
            raise RunPodServerError(what, f"RunPod answered HTTP {status}", server_code=str(status))
        if status == 400:
            why = f"RunPod answered HTTP 400: {self._text(response)}"
            refused = _errors_of(response)
            names = missing_names(refused)
            if names:
                code = error_code(refused[0]) if refused else None
                raise FieldRefusedError(what, why, fields=names, server_code=code)
            raise InvalidRequestError(what, why)
        if status != 200:
            raise RunPodError(what, f"RunPod answered HTTP {status}: {self._text(response)}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RunPodServerError(what, "RunPod's answer was not a JSON object", retryable=True)
        data = body.get("data")
        errors = [self._redacted(e) for e in _items(body.get("errors"))]
        return (data if isinstance(data, dict) else {}), errors

    def _raise_first(self, what: str, errors: Errors) -> None:
        if errors:
            raise classify(what, errors[0])

    def _redacted(self, error: dict[str, Any]) -> dict[str, Any]:
        message = self._masker.redact(error_message(error))[:_SERVER_TEXT_LIMIT]
        return {**error, "message": message}

    def _text(self, response: requests.Response) -> str:
        """The server's own words on a failed call: its GraphQL messages if any."""
        errors = _errors_of(response)
        text = "; ".join(error_message(e) for e in errors) if errors else response.text.strip()
        return self._masker.redact(text or "no message given")[:_SERVER_TEXT_LIMIT]

    def _pod(self, what: str, data: dict[str, Any]) -> Pod:
        if not isinstance(data.get("id"), str):
            raise RunPodServerError(what, "RunPod answered with a pod that has no id")
        return Pod.from_api(data)

    def _backoff(self, attempt: int) -> float:
        nominal = min(self._retry.max_delay, self._retry.base_delay * 2.0 ** (attempt - 1))
        return nominal / 2 + self._rng.uniform(0, nominal / 2)

    def _retry_wait(self, operation: str, wait: float, code: str) -> None:
        self.transport.metrics.retried(operation)
        self._log.emit(
            {
                "timestamp": _stamp(self._clock),
                "type": "retry",
                "operation": operation,
                "reason": code,
                "wait_seconds": round(wait, 3),
            }
        )
        self._clock.sleep(wait)


def _checked_key(api_key: str) -> str:
    key = api_key.strip() if isinstance(api_key, str) else ""
    if not key:
        raise InputError("runpod-api-key", "it is empty", "Set the secret to a RunPod API key")
    if any(c.isspace() for c in key):
        raise InputError(
            "runpod-api-key",
            "it contains spaces or line breaks",
            "Paste the key alone into the secret, on one line",
        )
    return key


def endpoint_from_env(env: Mapping[str, str]) -> str | None:
    """The GraphQL URL the environment names (see runpod_graphql_url_variable)."""
    variable = runpod_graphql_url_variable(env)
    return env[variable].strip() if variable else None


def _errors_of(response: requests.Response) -> Errors:
    try:
        body = response.json()
    except ValueError:
        body = None
    return _items(body.get("errors")) if isinstance(body, dict) else []


def _env_masked(payload: Data) -> Data:
    """The create input as logged: environment values are replaced, keys kept."""
    env = payload.get("env")
    if not isinstance(env, list):
        return payload
    return {**payload, "env": [{**e, "value": FIELD_MASK} for e in env]}


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _stamp(clock: Clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
