"""What only the Milvus store has: collections the user made, namespaces as a field or as partitions, IDs
quoted into expressions, options refused before contact, an unreachable server, a source left as it was,
and which stores travel to other processes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pinecone_migrator.engine.verify.workers import picklable
from pinecone_migrator.errors import RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, StoreDescription
from pinecone_migrator.stores.milvus import MilvusStore, open_uri
from pinecone_migrator.stores.milvus.partitions import namespace_of, partition_of
from pinecone_migrator.stores.uri import parse

from .server import LiteDirectory, LiteServer

HYBRID = StoreDescription("src", IndexShape("dense", "dotproduct", 4), {})


def _store(uri: str, side: str = "target") -> MilvusStore:
    return open_uri(parse(uri, side=side))  # type: ignore[arg-type]


def _created(uri: str, description: StoreDescription = HYBRID) -> MilvusStore:
    store = _store(uri)
    store.create_like(description)
    return store


def _record(record_id: str, n: int = 1, **metadata: Any) -> Record:
    return Record(id=record_id, values=np.full(4, n, np.float32), metadata=metadata)


def _all_ids(store: MilvusStore, namespace: str, prefix: str = "", limit: int = 3) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)
        ids += page.ids
        cursor = page.cursor
        if cursor is None:
            return ids


# -- a collection the user made ------------------------------------------------------------------------------


def _users_collection(client: Any, name: str, *, second_vector: bool = False, load: bool = True) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=True)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=4)
    if second_vector:
        schema.add_field("emb2", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("meta", DataType.JSON, nullable=True)
    schema.add_field("title", DataType.VARCHAR, max_length=200, nullable=True)
    schema.add_field("year", DataType.INT64, nullable=True)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=20)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index("emb", index_type="FLAT", metric_type="COSINE")
    if second_vector:
        index_params.add_index("emb2", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
    rows = [
        {
            "doc_id": f"d{n:02d}",
            "tenant": "acme" if n % 2 else "globex",
            "emb": [0.5, -0.0, float(n), 1.4e-45],
            "meta": {"price": 0.1 * n, "nested": {"k": [1, 2]}} if n % 3 else None,
            "title": f"title {n}" if n != 4 else None,
            "year": 2000 + n,
            "tags": ["x", "y"][: n % 3],
            **({"emb2": [1.0, 2.0, 3.0, 4.0]} if second_vector else {}),
        }
        for n in range(10)
    ]
    client.insert(name, rows)
    if not load:
        client.release_collection(name)


def test_a_collection_the_user_made_is_read_by_field_types(lite: LiteDirectory) -> None:
    client = lite.client()
    name = lite.new_name("users")
    _users_collection(client, name)
    source = _store(lite.uri(name), side="source")

    description = source.describe()
    assert description.shape == IndexShape("dense", "cosine", 4)
    assert description.namespace_counts == {"acme": 5, "globex": 5}
    assert description.location == f"milvus://{lite.path}/{name}"
    assert _all_ids(source, "acme") == ["d01", "d03", "d05", "d07", "d09"]
    assert _all_ids(source, DEFAULT_NAMESPACE) == []

    fetched = {r.id: r for r in source.fetch("globex", ["d03", "d04", "d06", "d99"])}
    assert sorted(fetched) == ["d04", "d06"]  # d03 is acme's
    d04 = fetched["d04"]
    assert d04.values is not None
    assert d04.values.tobytes() == np.array([0.5, -0.0, 4.0, 1.4e-45], np.float32).tobytes()
    assert d04.metadata == {"price": 0.4, "nested": {"k": [1, 2]}, "year": 2004, "tags": ["x"]}
    assert fetched["d06"].metadata == {"title": "title 6", "year": 2006, "tags": []}
    room = source.room()
    assert not room.sparse and room.metadata_nested and room.max_id_length == 64


def test_several_vector_fields_need_a_name(lite: LiteDirectory) -> None:
    client = lite.client()
    name = lite.new_name("two_vectors")
    _users_collection(client, name, second_vector=True)
    with pytest.raises(UserError, match=r"several vector fields \(emb, emb2\).*vector_field"):
        _store(lite.uri(name), side="source").describe()
    chosen = _store(lite.uri(name, vector_field="emb2"), side="source")
    assert chosen.describe().shape == IndexShape("dense", "euclidean", 4)
    record = chosen.fetch("acme", ["d01"])[0]
    assert record.values is not None and record.values.tolist() == [1.0, 2.0, 3.0, 4.0]


# -- namespaces and IDs --------------------------------------------------------------------------------------


def test_the_same_id_in_two_namespaces_is_two_records(lite: LiteDirectory) -> None:
    store = _created(lite.uri(lite.new_name("ids")))
    store.write("a", [_record("same", 1, side="a")])
    store.write("ab", [_record("same", 2, side="ab")])
    store.write("a", [_record("b-same", 3)])  # "a" + "b-same" must not be "ab" + "same"
    assert store.describe().namespace_counts == {"a": 2, "ab": 1}
    assert store.fetch("a", ["same"])[0].metadata == {"side": "a"}
    assert store.fetch("ab", ["same"])[0].metadata == {"side": "ab"}
    store.delete("ab", ["same"])
    assert store.describe().namespace_counts == {"a": 2}


def test_ids_that_need_quoting_are_listed_fetched_and_deleted_exactly(lite: LiteDirectory) -> None:
    store = _created(lite.uri(lite.new_name("quoting")))
    ids = ['q"x', "b\\s", "nl\nx\ty", "é", "\U0001f600", "a%", "a_b", "ab", "a", "it's", "~", "A"]
    store.write("ns", [_record(i, n) for n, i in enumerate(ids)])
    assert _all_ids(store, "ns") == sorted(ids, key=lambda i: i.encode())
    assert _all_ids(store, "ns", prefix="a%") == ["a%"]
    assert _all_ids(store, "ns", prefix="a_") == ["a_b"]
    assert _all_ids(store, "ns", prefix="a") == ["a", "a%", "a_b", "ab"]
    assert {r.id for r in store.fetch("ns", ids)} == set(ids)
    store.delete("ns", ['q"x', "b\\s", "nl\nx\ty"])
    assert sorted(r.id for r in store.fetch("ns", ids)) == sorted(set(ids) - {'q"x', "b\\s", "nl\nx\ty"})


def test_partitions_hold_namespaces_under_reversible_names(lite: LiteDirectory) -> None:
    for namespace in ("tenant b/2", "_default", "__default__", "9lives", "a_b", "Zoë", "x" * 100):
        partition = partition_of(namespace)
        assert partition is not None and namespace_of(partition) == namespace
    assert partition_of(DEFAULT_NAMESPACE) == "_default" and partition_of("_default") == "__default"
    assert partition_of("x" * 300) is None and namespace_of("_zz") is None

    name = lite.new_name("parts")
    store = _created(lite.uri(name, namespaces="partitions"))
    for namespace in ("tenant b/2", "_default", DEFAULT_NAMESPACE):
        store.write(namespace, [_record(f"{namespace}-1"), _record("shared", 2, ns=namespace)])
    assert store.describe().namespace_counts == {"tenant b/2": 2, "_default": 2, DEFAULT_NAMESPACE: 2}
    assert store.fetch("_default", ["shared"])[0].metadata == {"ns": "_default"}
    assert _all_ids(store, "tenant b/2") == ["shared", "tenant b/2-1"]
    assert store.list_ids("never-written").ids == [] and store.fetch("never-written", ["shared"]) == []
    partitions = set(lite.client().list_partitions(name))  # type: ignore[attr-defined]
    assert {"_default", "tenant_20b_2f2", "__default"} <= partitions


def test_records_milvus_cannot_hold_are_refused_naming_them_and_nothing_of_the_batch_is_written(
    lite: LiteDirectory,
) -> None:
    store = _created(lite.uri(lite.new_name("refusals")))
    negative = Record("neg", np.ones(4, np.float32), SparseValues([1, 2], [0.5, -0.5]))
    top = Record("top", np.ones(4, np.float32), SparseValues([2**32 - 2], [0.5]))
    huge = _record("huge", text="x" * 70_000)
    for bad, reason in ((negative, "positive sparse"), (top, "sparse index"), (huge, "JSON limit")):
        with pytest.raises(RecordsRejected, match=f"{bad.id}.*{reason}"):
            store.write("ns", [_record("fine"), bad])
    assert store.fetch("ns", ["fine"]) == []
    assert store.room().max_sparse_index == 2**32 - 3


# -- options, errors, sources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("milvus://h:19530/c?colour=red", "unknown option"),
        ("milvus://h:19530/c?namespaces=tables", "namespaces must be"),
        ("milvus://h:19530/", "name the collection"),
        ("milvus://h:19530/bad-name", "not a Milvus collection name"),
        ("milvus://h:19530/c?secure=maybe", "secure must be"),
        ("milvus://admin@h:19530/c", "token_env"),
        ("milvus:///tmp/data.db", "name the collection"),
        ("milvus:///tmp/data?collection=c", "ends in .db"),
        ("milvus:///no/such/folder/data.db?collection=c", "does not exist"),
        ("milvus:///tmp/data.db?collection=c&token_env=T", "unknown option"),
        ("milvus://h:19530/c?vector_field=1x", "not a Milvus field name"),
    ],
)
def test_bad_uris_are_refused_before_any_contact(uri: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        _store(uri)


def test_a_missing_token_names_the_variable(served: LiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILVUS_TEST_TOKEN", raising=False)
    store = _store(served.uri("c", token_env="MILVUS_TEST_TOKEN"))
    with pytest.raises(UserError, match="MILVUS_TEST_TOKEN"):
        store.exists()


def test_create_like_refuses_what_means_nothing_to_milvus(lite: LiteDirectory) -> None:
    name = lite.new_name("never")
    with pytest.raises(UserError, match="--target-region mean nothing for Milvus"):
        _store(lite.uri(name)).create_like(HYBRID, region="us-east-1")
    with pytest.raises(UserError, match="metric 'manhattan'"):
        _store(lite.uri(name)).create_like(StoreDescription("s", IndexShape("dense", "manhattan", 4), {}))
    assert not _store(lite.uri(name)).exists()


def test_an_unreachable_server_is_a_retryable_error() -> None:
    with socket_closed() as port:
        store = _store(f"milvus://127.0.0.1:{port}/c")
        started = time.monotonic()
        with pytest.raises(RemoteError) as failed:
            store.exists()
    assert failed.value.retryable and "unreachable" in str(failed.value)
    assert time.monotonic() - started < 30


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """The data directory's files but the index sidecars Lite builds when loading (for indexes the
    collection declares already)."""
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent.name != "indexes"
    }


def test_a_source_is_only_read(tmp_path: Path) -> None:
    """A Lite source starts unloaded in a new process: the store loads it (Lite keeps load state in the
    process) and reads it; no data file changes (loading builds the sidecars of the declared indexes)."""
    lite = LiteDirectory(tmp_path)
    client: Any = lite.client()
    name = "unloaded"
    _users_collection(client, name, load=False)
    client.flush(name)
    before = (sorted(client.list_collections()), client.list_partitions(name), client.list_indexes(name))
    files = _files(lite.path)
    source = _store(lite.uri(name), side="source")
    assert source.describe().namespace_counts == {"acme": 5, "globex": 5}
    assert len(_all_ids(source, "acme")) == 5 and len(source.fetch("acme", ["d01"])) == 1
    after = (sorted(client.list_collections()), client.list_partitions(name), client.list_indexes(name))
    assert after == before and _files(lite.path) == files
    assert not _store(lite.uri("nothing_here"), side="source").exists()
    lite.close()


def test_a_server_store_travels_to_other_processes_and_a_lite_one_says_why_not(
    lite: LiteDirectory, served: LiteServer
) -> None:
    server_store = _created(served.uri(served.new_name("travels")))
    server_store.write("ns", [_record("r1")])
    copy = pickle.loads(pickle.dumps(server_store))
    assert [r.id for r in copy.fetch("ns", ["r1"])] == ["r1"]

    lite_store = _created(lite.uri(lite.new_name("stays")))
    with pytest.raises(TypeError, match="one process per data directory"):
        pickle.dumps(lite_store)
    assert not picklable(lite_store, server_store) and picklable(server_store)


def test_a_lite_directory_open_in_another_process_is_refused_clearly(lite: LiteDirectory) -> None:
    _created(lite.uri(lite.new_name("held")))  # this process holds the directory now
    code = (
        "from pinecone_migrator.stores.uri import parse\n"
        "from pinecone_migrator.stores.milvus import open_uri\n"
        "from pinecone_migrator.errors import UserError\n"
        f"store = open_uri(parse({lite.uri('held_0')!r}, side='source'))\n"
        "try:\n    store.exists()\nexcept UserError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "another process has it open" in result.stdout, result.stdout + result.stderr


class socket_closed:
    """A local port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        return port

    def __exit__(self, *_: object) -> None:
        return None
