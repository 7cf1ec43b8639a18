"""The Pinecone store over gRPC (``--transport grpc``: grpcio, records encoded and read as bytes) against
the local server's gRPC data plane (``serve --grpc-port``): the same records and errors as over REST, LSNs
of writes, sizes as protobuf encodes them, 429s retried and heard (Retry-After honoured), the largest
records Pinecone takes, and a migrate and verify through the CLI."""

from __future__ import annotations

import random
import re
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from google.protobuf import struct_pb2
from pinecone import Pinecone

from pinecone_migrator.errors import RemoteError, UserError
from pinecone_migrator.protocol import vector_service_pb2 as pb
from pinecone_migrator.records import Metadata, Record, SparseValues, record_digest
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone import grpc_codec as codec
from pinecone_migrator.stores.pinecone.grpc_transport import GrpcTransport, grpc_endpoint, with_port
from pinecone_migrator.stores.pinecone.rest import RestTransport
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy

from ..cliproc import SOURCE_KEY, TARGET_KEY, cli_command, contents, load_source
from ..helpers import random_records, sparse_index
from ..serverproc import ServerProcess

KEY = "key"
HYBRID = IndexShape(vector_type="dense", metric="dotproduct", dimension=4)
PATIENT = RetryPolicy(attempts=30, base_seconds=0.05, max_seconds=0.5, budget_seconds=60)
METADATA: Metadata = {
    "title": 'Zoë\'s \u2603 "quoted"\n text',
    "count": 3,
    "fraction": 0.1,
    "large": 2.0**53 + 2,
    "flag": True,
    "off": False,
    "tags": ["b", "a", "\u00e9"],
    "empty": [],
}


def _records() -> list[Record]:
    rng = np.random.default_rng(3)
    return [
        Record("dense", rng.standard_normal(4).astype(np.float32)),
        Record("with metadata", rng.standard_normal(4).astype(np.float32), metadata=METADATA),
        Record(
            "hybrid/#1",
            np.array([1 / 3, 1.4e-45, 3.4028235e38, -0.0], dtype=np.float32),
            SparseValues(
                np.array([0, 127, 128, 2**21, 2**32 - 1], np.uint32), np.arange(5, dtype=np.float32)
            ),
            {"n": 7, "words": ["x", "y"]},
        ),
    ]


def _store(
    server: BackgroundServer, name: str, transport: str, retry: RetryPolicy | None = None
) -> PineconeStore:
    return PineconeStore(name, KEY, server.url, retry=retry, transport=transport)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServerConfig(port=0, grpc_port=0, api_key=KEY)) as running:
        yield running


def _created(
    server: BackgroundServer, name: str, transport: str, shape: IndexShape = HYBRID
) -> PineconeStore:
    store = _store(server, name, transport)
    store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={}))
    return store


def test_records_written_over_one_transport_read_the_same_over_the_other(server: BackgroundServer) -> None:
    records = _records()
    for writer, reader in (("grpc", "rest"), ("rest", "grpc")):
        name = f"both-{writer}"
        written = _created(server, name, writer)
        assert written.write("ns", records).count == len(records)
        read = _store(server, name, reader).fetch("ns", [r.id for r in records] + ["absent"])
        by_id = {record.id: record for record in read}
        assert set(by_id) == {r.id for r in records}
        for record in records:
            assert by_id[record.id] == record, (writer, reader, record.id)
            assert record_digest(by_id[record.id]) == record_digest(record)
    # Struct numbers are doubles: what gRPC reads back is a float, which records and digests count as equal.
    over_grpc = _store(server, "both-rest", "grpc").fetch("ns", ["with metadata"])[0]
    assert over_grpc.metadata["count"] == 3.0 and isinstance(over_grpc.metadata["count"], float)


def test_a_dense_page_and_a_sparse_index_over_grpc(server: BackgroundServer) -> None:
    rng = np.random.default_rng(4)
    page = [
        Record(f"r{n:03d}", rng.standard_normal(4).astype(np.float32), metadata={"n": n}) for n in range(300)
    ]
    dense = _created(server, "dense-page", "grpc")
    dense.write("", page)
    assert sorted(dense.fetch("", [r.id for r in page]), key=lambda r: r.id) == page
    assert dense.describe().namespace_counts == {"__default__": 300}
    sparse_only = [
        Record(f"s{n}", sparse=SparseValues(np.array([n, 5000 + n]), np.array([0.5, n]))) for n in range(9)
    ]
    shape = IndexShape(vector_type="sparse", metric="dotproduct", dimension=None)
    sparse = _created(server, "sparse-page", "grpc", shape)
    sparse.write("ns", sparse_only)
    assert sorted(sparse.fetch("ns", [r.id for r in sparse_only]), key=lambda r: r.id) == sparse_only
    assert sparse.query_ids("ns", top_k=1, sparse=sparse_only[8].sparse) == ["s8"]


