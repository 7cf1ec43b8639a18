"""The server stays calm: clients that hang up, malformed bodies and deeply nested filters are the client's
doing, answered (or dropped) without an internal error or a traceback in the server's log."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from pinecone import Pinecone
from pinecone.errors.exceptions import ApiError as SdkApiError

from pinecone_migrator.filters import MAX_NESTING

from ..helpers import dense_index
from ..serverproc import ServerProcess

HEADERS = {"Api-Key": "k", "X-Pinecone-Api-Version": "2025-10", "Content-Type": "application/json"}
QUIET_LINE = "client closed the connection during"
RECORDS = 1_000


class Server:
    """A server process with one dense index of RECORDS records, reached by raw HTTP and raw sockets."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        pc = Pinecone(api_key="k", host=process.url)
        index = dense_index(pc, "calm", dimension=2)
        index.upsert(
            vectors=[{"id": f"r{i:04}", "values": [1, i], "metadata": {"n": i}} for i in range(RECORDS)]
        )
        self.index = index
        host = str(pc.describe_index("calm").host)
        self.data_url = host if host.startswith("http") else f"http://{host}"
        self.data_path = urlsplit(self.data_url).path

    def count(self) -> int:
        return int(self.index.describe_index_stats().total_vector_count)

    def log_after(self, expected_quiet_lines: int) -> str:
        """The log, once the server has written its quiet lines for the requests it lost (or after 10 s)."""
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline and self.process.log_text().count(QUIET_LINE) < expected_quiet_lines
        ):
            time.sleep(0.05)
        time.sleep(0.2)  # anything the server might still write about those requests
        return self.process.log_text()


@pytest.fixture(scope="module")
def calm() -> Iterator[Server]:
    with ServerProcess(None) as process:
        yield Server(process)


def _assert_calm(log: str) -> None:
    assert "Traceback" not in log, log
    assert "internal error" not in log, log
    assert " ERROR " not in log, log


