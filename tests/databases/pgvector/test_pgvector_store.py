"""What only the pgvector store has: tables the user made (schema and metric inferred), namespaces as a
column or as tables, IDs in bytewise order, halfvec, typed metadata columns, options refused before any
connection, clean errors, and a source that is never written."""

from __future__ import annotations

import pickle
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import numpy as np
import psycopg
import pytest

from pinecone_migrator.errors import RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, Store, StoreDescription
from pinecone_migrator.stores.pgvector import open_uri
from pinecone_migrator.stores.pgvector.connections import MAX_CONNECTIONS
from pinecone_migrator.stores.pgvector.store import PgvectorStore
from pinecone_migrator.stores.uri import parse

from .conftest import new_table
from .server import PostgresServer

SHAPE = IndexShape("dense", "cosine", 3)


def _open(uri: str, side: str | None = "target") -> PgvectorStore:
    store = open_uri(parse(uri, side=side))  # type: ignore[arg-type]
    assert isinstance(store, PgvectorStore)
    return store


def _sql(server: PostgresServer, *statements: str, parameters: Any = None) -> list[Any]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        rows: list[Any] = []
        for statement in statements:
            cursor = connection.execute(statement, parameters)
            if cursor.description is not None:
                rows = cursor.fetchall()
        return rows


def _all(store: Store, namespace: str = DEFAULT_NAMESPACE) -> list[Record]:
    ids: list[str] = []
    cursor = None
    while True:
        page = store.list_ids(namespace, cursor=cursor, limit=2)
        ids += page.ids
        cursor = page.cursor
        if cursor is None:
            return sorted(store.fetch(namespace, ids), key=lambda r: r.id)


def _created(server: PostgresServer, shape: IndexShape = SHAPE, **options: str) -> PgvectorStore:
    store = _open(server.uri(new_table("t"), **options))
    store.create_like(StoreDescription("source", shape, {}))
    return store