def test_writes_over_grpc_report_their_lsns_and_reads_wait_on_them(server: BackgroundServer) -> None:
    """The LSNs travel as call metadata: each write reports the LSN it was given, as over REST, and the
    indexed LSN is read over gRPC too, so waiting until a write is visible works without REST."""
    store = _created(server, "fresh", "grpc")
    first = store.write("ns", _records()).lsn
    assert first is not None
    assert store.written_lsns() == {"ns": first}
    second = store.write("ns", _records()[:1]).lsn
    assert second is not None and second > first
    assert store.written_lsns() == {"ns": second}
    over_rest = _store(server, "fresh", "rest")
    over_rest.write("ns", _records()[:1])
    assert over_rest.written_lsns()["ns"] > second
    assert store.wait_until_indexed("ns", second, timeout_seconds=10) is True
    assert store.indexed_lsn("ns") == over_rest.indexed_lsn("ns") >= second
    grpc_only = GrpcTransport(store.transport.host, KEY, secure=False, denied=store.denied)  # type: ignore[attr-defined]
    try:
        assert grpc_only.indexed_lsn("ns") == over_rest.indexed_lsn("ns")  # no REST reader to fall back on
        assert grpc_only.delete("ns", ["dense"]).lsn == over_rest.indexed_lsn("ns")
    finally:
        grpc_only.close()


def test_fetches_take_1000_ids_up_to_the_widest_records_that_fit_a_reply(server: BackgroundServer) -> None:
    """Values are read in place from the reply (4 bytes each): fetches take Pinecone's 1,000 IDs up to
    dimension 16,000, fewer only beyond."""
    ids = [f"id-{n:04d}" for n in range(1_000)]
    ordinary = _created(server, "ordinary", "grpc", IndexShape("dense", "cosine", 1536))
    assert [len(batch) for batch in ordinary.transport.fetch_batches(ids)] == [1_000]
    widest = _created(server, "widest", "grpc", IndexShape("dense", "cosine", 20_000))
    assert [len(batch) for batch in widest.transport.fetch_batches(ids)] == [800, 200]
    records = [Record(f"w{n}", np.full(20_000, n, np.float32)) for n in range(30)]
    for start in range(0, len(records), 20):
        widest.write("", records[start : start + 20])
    assert sorted(widest.fetch("", [r.id for r in records]), key=lambda r: r.id) == sorted(
        records, key=lambda r: r.id
    )


def test_a_fetch_of_1000_ids_at_dimension_1536_is_one_request(server: BackgroundServer) -> None:
    rng = np.random.default_rng(5)
    block = rng.standard_normal((1_000, 1536)).astype(np.float32)
    records = [Record(f"doc-{n:04d}", block[n], metadata={"n": n, "title": f"t{n}"}) for n in range(1_000)]
    store = _created(server, "thousand", "grpc", IndexShape("dense", "cosine", 1536))
    for start in range(0, len(records), 250):
        store.write("", records[start : start + 250])
    fetched = store.transport.fetch("", [r.id for r in records])  # one request, as fetch_batches splits none
    assert sorted(fetched, key=lambda r: r.id) == records
    assert all(r.values is not None and not r.values.flags.writeable for r in fetched)


def test_the_largest_record_pinecone_takes_round_trips(server: BackgroundServer) -> None:
    """2,048 sparse non-zeros (indices across the uint32 range, every varint length) and 40 KB of metadata."""
    rng = np.random.default_rng(6)
    indices = np.sort(rng.choice(2**32 - 1, size=2_048, replace=False)).astype(np.uint32)
    indices[:5] = [0, 1, 127, 128, 16_384]
    metadata: Metadata = {f"field{n:02d}": "x" * 1_000 for n in range(40)}
    metadata["tags"] = [f"tag{n}" for n in range(50)]
    big = Record(
        "big",
        rng.standard_normal(4).astype(np.float32),
        SparseValues(np.sort(indices), rng.standard_normal(2_048).astype(np.float32)),
        metadata,
    )
    store = _created(server, "largest", "grpc")
    assert store.write("ns", [big]).count == 1
    assert store.fetch("ns", ["big"]) == [big]
    assert _store(server, "largest", "rest").fetch("ns", ["big"]) == [big]


