"""The one HTTP layer under both API clients.

What RunPod and GitHub share lives here once: a reused ``requests.Session``, HTTPS
with a TLS 1.2 floor and verified certificates (optionally pinned), timeouts on every
call, a client-side rate limiter, retries that never repeat a call that may have
acted, JSON request logs with secrets masked, and per-operation metrics. The two
clients differ only in how a response says "slow down", which they pass in as a
``RateLimitRule``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import os
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from . import __version__
from .clock import Clock, remaining
from .errors import ActionError, InputError, NetworkError, RateLimitedError, TlsError
from .masking import FIELD_MASK, Masker

USER_AGENT = f"runpod-ssh-action/{__version__} (+https://github.com/runpod-ssh-action)"


# --- endpoints -------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, name: str) -> str:
    """Return ``url`` if it is HTTPS, or plain HTTP to a loopback stand-in; else raise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(name, f"'{url}' is not an http(s) URL", "Give a full https:// URL")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InputError(
            name,
            "plain HTTP is allowed only to loopback addresses (local stand-ins)",
            "Use the https:// endpoint",
        )
    return url


# The CA bundle variables in the order requests reads them (requests sessions.py,
# merge_environment_settings), then OpenSSL's own.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def ca_bundle_from_env(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return next((env[name] for name in CA_BUNDLE_VARIABLES if env.get(name)), None)


# runpodctl reads the GraphQL URL from RUNPOD_GRAPHQL_URL and its REST base from
# RUNPOD_API_URL (internal/configenv/configenv.go): the latter names the GraphQL
# endpoint only when it ends in /graphql, and is read only then.
RUNPOD_GRAPHQL_URL_ENV, RUNPOD_LEGACY_URL_ENV = "RUNPOD_GRAPHQL_URL", "RUNPOD_API_URL"


def runpod_graphql_url_variable(env: Mapping[str, str]) -> str | None:
    """The variable that names RunPod's GraphQL URL, if any does."""
    if env.get(RUNPOD_GRAPHQL_URL_ENV, "").strip():
        return RUNPOD_GRAPHQL_URL_ENV
    legacy = env.get(RUNPOD_LEGACY_URL_ENV, "").strip().rstrip("/")
    return RUNPOD_LEGACY_URL_ENV if legacy.endswith("/graphql") else None


# What the action talks to and whom it trusts when the environment says nothing.
# RUNPOD_API_URL is left out: the settings already warn on the one case that reads it.
_ENDPOINT_DEFAULTS = {
    RUNPOD_GRAPHQL_URL_ENV: "https://api.runpod.io/graphql",
    "GITHUB_API_URL": "https://api.github.com",
}
_TRUST_VARIABLES = (*CA_BUNDLE_VARIABLES, "SSL_CERT_DIR")
_DEBIAN_TRUST = ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs")


def environment_overrides(env: Mapping[str, str]) -> list[str]:
    """``NAME=value`` for every variable that moves where the action's credentials go
    or whom it trusts away from the default: API endpoints, proxies, CA bundles.

    Any step before this one can set them through GITHUB_ENV, so they are worth one
    line in the log. Proxies are every ``*_proxy`` variable but ``no_proxy``, in either
    case, as urllib's getproxies_environment (which requests uses) reads them. URLs
    are shown as scheme, host and port only: a proxy URL may carry a password.
    """
    shown = []
    for name, default in _ENDPOINT_DEFAULTS.items():
        value = env.get(name, "").strip()
        if value and value.rstrip("/") != default:
            shown.append(f"{name}={bare_url(value)}")
    for name in sorted(env):
        lowered = name.lower()
        if lowered.endswith("_proxy") and lowered != "no_proxy" and env[name].strip():
            shown.append(f"{name}={bare_url(env[name].strip())}")
    shown += [
        f"{name}={env[name]}"
        for name in _TRUST_VARIABLES
        if env.get(name) and os.path.realpath(env[name]) not in _system_trust()
    ]
    return shown