@pytest.fixture(scope="module")
def user_table(postgres: PostgresServer) -> str:
    """A table made by hand, as an application would: its own schema, varchar IDs, typed columns, an HNSW
    index that says the metric, NULLs where a record has no such key."""
    _sql(
        postgres,
        "CREATE EXTENSION IF NOT EXISTS vector",
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.items (id varchar(64) PRIMARY KEY, embedding vector(3), title text, "
        "price double precision, qty integer, weight real, tags text[], active boolean, extra jsonb, "
        "added date)",
        "CREATE INDEX ON shop.items USING hnsw (embedding vector_l2_ops)",
        "INSERT INTO shop.items VALUES "
        "('b', '[1,2,3]', 'Zoë \"x\"', 0.1, 3, 0.5, '{x,y}', true, '{\"k\": [1, {\"n\": null}]}', "
        "'2026-01-02'),"
        "('a', '[-0,1e-45,3.5]', NULL, NULL, NULL, NULL, NULL, false, NULL, NULL)",
    )
    return "shop.items"


def test_a_table_the_user_made_is_read_as_it_is(postgres: PostgresServer, user_table: str) -> None:
    store = _open(postgres.uri(user_table), side="source")
    assert store.exists()
    description = store.describe()
    assert description.shape == IndexShape("dense", "euclidean", 3)
    assert description.namespace_counts == {DEFAULT_NAMESPACE: 2}
    assert description.location == f"postgresql://127.0.0.1:{postgres.port}/postgres/shop.items"
    a, b = _all(store)
    assert a == Record("a", np.array([-0.0, 1e-45, 3.5], np.float32), metadata={"active": False})
    assert a.values is not None and a.values.tobytes() == np.array([-0.0, 1e-45, 3.5], np.float32).tobytes()
    assert b == Record(
        "b",
        np.array([1, 2, 3], np.float32),
        metadata={
            "title": 'Zoë "x"',
            "price": 0.1,
            "qty": 3,
            "weight": 0.5,
            "tags": ["x", "y"],
            "active": True,
            "extra": {"k": [1, {"n": None}]},
            "added": "2026-01-02",
        },
    )
    room = store.room()
    assert room.metadata_nested and not room.sparse and room.max_id_length is None and not room.ascii_ids


def test_the_metric_comes_from_the_index_else_the_option(postgres: PostgresServer) -> None:
    _sql(postgres, "CREATE TABLE plain (id text PRIMARY KEY, embedding vector(2))")
    with pytest.raises(UserError, match=r"cannot tell the metric.*\?metric="):
        _open(postgres.uri("plain")).exists()
    assert _open(postgres.uri("plain", metric="dotproduct")).describe().shape.metric == "dotproduct"
    _sql(postgres, "CREATE TABLE l1 (id text PRIMARY KEY, embedding vector(2))",
         "CREATE INDEX ON l1 USING hnsw (embedding vector_l1_ops)")  # fmt: skip
    assert _open(postgres.uri("l1")).describe().shape.metric == "manhattan"
    with pytest.raises(UserError, match="metric=cosine, but table l1 is indexed by manhattan"):
        _open(postgres.uri("l1", metric="cosine")).describe()


def test_namespaces_live_in_a_column_with_the_default_as_empty(postgres: PostgresServer) -> None:
    store = _created(postgres)
    store.write("tenant a", [Record("x", np.ones(3, np.float32))])
    store.write(DEFAULT_NAMESPACE, [Record("y", np.ones(3, np.float32))])
    rows = _sql(postgres, f"SELECT namespace, id FROM {store.settings.table} ORDER BY id")
    assert rows == [("tenant a", "x"), ("", "y")]
    assert store.describe().namespace_counts == {"tenant a": 1, DEFAULT_NAMESPACE: 1}
    assert [r.id for r in _all(store, "tenant a")] == ["x"]


def test_namespaces_as_tables(postgres: PostgresServer) -> None:
    store = _created(postgres, namespaces="tables")
    table = store.settings.table
    store.write("tenant a", [Record("x", np.ones(3, np.float32)), Record("z", np.ones(3, np.float32))])
    store.write(DEFAULT_NAMESPACE, [Record("y", np.ones(3, np.float32))])
    assert _sql(postgres, f'SELECT id FROM "{table}__tenant a"') == [("x",), ("z",)]
    assert _sql(postgres, f"SELECT id FROM {table}") == [("y",)]
    assert store.describe().namespace_counts == {"tenant a": 2, DEFAULT_NAMESPACE: 1}
    assert [r.id for r in _all(store, "tenant a")] == ["x", "z"]
    assert store.list_ids("never").ids == [] and store.fetch("never", ["x"]) == []
    with pytest.raises(UserError, match="longer than PostgreSQL's 63 bytes"):
        store.write("n" * 60, [Record("x", np.ones(3, np.float32))])
    store.finish()
    hnsw = "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%%hnsw%%' AND tablename LIKE %s"
    indexes = _sql(postgres, hnsw, parameters=(f"{table}%",))
    assert indexes == [(2,)]


def test_ids_list_bytewise_with_literal_prefixes(postgres: PostgresServer) -> None:
    store = _created(postgres)
    ids = ["a%b", "a_b", "ab", "a", "é", "z", "\U0001f600", "A", "a\U0010ffff", "a\U0010ffffz"]
    store.write("ns", [Record(i, np.ones(3, np.float32)) for i in ids])
    listed = [r.id for r in _all(store, "ns")]
    assert listed == sorted(ids)
    pages = []
    cursor = None
    while True:
        page = store.list_ids("ns", cursor=cursor, limit=3)
        pages += page.ids
        if (cursor := page.cursor) is None:
            break
    assert pages == sorted(ids, key=lambda i: i.encode())
    for prefix, wanted in (
        ("a%", ["a%b"]),
        ("a_", ["a_b"]),
        ("a\U0010ffff", ["a\U0010ffff", "a\U0010ffffz"]),
    ):
        assert store.list_ids("ns", prefix=prefix).ids == wanted
    with pytest.raises(UserError, match="not given by a PostgreSQL store"):
        store.list_ids("ns", cursor="pg1:!!")


def test_halfvec_holds_float16_values_as_the_room_says(postgres: PostgresServer) -> None:
    store = _created(postgres, vector_type="halfvec")
    room = store.room()
    assert room.float16
    change = fidelity.between(SHAPE, fidelity.PINECONE, room)
    assert "values-float16" in change.names()
    record = Record("h", np.array([1 / 3, 1e-6, -65504.0], np.float32), metadata={"n": 1})
    store.write("ns", [record])
    assert store.fetch("ns", ["h"]) == [change.expected(record)] != [record]
    with pytest.raises(RecordsRejected, match=r"'big'.*halfvec"):
        store.write("ns", [Record("big", np.array([1, 2, 70_000], np.float32))])


def test_a_refused_record_writes_nothing_of_its_batch(postgres: PostgresServer) -> None:
    store = _created(postgres, IndexShape("dense", "dotproduct", 3))
    sparse = SparseValues(np.array([1, 1_000_000_000], np.uint32), np.array([1, 2], np.float32))
    fine = Record("fine", np.ones(3, np.float32))
    cases = {
        "far": Record("far", np.ones(3, np.float32), sparse),
        "zero": Record("zero", np.ones(3, np.float32), SparseValues([1], [0.0])),
        "nul": Record("nul", np.ones(3, np.float32), metadata={"t": "a\x00b"}),
        "neg": Record("neg", np.ones(3, np.float32), metadata={"x": -0.0}),
        "long": Record("l" * 513, np.ones(3, np.float32)),
        "dim": Record("dim", np.ones(4, np.float32)),
    }
    for name, bad in cases.items():
        with pytest.raises(RecordsRejected) as refused:
            store.write("ns", [fine, bad])
        assert repr(bad.id[:20]) in str(refused.value) or bad.id[:20] in str(refused.value), name
    assert store.describe().namespace_counts == {}


def test_typed_columns_are_written_and_checked(postgres: PostgresServer) -> None:
    _sql(postgres, "CREATE TABLE typed (id text PRIMARY KEY, embedding vector(2), n bigint, r real, "
                   "price numeric, tags text[], ok boolean, doc jsonb)",
         "CREATE INDEX ON typed USING hnsw (embedding vector_ip_ops)")  # fmt: skip
    store = _open(postgres.uri("typed"))
    assert store.room().metadata_nested and store.room().max_id_length is None
    record = Record("t", np.ones(2, np.float32), metadata={"n": 2.0**53, "r": 0.25, "price": 0.1,
                    "tags": ["b", "a"], "ok": False, "doc": {"deep": [1, "x"]}})  # fmt: skip
    store.write(DEFAULT_NAMESPACE, [record])
    assert store.fetch(DEFAULT_NAMESPACE, ["t"]) == [record]
    refusals = {"n": 1.5, "r": 0.1, "ok": 1, "tags": "a", "other": "no column"}
    for key, value in refusals.items():
        with pytest.raises(RecordsRejected, match=repr(key)):
            store.write(DEFAULT_NAMESPACE, [Record("u", np.ones(2, np.float32), metadata={key: value})])
    with pytest.raises(UserError, match="holds the default namespace only"):
        store.write("elsewhere", [record])


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("postgresql://u@h/db", "add ?table=NAME"),
        ("postgresql://u@h/db?table=t&color=red", "unknown option"),
        ("postgresql://u:secret@h/db?table=t", "carries a password"),
        ("postgresql://u@h/db?table=t&namespaces=rows", "namespaces=column or namespaces=tables"),
        ("postgresql://u@h/db?table=t&metric=hamming", "metric=hamming"),
        ("postgresql://u@h/db?table=t&vector_type=bit", "vector_type=vector or vector_type=halfvec"),
        ("postgresql://u@h/db?table=t&index=ivfflat", "index=hnsw or index=none"),
        ("postgresql://u@h/db?table=t&password_env=PM_NOT_SET_ANYWHERE", "PM_NOT_SET_ANYWHERE"),
        ("postgresql://u@h/a/b?table=t", "database name only"),
        (f"postgresql://u@h/db?table={'x' * 64}", "1 to 63 bytes"),
    ],
)
def test_bad_uris_are_refused_before_any_connection(uri: str, words: str) -> None:
    with pytest.raises(UserError, match=words.replace("?", r"\?")):
        _open(uri)  # host "h" does not resolve: a connection attempt would fail otherwise