def test_request_bytes_are_the_messages_protobuf_would_send(server: BackgroundServer) -> None:
    """What the transport encodes by hand parses, with protobuf, as the UpsertRequest it means."""
    records = _records()
    request = pb.UpsertRequest.FromString(
        codec.upsert_request("ns", [codec.EncodedVector(r) for r in records])
    )
    assert request.namespace == "ns" and [v.id for v in request.vectors] == [r.id for r in records]
    for message, record in zip(request.vectors, records, strict=True):
        assert record.values is not None
        assert np.array_equal(np.array(message.values, np.float32), record.values)
        if record.sparse is not None:
            assert list(message.sparse_values.indices) == record.sparse.indices.tolist()
            assert list(message.sparse_values.values) == record.sparse.values.tolist()
        assert (
            codec.metadata_of(message.metadata.SerializeToString())
            == Record("x", metadata=record.metadata).metadata
        )


def test_request_size_is_what_protobuf_encodes(server: BackgroundServer) -> None:
    store = _created(server, "sizes", "grpc")
    long_id = "\u2603" * 170
    odd: Any = {"k" * 200: "v" * 300, "nested": {"deep": [1, "x", None, True]}, "null": None}
    for record in [*_records(), Record(long_id, np.ones(4, np.float32), metadata=odd)]:
        message = pb.Vector(id=record.id)
        if record.values is not None:
            message.values.extend(record.values.tolist())
        if record.sparse is not None:
            message.sparse_values.indices.extend(record.sparse.indices.tolist())
            message.sparse_values.values.extend(record.sparse.values.tolist())
        if record.metadata:
            message.metadata.update(record.metadata)
        upsert = pb.UpsertRequest(vectors=[message])
        assert store.request_size(record) == upsert.ByteSize(), record.id
    # Packed floats: a record of dimension 1536 is about 4 bytes a float over gRPC, about 10 over REST.
    wide = Record("wide", np.random.default_rng(0).standard_normal(1536).astype(np.float32))
    rest = _store(server, "sizes", "rest")
    assert store.request_size(wide) < 0.5 * rest.request_size(wide)


def test_a_server_without_a_grpc_data_plane_is_refused_in_one_line() -> None:
    with BackgroundServer(ServerConfig(port=0, api_key=KEY)) as rest_only:
        with pytest.raises(UserError) as not_created:
            _created(rest_only, "never", "grpc")
        assert _store(rest_only, "never", "rest").exists() is False
        _created(rest_only, "plain", "rest")
        store = _store(rest_only, "plain", "grpc")
        with pytest.raises(UserError) as refused:
            store.fetch("", ["a"])
    assert str(not_created.value) == (
        f"{rest_only.url} serves no gRPC data plane; start it with `serve --grpc-port 0` or use "
        "--transport rest"
    )
    assert str(refused.value) == (
        f"{rest_only.url} serves no gRPC data plane for index 'plain'; start it with `serve --grpc-port 0` "
        "or use --transport rest"
    )


def test_a_refused_key_reads_as_over_rest(server: BackgroundServer) -> None:
    store = _created(server, "keys", "grpc")
    grpc_host = store.transport.host  # type: ignore[attr-defined]
    rest_host = store.client.describe_index("keys").host
    refusals = []
    for transport, host in (
        (GrpcTransport(grpc_host, "wrong-key", secure=False, denied=store.denied), grpc_host),
        (RestTransport(rest_host, "wrong-key", denied=store.denied), rest_host),
    ):
        with pytest.raises(UserError) as refused:
            transport.fetch("", ["a"])
        transport.close()
        refusals.append(str(refused.value).replace(host, "HOST"))
    over_grpc, over_rest = refusals
    assert over_grpc == over_rest
    assert "(its data plane, HOST) refused the API key ([401] Invalid API key" in over_grpc