def _system_trust() -> set[str]:
    """The system's own CA store: a variable naming it adds no trust. That is OpenSSL's
    built-in default and Debian's bundle (what the image and most runners carry)."""
    paths = ssl.get_default_verify_paths()
    named = (paths.openssl_cafile, paths.openssl_capath, *_DEBIAN_TRUST)
    return {os.path.realpath(path) for path in named}


def bare_url(value: str) -> str:
    """Scheme, host, port and path: never the user and password a proxy URL may carry."""
    parts = urlsplit(value if "://" in value else "http://" + value)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}{parts.path}"


# --- TLS -------------------------------------------------------------------------


def spki_pin(cert_der: bytes) -> str:
    """The base64 SHA-256 of a certificate's SubjectPublicKeyInfo (HPKP style)."""
    # Imported here: x509 costs tens of milliseconds on every step's start, and only the
    # rare configuration with pins ever reads a certificate.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = x509.load_der_x509_certificate(cert_der).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class PinMismatch(ssl.SSLError):
    pass


class NotLoopback(Exception):  # noqa: N818 - raised and caught here only
    """A plain-HTTP connection reached an address that is not loopback. Not an OSError:
    urllib3 passes other exceptions through untouched, so it is never retried as a
    network error (urllib3 connectionpool.py, HTTPConnectionPool.urlopen)."""

    def __init__(self, address: str):
        super().__init__(address)
        self.address = address


def _checked_pool(
    base: type[HTTPConnectionPool], check: Callable[[HTTPConnection], None]
) -> type[HTTPConnectionPool]:
    """``base`` (and its connection class) with ``check`` run on every new connection
    right after it is set up (TCP, then any proxy tunnel, then TLS), before a single
    request byte, or credential, is sent. Subclassing the pool's own connection class
    keeps what it does, such as a SOCKS pool's way of connecting.

    The connection is left open on a failed check: the pool closes and discards it
    (HTTPConnectionPool.urlopen), and closing it here first would reset its "connected
    to the proxy" flag and make urllib3 report a refused pin as a proxy failure."""

    class CheckedConnection(base.ConnectionCls):  # type: ignore[name-defined,misc]
        def connect(self) -> None:
            super().connect()
            check(self)

    class CheckedPool(base):  # type: ignore[valid-type,misc]
        ConnectionCls = CheckedConnection

    return CheckedPool


def _pin_check(pins: frozenset[str]) -> Callable[[HTTPConnection], None]:
    def check(conn: HTTPConnection) -> None:
        # Through a CONNECT tunnel the socket is the TLS session with the server
        # itself, so this is the server's certificate, not the proxy's.
        der = conn.sock.getpeercert(binary_form=True) if conn.sock else None  # type: ignore[union-attr]
        if not der or spki_pin(der) not in pins:
            raise PinMismatch("the server's public key matches none of the pins")

    return check


def _loopback_check(conn: HTTPConnection) -> None:
    """The address actually connected to must be loopback: a name such as
    ``api.localhost`` allows plain HTTP by its spelling, but a resolver (or a hosts
    file an earlier step wrote) can point it anywhere."""
    address = str(conn.sock.getpeername()[0]) if conn.sock else "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise NotLoopback(address) from None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if not (mapped or ip).is_loopback:
        raise NotLoopback(address)


def _with_pool(manager: PoolManager, scheme: str, check: Callable[[HTTPConnection], None]) -> None:
    manager.pool_classes_by_scheme = {
        **manager.pool_classes_by_scheme,
        scheme: _checked_pool(manager.pool_classes_by_scheme[scheme], check),
    }