def _raw(
    url: str, request: bytes, *, wait: float = 0.05, reset: bool = False, half_close: bool = False
) -> None:
    """Send bytes on a fresh connection, then hang up (with RST when ``reset``) without reading an answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        time.sleep(wait)


def _post(path: str, body: bytes, *, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    )
    return (head + "\r\n").encode() + body


# -- clients that hang up -----------------------------------------------------------------------------------


def test_a_client_that_hangs_up_mid_request_gets_one_quiet_line_and_no_traceback(calm: Server) -> None:
    upsert = b'{"vectors": [{"id": "half", "values": [1, 2]}]}'
    create = b'{"name": "half", "dimension": 2, "metric": "cosine"}'
    truncated = [
        _post(f"{calm.data_path}/vectors/upsert", upsert[:20], declared=len(upsert)),
        _post("/indexes", create[:10], declared=len(create)),
        _post(f"{calm.data_path}/query", b"", declared=100),
    ]
    before = calm.process.log_text().count(QUIET_LINE)
    for request in truncated:
        _raw(calm.process.url, request)
        _raw(calm.process.url, request, reset=True)
        _raw(calm.process.url, request, half_close=True)
    lost = 3 * len(truncated)
    log = calm.log_after(before + lost)
    _assert_calm(log)
    assert log.count(QUIET_LINE) == before + lost, log
    assert calm.count() == RECORDS, "a truncated upsert must write nothing"
    assert "half" not in {index.name for index in Pinecone(api_key="k", host=calm.process.url).list_indexes()}


def test_a_client_that_hangs_up_before_reading_the_answer_leaves_no_trace(calm: Server) -> None:
    ids = "&".join(f"ids=r{i:04}" for i in range(RECORDS))
    fetch = f"GET {calm.data_path}/vectors/fetch?{ids} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    query = _post(f"{calm.data_path}/query", b'{"vector": [1, 2], "topK": 1000, "includeMetadata": true}')
    for request in (fetch, query):
        _raw(calm.process.url, request, wait=0)
        _raw(calm.process.url, request, wait=0, reset=True)
    _assert_calm(calm.log_after(0))
    assert calm.count() == RECORDS


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_body_that_cannot_be_decoded_is_a_400_not_an_internal_error(calm: Server, encoding: str) -> None:
    response = httpx.post(
        f"{calm.data_url}/vectors/upsert",
        content=b'{"vectors": []}',
        headers={**HEADERS, "Content-Encoding": encoding},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "request body could not be read" in response.json()["message"]
    _assert_calm(calm.log_after(0))


def test_a_malformed_chunked_body_is_refused_without_a_traceback(calm: Server) -> None:
    head = f"POST {calm.data_path}/vectors/upsert HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = urlsplit(calm.process.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + b"zz\r\n{}\r\n0\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request"), answer
    _assert_calm(calm.log_after(0))


# -- deeply nested filters and bodies -----------------------------------------------------------------------


def _nested_filter(levels: int, operator: str = "$or") -> str:
    """``levels`` of ``{"$or": [..., {"n": -1}]}`` around ``{"n": 1}``, as JSON text."""
    text = '{"n": 1}'
    for _ in range(levels):
        text = f'{{"{operator}": [{text}, {{"n": -1}}]}}'
    return text


FILTERED = {
    "query": ("/query", '{{"vector": [1, 2], "topK": 5, "filter": {}}}'),
    "fetch_by_metadata": ("/vectors/fetch_by_metadata", '{{"filter": {}}}'),
    "delete": ("/vectors/delete", '{{"filter": {}}}'),
    "update": ("/vectors/update", '{{"filter": {}, "setMetadata": {{"touched": true}}}}'),
    "describe_index_stats": ("/describe_index_stats", '{{"filter": {}}}'),
}


@pytest.mark.parametrize("operation", sorted(FILTERED))
@pytest.mark.parametrize(("levels", "operator"), [(MAX_NESTING + 1, "$or"), (300, "$and"), (500, "$or")])
def test_a_filter_nested_too_deep_is_a_400_naming_the_limit(
    calm: Server, operation: str, levels: int, operator: str
) -> None:
    path, template = FILTERED[operation]
    body = template.format(_nested_filter(levels, operator))
    response = httpx.post(f"{calm.data_url}{path}", content=body, headers=HEADERS, timeout=30)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "Invalid filter" in message and f"more than {MAX_NESTING} levels" in message, message
    assert calm.count() == RECORDS
    _assert_calm(calm.log_after(0))


@pytest.mark.parametrize("operation", sorted(FILTERED))
def test_a_body_nested_beyond_what_json_parsing_allows_is_a_400(calm: Server, operation: str) -> None:
    path, template = FILTERED[operation]
    body = template.format(_nested_filter(5_000))
    response = httpx.post(f"{calm.data_url}{path}", content=body, headers=HEADERS, timeout=30)
    assert response.status_code == 400, response.text
    assert "not valid JSON" in response.json()["message"]
    _assert_calm(calm.log_after(0))


@pytest.mark.parametrize("path", ["/indexes", "/_admin/faults"])
def test_a_control_plane_body_nested_beyond_json_parsing_is_a_400(calm: Server, path: str) -> None:
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    method = "PUT" if path.startswith("/_admin") else "POST"
    response = httpx.request(method, f"{calm.process.url}{path}", content=body, headers=HEADERS, timeout=30)
    assert response.status_code == 400, response.text
    _assert_calm(calm.log_after(0))


def test_a_filter_nested_up_to_the_limit_works_through_the_sdk(calm: Server) -> None:
    deepest = _nested_filter(MAX_NESTING)
    result = calm.index.query(vector=[1, 2], top_k=5, filter=orjson.loads(deepest))
    assert [match.id for match in result.matches] == ["r0001"]
    with pytest.raises(SdkApiError) as refused:
        calm.index.query(vector=[1, 2], top_k=5, filter=orjson.loads(_nested_filter(MAX_NESTING + 1)))
    assert refused.value.status_code == 400
    assert f"more than {MAX_NESTING} levels" in str(refused.value)