def test_a_429_over_grpc_is_retried_and_heard(server: BackgroundServer) -> None:
    store = _created(server, "limited", "grpc")
    store.write("", _records())
    throttled: list[int] = []
    patient = _store(server, "limited", "grpc", retry=PATIENT)
    patient.set_throttle_listener(lambda: throttled.append(1))
    with httpx.Client(base_url=server.url, headers={"Api-Key": KEY}) as admin:
        admin.post("/_admin/faults/reset").raise_for_status()
        # fetch: 100 requests/s per index x 0.05 = 5 a second, a bucket of 5
        admin.put(
            "/_admin/faults", json={"rate_limits": "pinecone", "rate_limit_scale": 0.05}
        ).raise_for_status()
        try:
            fetched = [patient.fetch("", ["dense"]) for _ in range(12)]
            refused = admin.get("/_admin/faults").json()["counters"]["rate_limited"]
        finally:
            admin.post("/_admin/faults/reset").raise_for_status()
    assert all(len(page) == 1 and page[0].id == "dense" for page in fetched)
    assert refused >= 1
    assert len(throttled) == refused  # every 429 reached the store, which slowed down and sent again


def test_metadata_encoded_by_hand_is_the_struct_protobuf_would_send() -> None:
    odd: Any = {
        "k" * 200: "v" * 300,
        "nested": {"deep": [1, "x", None, True]},
        "null": None,
        "n": np.int64(5),
    }
    for metadata in (METADATA, odd, {"f": np.float32(0.5), "big": 2**70, "neg": -3, "t": ("a", "b")}):
        expected = struct_pb2.Struct()
        expected.update({k: v.item() if isinstance(v, np.generic) else v for k, v in metadata.items()})
        assert struct_pb2.Struct.FromString(codec.struct_bytes(metadata)) == expected
        assert len(codec.struct_bytes(metadata)) == expected.ByteSize()


def test_values_a_sender_did_not_pack_are_read_too() -> None:
    """Protobuf parsers must accept a repeated float sent unpacked (each value a field of its own), which
    the reply's ``bytes`` declaration leaves aside; such records are read in full, not without values."""
    values = np.array([0.5, -2.0, 3.25], np.float32)
    unpacked = b"".join(b"\x15" + struct.pack("<f", value) for value in values)  # field 2, fixed32
    vector = codec.field(1, b"odd") + unpacked + codec.field(3, codec.struct_bytes({"n": 1}))
    reply = codec.field(1, codec.field(1, b"odd") + codec.field(2, vector)) + codec.field(2, b"ns")
    assert pb.FetchResponse.FromString(reply).vectors["odd"].values == values.tolist()
    assert codec.records_reply(reply) == ([Record("odd", values, metadata={"n": 1})], None)
    with pytest.raises(codec.MalformedReply):
        codec.records_reply(b"\x0a\xff")


def test_the_endpoint_on_pinecones_cloud_is_the_index_host_over_tls() -> None:
    """No request is sent: the channel connects on its first call."""
    described = type("Described", (), {"host": "docs-abc123.svc.aped-4627-b74a.pinecone.io", "name": "docs"})
    assert grpc_endpoint(described, KEY, None) == ("docs-abc123.svc.aped-4627-b74a.pinecone.io:443", True)
    assert grpc_endpoint(described, KEY, "https://api.pinecone.io")[0].endswith(".pinecone.io:443")
    assert with_port("https://h.example:8443/", 443) == "h.example:8443"
    GrpcTransport("docs-abc123.svc.aped-4627-b74a.pinecone.io:443", KEY, denied=_refused).close()


def _refused(status: int, message: str, host: str) -> UserError:
    return UserError(f"{host} refused the key ({message})")