def test_an_unreachable_server_or_a_wrong_database_is_one_clear_line(postgres: PostgresServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RemoteError) as failed:
        _open(f"postgresql://postgres@127.0.0.1:{port}/postgres?table=t").exists()
    assert (
        failed.value.retryable and f"127.0.0.1:{port}" in str(failed.value) and "\n" not in str(failed.value)
    )
    with pytest.raises(UserError, match='database "nowhere" does not exist'):
        _open(postgres.uri("t", database="nowhere")).exists()
    missing = _open(postgres.uri("never_made"), side="source")
    assert not missing.exists()
    with pytest.raises(UserError, match="table never_made does not exist"):
        missing.describe()


def test_a_source_is_never_written(postgres: PostgresServer, user_table: str) -> None:
    _sql(postgres, "CREATE DATABASE bare")  # no pgvector extension: reading it must not create one
    bare = _open(postgres.uri("items", database="bare"), side="source")
    assert not bare.exists()
    assert _sql_in(postgres, "bare", "SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == [(0,)]

    def state() -> list[Any]:
        return _sql(postgres, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
                              "WHERE schemaname = 'shop' ORDER BY relname")  # fmt: skip

    before = state()
    source = _open(postgres.uri(user_table), side="source")
    assert len(_all(source)) == 2 and source.describe().namespace_counts == {DEFAULT_NAMESPACE: 2}
    with pytest.raises(UserError, match="a source is only read"):
        source.write(DEFAULT_NAMESPACE, [Record("c", np.ones(3, np.float32))])
    with pytest.raises(UserError, match="a source is only read"):
        source.delete(DEFAULT_NAMESPACE, ["a"])
    assert state() == before and len(_all(source)) == 2


def _sql_in(server: PostgresServer, database: str, statement: str) -> list[Any]:
    with psycopg.connect(server.dsn(database), autocommit=True) as connection:
        return connection.execute(statement).fetchall()


def test_the_store_travels_to_another_process_without_its_connections(postgres: PostgresServer) -> None:
    store = _created(postgres)
    store.write("ns", [Record("p", np.ones(3, np.float32))])
    copy = pickle.loads(pickle.dumps(store))
    assert copy.fetch("ns", ["p"]) == store.fetch("ns", ["p"]) and copy.settings == store.settings


def test_many_threads_share_a_bounded_pool_of_connections(postgres: PostgresServer) -> None:
    ours = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pinecone-migrator'"
    store = _created(postgres)
    before = _sql(postgres, ours)[0][0]  # other stores' idle sessions, and the one that created the table
    batches = [[Record(f"{n}-{i}", np.full(3, n, np.float32)) for i in range(20)] for n in range(64)]
    with ThreadPoolExecutor(40) as pool:
        assert sum(ack.count for ack in pool.map(lambda batch: store.write("ns", batch), batches)) == 1_280
        assert (
            sum(len(found) for found in pool.map(lambda b: store.fetch("ns", [r.id for r in b]), batches))
            == 1_280
        )
        opened = _sql(postgres, ours)[0][0] - before
    assert 1 <= opened <= MAX_CONNECTIONS - 1
    assert store.describe().namespace_counts == {"ns": 1_280}


def test_create_like_refuses_what_means_nothing_here(postgres: PostgresServer) -> None:
    store = _open(postgres.uri(new_table("t")))
    with pytest.raises(UserError, match="--target-cloud, --target-region mean nothing"):
        store.create_like(StoreDescription("s", SHAPE, {}), cloud="aws", region="us-east-1")
    assert not store.exists()


def test_a_user_who_may_not_create_the_extension_is_told_whom_to_ask(postgres: PostgresServer) -> None:
    _sql(postgres, "CREATE ROLE app LOGIN", "CREATE DATABASE appdb OWNER app")
    store = _open(f"postgresql://app@127.0.0.1:{postgres.port}/appdb?table=items")
    with pytest.raises(UserError, match=r"no pgvector extension.*Ask an administrator"):
        store.create_like(StoreDescription("s", SHAPE, {}))
    assert not store.exists()


def test_a_write_racing_another_writer_of_the_same_id_still_replaces_it(postgres: PostgresServer) -> None:
    """The fast path (COPY straight in, when none of the IDs is there) meets a row another session inserts
    meanwhile: the write falls back to the upsert and its record wins, as the later write."""
    store = _created(postgres)
    table = store.settings.table
    ours = Record("x", np.full(3, 2, np.float32), metadata={"by": "store"})
    with psycopg.connect(postgres.dsn()) as other:
        other.execute(f"INSERT INTO {table} (namespace, id, embedding) VALUES ('ns', 'x', '[1,1,1]')")
        with ThreadPoolExecutor(1) as pool:
            writing = pool.submit(store.write, "ns", [ours, Record("y", np.ones(3, np.float32))])
            time.sleep(0.3)  # the store's COPY now waits on the other session's uncommitted row
            assert not writing.done()
            other.commit()
            assert writing.result(timeout=10).count == 2
    assert store.fetch("ns", ["x"]) == [ours] and store.describe().namespace_counts == {"ns": 2}


def test_index_none_leaves_the_indexing_to_the_user(postgres: PostgresServer) -> None:
    store = _created(postgres, index="none")
    store.write("ns", [Record("a", np.ones(3, np.float32))])
    store.finish()
    assert _sql(
        postgres, "SELECT count(*) FROM pg_indexes WHERE tablename = %s", parameters=(store.settings.table,)
    ) == [(1,)]  # the key
    assert store.describe().shape == SHAPE  # the comment keeps the metric


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_queries_score_as_pinecone_scores(postgres: PostgresServer, metric: str) -> None:
    rng = np.random.default_rng(3)
    records = [
        Record(f"q{n:02d}", rng.standard_normal(3).astype(np.float32),
               SparseValues([n % 5, 10 + n], [1.0 + n, -0.5]) if metric == "dotproduct" and n % 3 else None)
        for n in range(30)
    ]  # fmt: skip
    store = _created(postgres, IndexShape("dense", metric, 3))
    store.write("ns", records)
    query = records[7]  # with sparse values where the index has them (some records have none)
    dense = np.array([r.values for r in records], np.float64)
    q = np.asarray(query.values, np.float64)
    if metric == "cosine":
        scores = dense @ q / (np.linalg.norm(dense, axis=1) * np.linalg.norm(q))
    elif metric == "euclidean":
        scores = ((dense - q) ** 2).sum(axis=1)
    else:
        sparse = [
            {}
            if r.sparse is None
            else dict(zip(r.sparse.indices.tolist(), r.sparse.values.tolist(), strict=True))
            for r in records
        ]
        mine = sparse[7]
        scores = dense @ q + np.array([sum(v * mine.get(i, 0.0) for i, v in s.items()) for s in sparse])
    best = np.argsort(scores if metric == "euclidean" else -scores, kind="stable")[:5]
    matches = store.query("ns", query, 5)
    assert [m.id for m in matches] == [records[i].id for i in best]
    assert np.allclose([m.score for m in matches], scores[best], atol=1e-5)


def test_a_sparse_query_finds_only_records_sharing_a_dimension(postgres: PostgresServer) -> None:
    store = _created(postgres, IndexShape("sparse", "dotproduct", None))
    a = Record("a", sparse=SparseValues([1, 5], [2.0, 1.0]))
    b = Record("b", sparse=SparseValues([7], [3.0]))
    store.write("ns", [a, b, Record("c", sparse=SparseValues([5], [4.0]))])
    matches = store.query("ns", Record("q", sparse=SparseValues([5], [0.5])), 10)
    assert [(m.id, m.score) for m in matches] == [("c", 2.0), ("a", 0.5)]


def test_a_refused_password_names_the_variable_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with PostgresServer(password="right") as guarded:
        uri = f"postgresql://postgres@127.0.0.1:{guarded.port}/postgres?table=t"
        monkeypatch.setenv("PGPASSWORD", "wrong")
        with pytest.raises(UserError, match=r"refused the login of user postgres.*PGPASSWORD"):
            _open(uri).exists()
        monkeypatch.setenv("PM_TEST_PASSWORD", "wrong")
        with pytest.raises(UserError, match="PM_TEST_PASSWORD"):
            _open(uri + "&password_env=PM_TEST_PASSWORD").exists()
        monkeypatch.setenv("PM_TEST_PASSWORD", "right")
        assert not _open(uri + "&password_env=PM_TEST_PASSWORD").exists()  # in, and no such table


def test_a_lost_connection_is_retryable_and_the_next_call_reconnects(postgres: PostgresServer) -> None:
    store = _created(postgres)
    store.write("ns", [Record("a", np.ones(3, np.float32))])
    with ExitStack() as held:  # several connections at once, then idle in the pool
        for _ in range(3):
            held.enter_context(store._connections.session())
    _sql(postgres, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = 'pinecone-migrator'")  # fmt: skip
    with pytest.raises(RemoteError) as lost:
        store.fetch("ns", ["a"])
    assert lost.value.retryable and "\n" not in str(lost.value)
    assert [r.id for r in store.fetch("ns", ["a"])] == ["a"]
