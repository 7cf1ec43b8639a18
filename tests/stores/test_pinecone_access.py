"""Reaching a Pinecone index: a refused key is bad input naming the side and its variable (never the key), a
host that refuses connections fails within seconds until it has answered once, and then gets the full
retry policy."""

from __future__ import annotations

import pickle
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pinecone_migrator.errors import RemoteError, UserError
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.rest import RestTransport
from pinecone_migrator.stores.pinecone.retry import FIRST_CONTACT
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy, Side

RIGHT_KEY = "right-key-3e7f01"
WRONG_KEY = "wrong-key-9a2b44"
QUICK = RetryPolicy(attempts=6, base_seconds=0.01, max_seconds=0.02, budget_seconds=10)


@pytest.fixture
def keyed_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServerConfig(port=0, api_key=RIGHT_KEY)) as running:
        yield running


def _dead_host() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _drops(server: BackgroundServer) -> int:
    answer = httpx.get(f"{server.url}/_admin/faults", headers={"Api-Key": RIGHT_KEY})
    return int(answer.json()["counters"]["drop"])


def test_a_refused_key_names_the_side_and_its_variable(keyed_server: BackgroundServer) -> None:
    store = PineconeStore("src", WRONG_KEY, keyed_server.url, QUICK, side=Side("source", "SRC_KEY"))
    with pytest.raises(UserError) as refused:
        store.exists()
    message = str(refused.value)
    assert f"source index 'src' at {keyed_server.url} refused the API key" in message
    assert "SRC_KEY (named by --source-api-key-env)" in message
    assert WRONG_KEY not in message


def test_a_key_refused_by_the_data_plane_is_bad_input(keyed_server: BackgroundServer) -> None:
    store = PineconeStore("dst", WRONG_KEY, keyed_server.url, QUICK, side=Side("target", "DST_KEY"))
    data = RestTransport(keyed_server.url, WRONG_KEY, denied=store.denied)
    with pytest.raises(UserError) as refused:
        data.call("list", "GET", "vectors/list")
    message = str(refused.value)
    assert f"target index 'dst' at {keyed_server.url} (its data plane, {keyed_server.url})" in message
    assert "DST_KEY" in message and WRONG_KEY not in message
    bare = RestTransport(keyed_server.url, WRONG_KEY)
    with pytest.raises(UserError, match=re.escape(f"index host {keyed_server.url} refused the API key")):
        bare.call("list", "GET", "vectors/list")


def test_a_key_that_cannot_be_sent_is_bad_input() -> None:
    with pytest.raises(UserError, match=r"API key in the variable SRC_KEY .*newline") as refused:
        PineconeStore("src", "key-with-newline\n", "http://127.0.0.1:1", side=Side("source", "SRC_KEY"))
    assert "key-with-newline" not in str(refused.value)


def test_a_host_refusing_connections_fails_within_seconds() -> None:
    host = _dead_host()
    store = PineconeStore("dst", RIGHT_KEY, host, side=Side("target", "DST_KEY"))  # the long default policy
    started = time.monotonic()
    with pytest.raises(RemoteError) as failed:
        store.exists()
    assert time.monotonic() - started < FIRST_CONTACT.budget_seconds
    assert f"could not connect to the control plane of the target index 'dst' at {host}" in str(failed.value)
    assert "Check --target-host" in str(failed.value)


def test_a_host_that_answered_once_gets_the_full_policy(keyed_server: BackgroundServer) -> None:
    answered = PineconeStore("src", RIGHT_KEY, keyed_server.url, QUICK, side=Side("source"))
    assert not answered.exists()
    httpx.put(f"{keyed_server.url}/_admin/faults", json={"drop_rate": 1.0}, headers={"Api-Key": RIGHT_KEY})
    with pytest.raises(RemoteError, match="lost the connection"):
        answered.exists()
    assert _drops(keyed_server) == QUICK.attempts  # one request per attempt: the SDK does not retry too
    with pytest.raises(RemoteError, match="lost the connection to the control plane of the source index"):
        pickle.loads(pickle.dumps(answered)).exists()  # a worker: same side, host answered
    assert _drops(keyed_server) == 2 * QUICK.attempts
    fresh = PineconeStore("src", RIGHT_KEY, keyed_server.url, QUICK, side=Side("source"))
    with pytest.raises(RemoteError, match=r"could not connect.*Check --source-host"):
        fresh.exists()
    assert _drops(keyed_server) == 2 * QUICK.attempts + FIRST_CONTACT.attempts


def test_a_host_that_is_not_a_control_plane_is_bad_input(keyed_server: BackgroundServer) -> None:
    store = PineconeStore("src", RIGHT_KEY, f"{keyed_server.url}/nope", QUICK, side=Side("source"))
    with pytest.raises(UserError, match=r"not a Pinecone control plane.*--source-host"):
        store.exists()


class _NotPinecone(BaseHTTPRequestHandler):
    """A web server that answers every request with a page, as a wrong --source-host might."""

    def do_GET(self) -> None:
        body = b"<html>a web page</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_page_host() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), _NotPinecone) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def test_a_host_answering_something_else_is_bad_input(web_page_host: str) -> None:
    store = PineconeStore("src", RIGHT_KEY, web_page_host, side=Side("source"))  # the long default policy
    started = time.monotonic()
    with pytest.raises(UserError, match=r"did not answer list indexes as Pinecone's API does.*--source-host"):
        store.exists()
    assert time.monotonic() - started < 2