class _TlsAdapter(HTTPAdapter):
    """HTTPS through our TLS context and pin check, directly or through a proxy.

    requests hands the context only to the direct pool manager and builds a proxy's
    manager from ``proxy_kwargs`` alone (requests adapters.py, init_poolmanager and
    proxy_manager_for), so both are set here. urllib3 tunnels HTTPS through a proxy
    with CONNECT and then runs TLS with the server inside the tunnel, using the pool's
    ``ssl_context`` (urllib3 connection.py, HTTPSConnection.connect), so context and
    pins reach the server whichever way the call goes.
    """

    def __init__(self, context: ssl.SSLContext, pins: frozenset[str]):
        self._context = context
        self._pins = pins
        super().__init__(pool_connections=4, pool_maxsize=32, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)
        if self._pins:
            _with_pool(self.poolmanager, "https", _pin_check(self._pins))

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy in self.proxy_manager:
            return self.proxy_manager[proxy]
        proxy_kwargs["ssl_context"] = self._context
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if self._pins:
            _with_pool(manager, "https", _pin_check(self._pins))
        return manager

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        # requests turns REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE into ``ca_certs``, which
        # urllib3 would load into our context on every connection: the trust is the
        # context's, loaded once from the bundle the settings checked and named.
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        return host, {k: v for k, v in pool.items() if k not in ("ca_certs", "ca_cert_dir")}


