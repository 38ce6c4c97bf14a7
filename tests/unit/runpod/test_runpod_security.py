"""Secrets stay out of logs and errors; endpoints, TLS and the key are checked."""

from __future__ import annotations

import io
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
import trustme
from runpod_fakes import API_KEY, URL, FakeRunPod, Reply, gql_error

from runpod_ssh_action.errors import InputError, NetworkError, TlsError
from runpod_ssh_action.masking import Masker
from runpod_ssh_action.runpod import PodSpec, RunPodClient
from runpod_ssh_action.runpod.client import DEFAULT_URL
from runpod_ssh_action.runpod.errors import AuthError, RunPodError

ENV_SECRET = "runner-config-9f8e7d6c5b4a"


def log_records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_key_is_registered_with_the_masker_first(
    make_client: Callable[..., RunPodClient],
) -> None:
    announced: list[str] = []
    masker = Masker(announce=announced.append)
    make_client(masker=masker)
    assert announced == [API_KEY]
    assert API_KEY in masker


def test_logs_never_hold_the_key_or_env_values(
    client: RunPodClient, server: FakeRunPod, log_stream: io.StringIO
) -> None:
    server.reply({"data": {"myself": {"id": "u"}}}, server.create())
    client.myself()
    client.create_spot(PodSpec(name="n", env={"JIT_CONFIG": ENV_SECRET, "MODE": "ci-run"}), 0.3)
    text = log_stream.getvalue()
    assert API_KEY not in text
    assert ENV_SECRET not in text
    requests_logged = [r for r in log_records(log_stream) if r["type"] == "request"]
    assert [r["operation"] for r in requests_logged] == ["myself", "podRentInterruptable"]
    for record in requests_logged:
        authorization = record["headers"]["Authorization"]  # type: ignore[index]
        assert "[MASKED]" in authorization
    env = requests_logged[1]["variables"]["input"]["env"]  # type: ignore[index]
    assert env == [{"key": "JIT_CONFIG", "value": "[MASKED]"}, {"key": "MODE", "value": "[MASKED]"}]
    # The values still reach RunPod: only the log is masked.
    assert server.sent[1].variables["input"]["env"][0]["value"] == ENV_SECRET


def test_logs_carry_responses_and_errors(
    client: RunPodClient, server: FakeRunPod, log_stream: io.StringIO
) -> None:
    server.reply(Reply("down", status=503), {"data": {"pod": None}})
    client.pod("p1")
    kinds = [(r["type"], r["operation"]) for r in log_records(log_stream)]
    assert kinds == [
        ("request", "pod"),
        ("error", "pod"),
        ("retry", "pod"),
        ("request", "pod"),
        ("response", "pod"),
    ]


def test_an_echoed_key_is_redacted_from_errors(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(gql_error(f"Unauthorized: key {API_KEY} is revoked"))
    with pytest.raises(AuthError) as caught:
        client.myself()
    assert API_KEY not in str(caught.value)
    assert API_KEY not in (caught.value.server_message or "")


@pytest.mark.parametrize("status", [400, 401, 418])
def test_an_echoed_key_is_redacted_from_http_errors(
    client: RunPodClient, server: FakeRunPod, status: int
) -> None:
    server.reply(Reply(f"bad key {API_KEY}", status=status))
    with pytest.raises(RunPodError) as caught:
        client.myself()
    assert API_KEY not in str(caught.value)


def test_network_errors_do_not_carry_the_key(client: RunPodClient, server: FakeRunPod) -> None:
    server.reply(*[requests.exceptions.ConnectionError("Connection reset by peer")] * 5)
    with pytest.raises(NetworkError) as caught:
        client.myself()
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "rule"),
    [("", "empty"), ("   ", "empty"), ("rpa_abc def", "spaces"), ("rpa_abc\nrpa_def", "line")],
)
def test_obviously_wrong_keys_are_refused(
    make_client: Callable[..., RunPodClient], key: str, rule: str
) -> None:
    with pytest.raises(InputError, match=rule) as caught:
        make_client(api_key=key)
    assert caught.value.input_name == "runpod-api-key"
    if key.strip():
        assert key not in str(caught.value)


