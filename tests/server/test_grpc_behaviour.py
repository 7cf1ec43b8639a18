"""What the gRPC data plane shares with REST besides records: the API key, errors (codes and messages),
LSNs, rate limits, faults; and how its listeners follow the indexes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors.exceptions import ApiError, PineconeConnectionError

from pinecone_migrator.protocol import vector_service_pb2 as pb
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from tests.server.grpc_helpers import grpc_index, raw_call
from tests.server.test_control_plane_sdk9 import SDK9_PYTHON
from tests.serverproc import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
KEY = "the-key"
SERVERLESS = {"serverless": {"cloud": "aws", "region": "us-east-1"}}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(None, "--api-key", KEY, grpc=True) as running:
        pc = Pinecone(api_key=KEY, host=running.url)
        pc.create_index(name="shared", dimension=3, metric="cosine", spec=SPEC)
        yield running


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerProcess]:
    with ServerProcess(None, "--rate-limits", "pinecone", "--rate-limit-scale", "0.1", grpc=True) as running:
        Pinecone(api_key="k", host=running.url).create_index(name="limited", dimension=2, spec=SPEC)
        yield running


def _rest_error(server: ServerProcess, path: str, body: dict[str, object]) -> str:
    response = httpx.post(f"{server.url}/data/shared{path}", json=body, headers={"Api-Key": KEY})
    assert response.status_code >= 400
    message: str = response.json()["message"]
    return message


def _code_and_message(call: object) -> tuple[grpc.StatusCode, str]:
    assert isinstance(call, grpc.RpcError)
    return call.code(), call.details()


def test_describe_names_each_index_grpc_host(server: ServerProcess) -> None:
    hosts = server.grpc_hosts()
    described = httpx.get(f"{server.url}/indexes/shared", headers={"Api-Key": KEY}).json()
    assert described["grpc_host"] == hosts["shared"]
    assert hosts["shared"].startswith("127.0.0.1:")
    pc = Pinecone(api_key=KEY, host=server.url)
    assert pc.describe_index("shared").name == "shared" and pc.list_indexes().names() == ["shared"]


def test_without_grpc_port_nothing_is_announced() -> None:
    with BackgroundServer(ServerConfig(port=0)) as running:
        Pinecone(api_key="k", host=running.url).create_index(name="rest-only", dimension=2, spec=SPEC)
        described = httpx.get(f"{running.url}/indexes/rest-only", headers={"Api-Key": "k"}).json()
        assert "grpc_host" not in described
        answer = httpx.get(f"{running.url}/_admin/grpc")
        assert answer.status_code == 404 and "--grpc-port" in answer.text


@pytest.mark.skipif(not SDK9_PYTHON.exists(), reason=f"no SDK 9.x environment at {SDK9_PYTHON}")
def test_sdk9_still_parses_descriptions_with_grpc_host(server: ServerProcess) -> None:
    script = (
        "import sys; from pinecone import Pinecone; pc = Pinecone(api_key=sys.argv[2], host=sys.argv[1]); "
        "print(pc.describe_index('shared').dimension, pc.list_indexes().names())"
    )
    result = subprocess.run(
        [str(SDK9_PYTHON), "-c", script, server.url, KEY], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 ['shared']"


def test_a_wrong_key_is_unauthenticated_with_the_rest_message(server: ServerProcess) -> None:
    host = server.grpc_hosts()["shared"]
    with pytest.raises(grpc.RpcError) as refused:
        raw_call(host, "Fetch", pb.FetchRequest(ids=["a"]), pb.FetchResponse, api_key="wrong")
    code, message = _code_and_message(refused.value)
    rest = httpx.get(f"{server.url}/data/shared/vectors/fetch?ids=a", headers={"Api-Key": "wrong"})
    assert code is grpc.StatusCode.UNAUTHENTICATED and message == rest.json()["message"]
    with pytest.raises(ApiError, match="Invalid API key"):
        grpc_index(server, "shared", api_key="wrong").fetch(ids=["a"])


def test_bad_input_gets_invalid_argument_with_the_rest_message(server: ServerProcess) -> None:
    index = grpc_index(server, "shared", api_key=KEY)
    expected = _rest_error(server, "/vectors/upsert", {"vectors": [{"id": "a", "values": [1, 2]}]})
    assert expected == "Vector dimension 2 does not match the dimension of the index 3"
    with pytest.raises(ApiError) as refused:
        index.upsert(vectors=[{"id": "a", "values": [1.0, 2.0]}])
    assert refused.value.status_code == 400 and str(refused.value).endswith(expected)
    host = server.grpc_hosts()["shared"]
    with pytest.raises(grpc.RpcError) as raw:
        raw_call(host, "Query", pb.QueryRequest(top_k=1, vector=[1.0]), pb.QueryResponse, api_key=KEY)
    code, message = _code_and_message(raw.value)
    rest = _rest_error(server, "/query", {"topK": 1, "vector": [1.0]})
    assert code is grpc.StatusCode.INVALID_ARGUMENT and message == rest


def test_a_missing_namespace_is_not_found(server: ServerProcess) -> None:
    index = grpc_index(server, "shared", api_key=KEY)
    with pytest.raises(ApiError) as missing:
        index.describe_namespace(namespace="nowhere")
    assert missing.value.status_code == 404 and "Namespace 'nowhere' not found." in str(missing.value)
    host = server.grpc_hosts()["shared"]
    with pytest.raises(grpc.RpcError) as raw:
        raw_call(
            host, "DeleteNamespace", pb.DeleteNamespaceRequest(namespace="nowhere"), pb.DeleteResponse, KEY
        )
    assert _code_and_message(raw.value) == (grpc.StatusCode.NOT_FOUND, "Namespace 'nowhere' not found.")


def test_lsns_travel_as_initial_metadata_and_follow_one_log_with_rest(server: ServerProcess) -> None:
    host = server.grpc_hosts()["shared"]
    upsert = pb.UpsertRequest(vectors=[pb.Vector(id="lsn", values=[1.0, 0.0, 0.0])], namespace="lsn")
    reply, headers = raw_call(host, "Upsert", upsert, pb.UpsertResponse, KEY)
    assert reply.upserted_count == 1
    written = int(headers["x-pinecone-request-lsn"])
    _, read_headers = raw_call(
        host, "Fetch", pb.FetchRequest(ids=["lsn"], namespace="lsn"), pb.FetchResponse, KEY
    )
    assert int(read_headers["x-pinecone-max-indexed-lsn"]) >= written
    over_rest = httpx.post(
        f"{server.url}/data/shared/vectors/upsert",
        json={"vectors": [{"id": "lsn2", "values": [0, 1, 0]}], "namespace": "lsn"},
        headers={"Api-Key": KEY},
    )
    assert int(over_rest.headers["x-pinecone-request-lsn"]) == written + 1


def test_rate_limits_at_a_scale_refuse_with_resource_exhausted(limited: ServerProcess) -> None:
    host = limited.grpc_hosts()["limited"]
    outcomes: list[grpc.StatusCode] = []
    messages: list[str] = []
    started = time.monotonic()
    with grpc.insecure_channel(host) as channel:
        fetch = channel.unary_unary(
            "/VectorService/Fetch",
            request_serializer=pb.FetchRequest.SerializeToString,
            response_deserializer=pb.FetchResponse.FromString,
        )
        for _ in range(20):
            try:
                fetch(pb.FetchRequest(ids=["a"]), metadata=(("api-key", "k"),), timeout=10)
                outcomes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                outcomes.append(error.code())
                messages.append(error.details())
    elapsed = time.monotonic() - started
    # 0.1 x 100 fetches per second per index: a bucket of 10, refilled at 10 per second
    assert outcomes[:10] == [grpc.StatusCode.OK] * 10
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in outcomes
    assert set(outcomes) == {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert outcomes.count(grpc.StatusCode.OK) <= 10 + 10 * elapsed + 1
    assert "fetch" in messages[0] and "enforces 0.1 times that" in messages[0]
    counters = httpx.get(f"{limited.url}/_admin/faults").json()["rate_limited_by_operation"]
    assert counters["fetch"] == outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(ApiError) as refused:
        index = grpc_index(limited, "limited")
        for _ in range(20):
            index.fetch(ids=["a"])
    assert refused.value.status_code == 429


def test_injected_faults_and_latency_apply_to_grpc_calls(limited: ServerProcess) -> None:
    host = limited.grpc_hosts()["limited"]
    request = pb.ListRequest(namespace="")
    admin = f"{limited.url}/_admin/faults"
    try:
        for settings, expected in (
            ({"rate_503": 1.0}, (grpc.StatusCode.UNAVAILABLE, "Injected fault: service unavailable.")),
            ({"rate_500": 1.0}, (grpc.StatusCode.INTERNAL, "Injected fault: internal server error.")),
            ({"drop_rate": 1.0}, (grpc.StatusCode.UNAVAILABLE, "Injected fault: connection dropped.")),
        ):
            httpx.post(f"{admin}/reset")
            assert httpx.put(admin, json=settings).status_code == 200
            with pytest.raises(grpc.RpcError) as failed:
                raw_call(host, "List", request, pb.ListResponse)
            assert _code_and_message(failed.value) == expected
        httpx.post(f"{admin}/reset")
        httpx.put(admin, json={"latency_ms": 150})
        started = time.monotonic()
        raw_call(host, "List", request, pb.ListResponse)
        assert time.monotonic() - started >= 0.15
        assert httpx.get(admin).json()["counters"]["delayed"] == 1
    finally:
        httpx.post(f"{admin}/reset")


def _refuses_connections(host: str) -> bool:
    address, port = host.rsplit(":", 1)
    try:
        with socket.create_connection((address, int(port)), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_deleting_an_index_closes_its_port_and_creating_one_opens_another(server: ServerProcess) -> None:
    pc = Pinecone(api_key=KEY, host=server.url)
    pc.create_index(name="short-lived", dimension=2, spec=SPEC)
    host = server.grpc_hosts()["short-lived"]
    assert host != server.grpc_hosts()["shared"]
    client = grpc_index(server, "short-lived", api_key=KEY)
    client.upsert(vectors=[{"id": "a", "values": [1.0, 1.0]}])
    assert not _refuses_connections(host)
    pc.delete_index("short-lived")
    assert "short-lived" not in server.grpc_hosts()
    deadline = time.monotonic() + 5
    while not _refuses_connections(host):
        assert time.monotonic() < deadline, f"{host} still accepts connections after the index was deleted"
        time.sleep(0.05)
    # what a client of the deleted index sees: no index there any more, so no server either
    with pytest.raises(PineconeConnectionError):
        client.fetch(ids=["a"])


def test_indexes_loaded_from_disk_get_listeners(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path, grpc=True).start()
    Pinecone(api_key="k", host=first.url).create_index(name="kept", dimension=2, spec=SPEC)
    grpc_index(first, "kept").upsert(vectors=[{"id": "a", "values": [0.5, 2.0]}])
    assert first.process is not None
    first.process.terminate()  # SIGTERM stops the listeners with the server: a clean exit
    assert first.process.wait(timeout=10) == 0 and "Traceback" not in first.log_text()
    with BackgroundServer(ServerConfig(port=0, data_dir=tmp_path, grpc_port=0)) as second:
        fetched = grpc_index(second, "kept").fetch(ids=["a"]).vectors["a"]
        assert list(fetched.values) == [0.5, 2.0]


def test_grpc_port_p_takes_the_first_free_ports_from_p(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", first))
        blocker.listen()
        with ServerProcess(None, "--grpc-port", str(first)) as running:
            pc = Pinecone(api_key="k", host=running.url)
            pc.create_index(name="one", dimension=2, spec=SPEC)
            pc.create_index(name="two", dimension=2, spec=SPEC)
            ports = {name: int(host.rsplit(":", 1)[1]) for name, host in running.grpc_hosts().items()}
    assert first not in ports.values()
    assert len(set(ports.values())) == 2 and all(port > first for port in ports.values())


def test_a_server_on_every_interface_announces_the_host_the_client_used() -> None:
    with BackgroundServer(ServerConfig(host="0.0.0.0", port=0, grpc_port=0)) as running:
        url = running.url.replace("0.0.0.0", "127.0.0.1")
        Pinecone(api_key="k", host=url).create_index(name="anywhere", dimension=2, spec=SPEC)
        announced = httpx.get(f"{url}/indexes/anywhere", headers={"Api-Key": "k"}).json()["grpc_host"]
        assert announced.startswith("127.0.0.1:")
        assert httpx.get(f"{url}/_admin/grpc").json() == {"anywhere": announced}
        index = grpc_index(running, "anywhere")  # the listener itself is on 0.0.0.0
        assert index.upsert(vectors=[{"id": "a", "values": [1.0, 0.0]}]).upserted_count == 1


def test_without_a_free_port_an_index_is_refused_in_one_clear_line() -> None:
    with BackgroundServer(ServerConfig(port=0, grpc_port=65535)) as running:
        pc = Pinecone(api_key="k", host=running.url)
        pc.create_index(name="fits", dimension=2, spec=SPEC)  # takes 65535, the last port
        refused = httpx.post(
            f"{running.url}/indexes",
            json={
                "name": "too-many",
                "dimension": 2,
                "metric": "cosine",
                "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
            },
            headers={"Api-Key": "k"},
        )
        assert refused.status_code == 403
        assert "No free port from 65535" in refused.json()["error"]["message"]
        assert pc.list_indexes().names() == ["fits"]


def test_a_server_that_cannot_open_every_listener_at_start_stops_in_one_line(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, grpc=True) as first:
        pc = Pinecone(api_key="k", host=first.url)
        for name in ("a", "b"):
            pc.create_index(name=name, dimension=2, spec=SPEC)
    command = ["serve", "--data-dir", str(tmp_path), "--port", "0", "--grpc-port", "65535"]
    started = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # (the listener of "a" starts and must stop cleanly: a stop overlapping its start crashed the process)
    assert started.returncode == 2, started.stderr
    assert "Error: No free port from 65535 to 65535 for the gRPC listener of index 'b'" in started.stderr
    assert "Traceback" not in started.stderr