class _LoopbackAdapter(HTTPAdapter):
    """Plain HTTP, which only a local stand-in gets: every connection must land on a
    loopback address, and none goes through a proxy (a proxy would be the peer, and
    would see the credentials in clear)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _with_pool(self.poolmanager, "http", _loopback_check)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        kwargs["proxies"] = None
        return super().send(request, *args, **kwargs)


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A fresh context per transport: TLS 1.2 or newer, verification on, and the CA
    bundle loaded into this context only (a shared one would gather every CA)."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- rate limiting ---------------------------------------------------------------


class RateLimiter:
    """At most ``per_minute`` calls in any 60 s and ``per_second`` in any 1 s.

    A sliding window rather than a token bucket: a bucket with a burst allowance can
    put more than ``per_minute`` calls into some 60 s window, which is exactly what
    trips a server enforcing the same numbers. A call counts from when it was let go
    until ``finished`` moves it to when its answer came: the server counts arrivals,
    which fall somewhere in between, so a call let go exactly one window after another
    could otherwise arrive inside it and be refused.
    """

    def __init__(self, clock: Clock, per_minute: int = 100, per_second: int = 10):
        self._clock = clock
        self._windows = ((60.0, per_minute), (1.0, per_second))
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a call may go; return the stamp it is counted under."""
        while True:
            with self._lock:
                now = self._clock.monotonic()
                while self._sent and now - self._sent[0] >= 60.0:
                    self._sent.popleft()
                wait = 0.0
                for span, limit in self._windows:
                    recent = [t for t in self._sent if now - t < span]
                    if len(recent) >= limit:
                        wait = max(wait, recent[-limit] + span - now)
                if wait <= 0:
                    self._sent.append(now)
                    return now
            self._clock.sleep(wait)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Wait for room, then hold it for the call made inside."""
        stamp = self.acquire()
        try:
            yield
        finally:
            self.finished(stamp)

    def finished(self, stamp: float) -> None:
        """Count the call under ``stamp`` from now on, when its answer (or failure) came.
        Appending keeps the stamps in order: no stamp taken earlier is later than now."""
        with self._lock:
            with contextlib.suppress(ValueError):
                self._sent.remove(stamp)
            self._sent.append(self._clock.monotonic())


# --- logs and metrics ------------------------------------------------------------


class ApiLog:
    """JSON lines in the spec's request / response / error formats, masked; each line
    also goes to ``echo`` when given (the step log's debug lines)."""

    def __init__(
        self,
        masker: Masker,
        stream: TextIO | None = None,
        echo: Callable[[str], None] | None = None,
    ):
        self._masker = masker
        self._stream = stream
        self._echo = echo
        self._lock = threading.Lock()

    def emit(self, record: dict[str, Any]) -> None:
        if self._stream is None and self._echo is None:
            return
        line = self._masker.redact(json.dumps(self._masker.redact_structure(record)))
        if self._echo is not None:
            self._echo(line)
        if self._stream is not None:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()


@dataclass
class OperationStats:
    calls: int = 0
    failures: int = 0
    retries: int = 0
    total_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


class Metrics:
    """Per-operation counters and durations (the spec's API metrics and error rates)."""

    def __init__(self) -> None:
        self._ops: dict[str, OperationStats] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _stats(self, operation: str) -> OperationStats:
        return self._ops.setdefault(operation, OperationStats())

    def sent(self) -> None:
        with self._lock:
            self.requests += 1

    def retried(self, operation: str) -> None:
        with self._lock:
            self._stats(operation).retries += 1

    def finished(self, operation: str, duration_ms: float, error_code: str | None) -> None:
        with self._lock:
            stats = self._stats(operation)
            stats.calls += 1
            stats.total_ms += duration_ms
            if error_code:
                stats.failures += 1
                stats.errors[error_code] = stats.errors.get(error_code, 0) + 1

    def snapshot(self) -> dict[str, OperationStats]:
        with self._lock:
            return {k: OperationStats(**vars(v)) for k, v in self._ops.items()}


# --- the transport ---------------------------------------------------------------


class RateLimitRule(Protocol):
    def __call__(self, response: requests.Response, clock: Clock) -> float | None:
        """Seconds to wait if ``response`` says "rate limited", else ``None``."""
        ...


def retry_after_seconds(value: str | None, clock: Clock) -> float | None:
    """A ``Retry-After`` value (seconds or an HTTP date) as seconds from now;
    ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())


def never_rate_limited(response: requests.Response, clock: Clock) -> float | None:
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call keeps trying.

    Failures (network errors, 5xx, answers cut short) get ``max_attempts`` tries.
    Rate-limit answers do not count against those: a server that says "wait a second"
    is answering, so its waits are honoured for as long as ``deadline_seconds`` (from
    the first try) has room for them, each at most ``max_rate_limit_wait``.
    """

    max_attempts: int = 5
    deadline_seconds: float = 120.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Longest single "retry after" we honour; past it the call fails clearly
    # instead of parking a paid-for step for minutes.
    max_rate_limit_wait: float = 90.0


@dataclass
class Transport:
    base_url: str
    clock: Clock
    masker: Masker
    log: ApiLog
    metrics: Metrics = field(default_factory=Metrics)
    rate_limit_rule: RateLimitRule = never_rate_limited
    limiter: RateLimiter | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 30.0
    read_timeout: float = 30.0
    ca_bundle: str | None = None
    pins: frozenset[str] = frozenset()
    headers: Mapping[str, str] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    # Serialises calls flagged ``exclusive`` (mutations GitHub wants one at a time).
    _exclusive: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.session = requests.Session()
        # Proxies and netrc from the environment stay honoured; the CA bundle is
        # loaded into our own TLS context instead of requests' per-call ``verify``.
        self.session.headers.update({"User-Agent": USER_AGENT, **self.headers})
        adapter = _TlsAdapter(tls_context(self.ca_bundle), self.pins)
        self.session.mount("https://", adapter)
        self.session.mount("http://", _LoopbackAdapter())

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        idempotent: bool,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        log_variables: Any = None,
        exclusive: bool = False,
        expect_json: bool = False,
    ) -> requests.Response:
        """Send one call, retrying only where it is safe.

        Rate-limit answers are retried for every call (the server did not act).
        Network errors and 5xx are retried only when ``idempotent``; otherwise a
        ``NetworkError`` with ``maybe_acted`` goes to the caller to reconcile. With
        ``expect_json``, a 2xx answer whose body is not JSON (cut short on the way) is
        a failure like a 5xx: retried when ``idempotent``, else returned to the caller,
        which can tell it by ``unreadable_success``.
        """
        lock: AbstractContextManager[Any] = self._exclusive if exclusive else nullcontext()
        with lock:
            return self._send(
                method,
                url,
                operation=operation,
                idempotent=idempotent,
                json_body=json_body,
                headers=headers,
                params=params,
                log_variables=log_variables,
                expect_json=expect_json,
            )

    def _send(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        idempotent: bool,
        json_body: Any,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        log_variables: Any,
        expect_json: bool,
    ) -> requests.Response:
        deadline = self.clock.monotonic() + self.retry.deadline_seconds
        attempt = 0
        failures = 0
        limited = 0
        limited_seconds = 0.0
        while True:
            attempt += 1
            self.log.emit(
                {
                    "timestamp": _stamp(self.clock),
                    "type": "request",
                    "operation": operation,
                    "method": method,
                    "url": url,
                    "attempt": attempt,
                    "variables": log_variables,
                    "headers": _loggable_headers({**self.session.headers, **(headers or {})}),
                }
            )
            started = time.perf_counter()
            self.metrics.sent()
            try:
                with self.limiter.slot() if self.limiter else nullcontext():
                    response = self.session.request(
                        method,
                        url,
                        json=json_body,
                        headers=dict(headers or {}),
                        params=params,
                        timeout=(self.connect_timeout, self.read_timeout),
                        allow_redirects=False,
                    )
            except NotLoopback as exc:
                self._finish(operation, started, "NOT_LOOPBACK", exc.address)
                raise ActionError(
                    f"Refused plain HTTP to {_host(url)}",
                    f"the name led to {exc.address}, which is not a loopback address, and "
                    "plain HTTP is allowed only to a local stand-in",
                    "Use the https:// endpoint, or a name that resolves to 127.0.0.1 or ::1",
                    code="NOT_LOOPBACK",
                ) from None
            except requests.exceptions.SSLError as exc:
                self._finish(operation, started, "TLS_ERROR", str(exc))
                raise TlsError(
                    f"Could not open a trusted TLS connection to {_host(url)}",
                    _tls_reason(exc),
                    "Check the endpoint URL, the CA bundle (REQUESTS_CA_BUNDLE) and any "
                    "certificate pins",
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                error = _network_error(exc, url, self.read_timeout, operation)
                self._finish(operation, started, error.code, error.why)
                if not idempotent:
                    raise error from None
                failures += 1
                wait = self._failure_wait(failures, deadline)
                if wait is None:
                    raise error from None
                self._retry_wait(operation, wait, error.code)
                continue

            duration_ms = (time.perf_counter() - started) * 1000
            limited_wait = self.rate_limit_rule(response, self.clock)
            if limited_wait is not None:
                self._finish(operation, started, "RATE_LIMITED", f"HTTP {response.status_code}")
                limited += 1
                # "Retry now" gets backoff, so that a busy server is not hammered.
                wait = max(limited_wait, self._backoff(limited) if limited_wait == 0 else 0)
                left = remaining(self.clock, deadline)
                if wait > self.retry.max_rate_limit_wait or wait > left:
                    raise RateLimitedError(
                        f"{operation} was rate limited by {_host(url)}",
                        _limited_why(attempt, limited_seconds, wait, left, self.retry),
                        "Run fewer starts at once on this key, or retry the job later",
                    )
                limited_seconds += wait
                self._retry_wait(operation, wait, "RATE_LIMITED")
                continue

            broken = _broken_answer(response, expect_json) if idempotent else None
            if broken is not None:
                self._finish(operation, started, broken, "")
                failures += 1
                wait = self._failure_wait(failures, deadline)
                if wait is not None:
                    self._retry_wait(operation, wait, broken)
                    continue
                return response

            failed = response.status_code >= 400
            self.metrics.finished(
                operation, duration_ms, f"HTTP_{response.status_code}" if failed else None
            )
            self.log.emit(
                {
                    "timestamp": _stamp(self.clock),
                    "type": "response",
                    "operation": operation,
                    "status": "failed" if failed else "success",
                    "http_status": response.status_code,
                    "duration_ms": round(duration_ms, 1),
                }
            )
            return response

    def _failure_wait(self, failures: int, deadline: float) -> float | None:
        """The pause before trying again after the ``failures``-th failure, or None
        when the attempts are spent or the deadline has no room for it."""
        wait = self._backoff(failures)
        if failures >= self.retry.max_attempts or wait > remaining(self.clock, deadline):
            return None
        return wait

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of the nominal delay."""
        nominal = min(self.retry.max_delay, self.retry.base_delay * 2.0 ** (attempt - 1))
        return nominal / 2 + self.rng.uniform(0, nominal / 2)

    def _retry_wait(self, operation: str, wait: float, code: str) -> None:
        self.metrics.retried(operation)
        self.log.emit(
            {
                "timestamp": _stamp(self.clock),
                "type": "retry",
                "operation": operation,
                "reason": code,
                "wait_seconds": round(wait, 3),
            }
        )
        self.clock.sleep(wait)

    def _finish(self, operation: str, started: float, code: str, message: str) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        self.metrics.finished(operation, duration_ms, code)
        self.log.emit(
            {
                "timestamp": _stamp(self.clock),
                "type": "error",
                "operation": operation,
                "status": "failed",
                "duration_ms": round(duration_ms, 1),
                "error": {"code": code, "message": message},
            }
        )


def _loggable_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """Headers for the request log, credentials replaced but their scheme kept
    (``Bearer [MASKED]``) so a log reader can tell which kind of auth was sent."""
    shown = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme = str(value).split(" ", 1)[0] if " " in str(value) else ""
            shown[name] = f"{scheme} {FIELD_MASK}".strip()
        else:
            shown[name] = str(value)
    return shown


def _stamp(clock: Clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def unreadable_success(response: requests.Response) -> bool:
    """A 2xx answer whose body is not JSON: cut short on its way (after the server
    acted), or not from the API at all. A 204 has no body by definition."""
    if not 200 <= response.status_code < 300 or response.status_code == 204:
        return False
    try:
        response.json()
    except ValueError:
        return True
    return False


def _broken_answer(response: requests.Response, expect_json: bool) -> str | None:
    """The error code of an answer worth asking again for, or None."""
    if response.status_code >= 500:
        return f"HTTP_{response.status_code}"
    if expect_json and unreadable_success(response):
        return "UNREADABLE_ANSWER"
    return None


def _limited_why(attempt: int, waited: float, wait: float, left: float, policy: RetryPolicy) -> str:
    done = f"still limited after {attempt} attempts and {waited:.0f} s of waiting"
    if wait > policy.max_rate_limit_wait:
        return (
            f"{done}; the server asks for {wait:.0f} s more, past the "
            f"{policy.max_rate_limit_wait:.0f} s the action waits at once"
        )
    return f"{done}; the next wait ({wait:.0f} s) does not fit the {left:.0f} s left for this call"


def _tls_reason(exc: Exception) -> str:
    text = str(exc)
    if "pins" in text:
        return "the server's public key matches none of the configured pins"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its certificate is not signed by a trusted CA"
    if "VERSION" in text.upper() or "PROTOCOL" in text.upper():
        return "it does not offer TLS 1.2 or newer"
    return "the TLS handshake failed"


def _network_error(exc: Exception, url: str, timeout: float, operation: str) -> NetworkError:
    host = _host(url)
    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        code, why = "NETWORK_TIMEOUT", f"no answer within {timeout:g} seconds"
    elif "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text:
        code, why = "DNS_ERROR", f"the hostname {host} could not be resolved"
    elif "refused" in text.lower():
        code, why = "CONNECTION_REFUSED", f"{host} refused the connection"
    else:
        code, why = "CONNECTION_RESET", "the connection broke before an answer came"
    # A refused or unresolved connection never carried the request.
    maybe_acted = code in ("NETWORK_TIMEOUT", "CONNECTION_RESET")
    return NetworkError(
        f"{operation} did not reach {host}",
        why,
        code=code,
        endpoint=url,
        hostname=host,
        timeout_seconds=timeout if code == "NETWORK_TIMEOUT" else None,
        maybe_acted=maybe_acted,
    )