def test_a_trailing_newline_is_trimmed(
    make_client: Callable[..., RunPodClient], server: FakeRunPod
) -> None:
    client = make_client(api_key=API_KEY + "\n")
    server.reply({"data": {"myself": {"id": "u"}}})
    client.myself()
    assert server.sent[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_values_travel_as_variables(client: RunPodClient, server: FakeRunPod) -> None:
    hostile = '"){id}} mutation{podTerminate(input:{podId:"x"})}#'
    server.reply({"data": {"pod": None}}, {"data": {"p0": None}})
    client.pod(hostile)
    client.pods([hostile])
    for sent in server.sent:
        assert hostile not in sent.query
        assert hostile in sent.variables.values()


# --- endpoints ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.runpod.io/graphql",
        "http://10.0.0.1/graphql",
        "ftp://api.runpod.io/",
        "api.runpod.io",
    ],
)
def test_plain_http_is_refused_beyond_loopback(
    make_client: Callable[..., RunPodClient], url: str
) -> None:
    with pytest.raises(InputError) as caught:
        make_client(url=url)
    assert caught.value.input_name == "RUNPOD_GRAPHQL_URL"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/graphql", "http://localhost/graphql", "http://[::1]:9/g"]
)
def test_plain_http_to_loopback_is_allowed(
    make_client: Callable[..., RunPodClient], url: str
) -> None:
    assert make_client(url=url).url == url


def test_the_endpoint_comes_from_the_environment(
    make_client: Callable[..., RunPodClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_URL", raising=False)
    monkeypatch.setenv("RUNPOD_GRAPHQL_URL", "https://runpod.example.test/graphql")
    assert make_client(url=None).url == "https://runpod.example.test/graphql"
    monkeypatch.setenv("RUNPOD_GRAPHQL_URL", "http://runpod.example.test/graphql")
    with pytest.raises(InputError):
        make_client(url=None)


def test_runpod_api_url_names_the_graphql_endpoint_only_when_it_ends_in_graphql(
    make_client: Callable[..., RunPodClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # To runpodctl RUNPOD_API_URL is the REST base (internal/configenv/configenv.go).
    monkeypatch.delenv("RUNPOD_GRAPHQL_URL", raising=False)
    monkeypatch.setenv("RUNPOD_API_URL", "https://rest.runpod.io/v1")
    assert make_client(url=None).url == DEFAULT_URL
    monkeypatch.setenv("RUNPOD_API_URL", "https://runpod.example.test/graphql")
    assert make_client(url=None).url == "https://runpod.example.test/graphql"
    monkeypatch.setenv("RUNPOD_GRAPHQL_URL", "https://other.example.test/graphql")
    assert make_client(url=None).url == "https://other.example.test/graphql"


def test_the_default_endpoint(
    make_client: Callable[..., RunPodClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNPOD_API_URL", raising=False)
    monkeypatch.delenv("RUNPOD_GRAPHQL_URL", raising=False)
    assert make_client(url=None).url == DEFAULT_URL == "https://api.runpod.io/graphql"


def test_transport_settings_are_passed_on(make_client: Callable[..., RunPodClient]) -> None:
    client = make_client(timeout=12.5, pins=frozenset({"pin="}))
    assert (client.transport.connect_timeout, client.transport.read_timeout) == (12.5, 12.5)
    assert client.transport.pins == frozenset({"pin="})
    assert client.transport.limiter is not None
    assert client.transport.base_url == URL


# --- TLS on loopback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_runpod(ca: trustme.CA) -> Iterator[str]:
    """A real HTTPS server on loopback that answers ``myself``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"data": {"myself": {"id": "tls-user", "email": None}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/graphql"
    httpd.shutdown()
    httpd.server_close()


def test_https_with_the_ca_from_the_environment(
    make_client: Callable[..., RunPodClient],
    https_runpod: str,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = make_client(url=https_runpod)
    assert client.transport.ca_bundle == str(bundle)
    assert client.myself().id == "tls-user"


def test_https_to_an_untrusted_server_fails(
    make_client: Callable[..., RunPodClient], https_runpod: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client = make_client(url=https_runpod)
    with pytest.raises(TlsError) as caught:
        client.myself()
    assert API_KEY not in str(caught.value)