def test_a_retry_after_sent_over_grpc_is_honoured(server: BackgroundServer) -> None:
    """An injected 429 carries Retry-After: 1 (trailing metadata): the store waits that second, although
    its own backoff would have sent again within a few hundredths."""
    store = _created(server, "told", "grpc")
    store.write("", _records())
    quick = RetryPolicy(attempts=30, base_seconds=0.01, max_seconds=5, budget_seconds=60)
    with httpx.Client(base_url=server.url, headers={"Api-Key": KEY}) as admin:
        admin.post("/_admin/faults/reset").raise_for_status()
        transport = store.transport
        for fault, told in (("rate_429", 1.0), ("rate_429_no_retry_after", None)):
            admin.put("/_admin/faults", json={fault: 1.0}).raise_for_status()
            try:
                with pytest.raises(RemoteError) as refused:
                    transport.fetch("", ["dense"])
            finally:
                admin.post("/_admin/faults/reset").raise_for_status()
            assert (refused.value.status, refused.value.retryable, refused.value.retry_after) == (
                429,
                True,
                told,
            )
        patient = _store(server, "told", "grpc", retry=quick)
        assert patient.transport.name == "grpc"  # opened (described) before the faults start
        admin.put("/_admin/faults", json={"rate_429": 1.0}).raise_for_status()
        healed = threading.Timer(0.3, lambda: admin.post("/_admin/faults/reset").raise_for_status())
        started = time.monotonic()
        healed.start()
        try:
            fetched = patient.fetch("", ["dense"])
        finally:
            healed.join()
        elapsed = time.monotonic() - started
    assert [r.id for r in fetched] == ["dense"]
    assert elapsed >= 1.0


# -- through the CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A source and a target project, each serving gRPC too; the source holds a hybrid index (dense +
    sparse, every metadata type) in three namespaces, and a sparse index."""
    folder = tmp_path_factory.mktemp("projects")
    with (
        ServerProcess(folder / "source", "--api-key", SOURCE_KEY, grpc=True) as source,
        ServerProcess(folder / "target", "--api-key", TARGET_KEY, grpc=True) as target,
    ):
        pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
        load_source(pc, count=150)
        records = random_records(80, 0, random.Random(9), sparse=True, prefix="s#")
        sparse = sparse_index(pc, "sparse-src")
        sparse.upsert(vectors=[{k: v for k, v in r.items() if k != "values"} for r in records], namespace="n")
        yield source, target


def _run(
    projects: tuple[ServerProcess, ServerProcess],
    tmp_path: Path,
    *args: str,
    verb: str = "migrate",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    command, environment = cli_command(*projects, tmp_path, verb, *args)
    result = subprocess.run(command, env={**environment, **(env or {})}, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.mark.parametrize(("source", "target"), [("src", "dst"), ("sparse-src", "sparse-dst")])
def test_migrate_and_verify_over_grpc(
    projects: tuple[ServerProcess, ServerProcess], tmp_path: Path, source: str, target: str
) -> None:
    names = ("--source-index", source, "--target-index", target, "--transport", "grpc")
    copied = _run(projects, tmp_path, *names)
    assert copied.returncode == 0, copied.stderr
    source_pc = Pinecone(api_key=SOURCE_KEY, host=projects[0].url)
    target_pc = Pinecone(api_key=TARGET_KEY, host=projects[1].url)
    wanted = contents(source_pc, source)
    assert len(wanted) in (450, 80)
    assert contents(target_pc, target) == wanted
    checked = _run(projects, tmp_path, *names, "--level", "full", verb="verify")
    assert checked.returncode == 0, checked.stderr + checked.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ("--source-index", "no-such", "--target-index", "x"),
            {},
            r"source index .no-such. does not exist",
        ),
        (("--source-index", "src", "--target-index", "y"), {"DST_KEY": "wrong"}, r"refused the API key"),
    ],
)
def test_errors_read_as_over_rest(
    projects: tuple[ServerProcess, ServerProcess],
    tmp_path: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    outputs = {}
    for transport in ("rest", "grpc"):
        (tmp_path / transport).mkdir()
        result = _run(projects, tmp_path / transport, *args, "--transport", transport, env=env)
        assert result.returncode == 2, result.stderr
        outputs[transport] = result.stderr.strip().splitlines()[-1]
        assert re.search(message, outputs[transport]), outputs[transport]
    assert outputs["grpc"] == outputs["rest"]


def test_the_cli_over_grpc_refuses_a_target_without_a_grpc_data_plane(
    projects: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, _ = projects
    with ServerProcess(None, "--api-key", TARGET_KEY) as rest_only:
        args = ("--source-index", "src", "--target-index", "dst", "--transport", "grpc")
        result = _run((source, rest_only), tmp_path, *args)
        created = Pinecone(api_key=TARGET_KEY, host=rest_only.url).list_indexes().names()
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {rest_only.url} serves no gRPC data plane; start it with "
        "`serve --grpc-port 0` or use --transport rest"
    )
    assert created == []  # refused before the target was created
