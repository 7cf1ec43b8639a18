"""What only the LanceDB store does: tables a user made (inferred layout, metadata columns, no metric), the
namespace and ID mappings, options refused before anything is touched, a damaged table reported in one
line, sources never written, concurrency, pickling and compaction."""

from __future__ import annotations

import pickle
import threading
from dataclasses import replace
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from pinecone_migrator.errors import RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, StoreDescription
from pinecone_migrator.stores.lancedb import open_uri
from pinecone_migrator.stores.lancedb.store import LanceStore, after_all_with
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import flat, listed

from .server import LanceFolder

DENSE = StoreDescription(name="src", shape=IndexShape("dense", "cosine", 4), namespace_counts={})
# IDs that need quoting in SQL text, that LIKE would read as patterns, and that sort differently by bytes.
AWKWARD_IDS = [
    "it's",
    "it''s",
    "a\\'",
    "50%",
    "a_b",
    "aXb",
    "é",
    "é'x",
    "nul\x00x",
    "line\nx",
    'say "x"',
    "日本",
]


def _store(folder: LanceFolder, table: str, side: str = "target", **options: str) -> LanceStore:
    return open_uri(parse(folder.uri(table, **options), side=side))  # type: ignore[arg-type]


def _created(folder: LanceFolder, stem: str) -> LanceStore:
    store = _store(folder, folder.new_name(stem))
    store.create_like(DENSE)
    return store


def _vector(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal(4).astype(np.float32)


def _user_table(folder: LanceFolder, name: str) -> lancedb.table.Table:
    """A table made with LanceDB directly, as a user would: no namespace column, metadata as columns."""
    data = pa.table(
        {
            "id": ["b", "a", "c", None],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(
                    np.array(
                        [[1, 2, 3, 4], [-0.0, 1.4e-45, 0.1, 5], [0, 0, 0, 1], [9, 9, 9, 9]], np.float32
                    ).ravel()
                ),
                4,
            ),
            "title": ["B", "A's", None, "no id"],
            "price": [2.0**53 + 2, 0.1, None, 1.0],
            "count": pa.array([3, None, 7, 0], pa.int64()),
            "ratio": pa.array([0.5, 0.25, None, 1.0], pa.float32()),
            "flag": [True, False, None, True],
            "tags": pa.array([["b", "a", "b"], [], None, ["x"]], pa.list_(pa.string())),
        }
    )
    return lancedb.connect(str(folder.path)).create_table(name, data)


# -- a table the user made -----------------------------------------------------------------------------------


def test_a_users_table_is_read_by_its_columns_once_the_metric_is_named(lance_folder: LanceFolder) -> None:
    name = lance_folder.new_name("users")
    _user_table(lance_folder, name)
    unnamed = _store(lance_folder, name, side="source")
    assert unnamed.exists()
    with pytest.raises(UserError, match=r"--source .*keeps no metric.*\?metric=cosine"):
        unnamed.describe()

    store = _store(lance_folder, name, side="source", metric="l2")
    description = store.describe()
    assert description.shape == IndexShape("dense", "euclidean", 4)
    assert description.namespace_counts == {DEFAULT_NAMESPACE: 3}  # the row without an ID is not a record
    assert flat(listed(store, DEFAULT_NAMESPACE, limit=2)) == ["a", "b", "c"]
    fetched = {r.id: r for r in store.fetch(DEFAULT_NAMESPACE, ["a", "b", "c", "zz"])}
    assert fetched["a"] == Record(
        "a",
        np.array([-0.0, 1.4e-45, 0.1, 5], np.float32),
        metadata={"title": "A's", "price": 0.1, "ratio": 0.25, "flag": False, "tags": []},
    )
    assert fetched["a"].values is not None and fetched["a"].values.tobytes()[:4] == np.float32(-0.0).tobytes()
    b = fetched["b"].metadata
    assert (
        b["price"] == 2.0**53 + 2 and b["count"] == 3 and b["flag"] is True and b["tags"] == ["b", "a", "b"]
    )
    assert fetched["c"].metadata == {"count": 7}  # nulls are absent keys
    room = store.room()
    assert not room.sparse and not room.metadata_nested and room.metadata_lists
    assert store.fetch("tenant", ["a"]) == [] and store.list_ids("tenant").ids == []


def test_writes_into_a_users_columns_keep_types_and_refuse_what_has_no_column(
    lance_folder: LanceFolder,
) -> None:
    name = lance_folder.new_name("users")
    _user_table(lance_folder, name)
    store = _store(lance_folder, name, metric="cosine")
    written = Record("d", _vector(1), metadata={"title": "new", "count": 12.0, "ratio": 0.75, "tags": ["q"]})
    store.write(DEFAULT_NAMESPACE, [written])
    assert store.fetch(DEFAULT_NAMESPACE, ["d"]) == [written]
    assert store.describe().namespace_counts == {DEFAULT_NAMESPACE: 4}
    for record, reason in (
        (Record("e", _vector(2), metadata={"colour": "red"}), "no column for metadata 'colour'"),
        (Record("e", _vector(2), metadata={"ratio": 0.1}), "not exact in the float"),
        (Record("e", _vector(2), metadata={"count": 1.5}), "not an integer"),
        (Record("e", _vector(2), metadata={"flag": 1}), "a number does not fit"),
        (
            Record(
                "e", _vector(2), sparse=SparseValues(np.array([1], np.uint32), np.array([0.5], np.float32))
            ),
            "no sparse columns",
        ),
    ):
        with pytest.raises(RecordsRejected, match=reason):
            store.write(DEFAULT_NAMESPACE, [Record("fine", _vector(3)), record])
    with pytest.raises(RecordsRejected, match="no namespace column"):
        store.write("tenant", [Record("f", _vector(4))])
    assert sorted(flat(listed(store, DEFAULT_NAMESPACE))) == [
        "a",
        "b",
        "c",
        "d",
    ]  # nothing of refused batches


def test_columns_that_are_not_record_data_are_refused_unless_skipped(lance_folder: LanceFolder) -> None:
    name = lance_folder.new_name("odd")
    data = pa.table(
        {
            "id": ["a"],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(4, np.float32)), 4),
            "seen": pa.array([1_700_000_000], pa.timestamp("s")),
        }
    )
    lancedb.connect(str(lance_folder.path)).create_table(name, data)
    with pytest.raises(UserError, match=r"seen \(timestamp\[s\]\).*skip_columns"):
        _store(lance_folder, name, metric="cosine").exists()
    skipping = _store(lance_folder, name, metric="cosine", skip_columns="seen")
    assert skipping.fetch(DEFAULT_NAMESPACE, ["a"])[0].metadata == {}


def test_integer_ids_are_their_decimal_text_listed_in_numeric_order(lance_folder: LanceFolder) -> None:
    name = lance_folder.new_name("numbered")
    keys = [120, 5, 12, -3, 2**62, 7]
    data = pa.table(
        {
            "id": pa.array(keys, pa.int64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(24, np.float32)), 4),
        }
    )
    lancedb.connect(str(lance_folder.path)).create_table(name, data)
    store = _store(lance_folder, name, metric="cosine")
    assert not store.capabilities().lists_bytewise  # numeric order: stable, not bytewise
    assert flat(listed(store, DEFAULT_NAMESPACE, limit=4)) == [str(k) for k in sorted(keys)]
    assert flat(listed(store, DEFAULT_NAMESPACE, prefix="12", limit=1)) == ["12", "120"]
    fetched = store.fetch(DEFAULT_NAMESPACE, ["12", "-3", "012", "x", "99"])
    assert sorted(r.id for r in fetched) == ["-3", "12"]
    store.write(DEFAULT_NAMESPACE, [Record("8", _vector(8))])
    for refused in ("08", "eight", str(2**63)):
        with pytest.raises(RecordsRejected, match="IDs are int64 integers"):
            store.write(DEFAULT_NAMESPACE, [Record(refused, _vector(9))])
    store.delete(DEFAULT_NAMESPACE, ["5", "not-a-number"])
    assert flat(listed(store, DEFAULT_NAMESPACE)) == ["-3", "7", "8", "12", "120", str(2**62)]


def test_fetch_by_metadata_filters_a_users_columns_in_id_order(lance_folder: LanceFolder) -> None:
    name = lance_folder.new_name("filtered")
    _user_table(lance_folder, name)
    store = _store(lance_folder, name, metric="cosine")
    store.write(DEFAULT_NAMESPACE, [Record("d", _vector(1), metadata={"count": 9.0, "flag": True})])
    pages, cursor = [], None
    while True:
        page = store.fetch_by_metadata(DEFAULT_NAMESPACE, {"count": {"$gte": 3}}, cursor=cursor, limit=1)
        pages.append([(r.id, r.metadata.get("count")) for r in page.records])
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == [[("b", 3)], [("c", 7)], [("d", 9)]]
    found = store.fetch_by_metadata(DEFAULT_NAMESPACE, {"tags": {"$in": ["a"]}, "flag": True})
    assert [r.id for r in found.records] == ["b"] and found.records[0].values is not None
    with pytest.raises(RemoteError, match=r"\$near"):
        store.fetch_by_metadata(DEFAULT_NAMESPACE, {"count": {"$near": 3}})


# -- namespaces and IDs --------------------------------------------------------------------------------------


def test_namespaces_are_a_column_and_ids_are_matched_exactly(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "ids")
    records = [Record(record_id, _vector(n), metadata={"n": n}) for n, record_id in enumerate(AWKWARD_IDS)]
    store.write("one", records)
    store.write("two", records[:3])
    assert store.describe().namespace_counts == {"one": len(AWKWARD_IDS), "two": 3}
    table = lancedb.connect(str(lance_folder.path)).open_table(store.options.table)
    assert sorted(table.to_arrow().column("namespace").unique().to_pylist()) == ["one", "two"]

    assert flat(listed(store, "one", limit=5)) == sorted(AWKWARD_IDS, key=lambda i: i.encode())
    for record in records:
        assert store.fetch("one", [record.id]) == [record], repr(record.id)
    for prefix in ("it'", "a\\", "50%", "a_", "é", "nul\x00", "日"):
        wanted = sorted((i for i in AWKWARD_IDS if i.startswith(prefix)), key=lambda i: i.encode())
        assert flat(listed(store, "one", prefix=prefix, limit=1)) == wanted, repr(prefix)

    with pytest.raises(RecordsRejected, match="LanceDB cannot take the batch"):
        store.write("one", [Record("lone \ud800 surrogate", _vector(1))])  # not text UTF-8 can carry
    store.delete("one", ["it's", "nul\x00x", "é'x", "a_b"])
    left = set(AWKWARD_IDS) - {"it's", "nul\x00x", "é'x", "a_b"}
    assert set(flat(listed(store, "one"))) == left
    assert store.describe().namespace_counts == {"one": len(left), "two": 3}


def test_the_end_of_a_prefix_range() -> None:
    assert after_all_with("ab") == "ac"
    assert after_all_with("a\U0010ffff") == "b"
    assert after_all_with("\U0010ffff") is None
    assert after_all_with("\ud7ff") == "\ue000"


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_search_scores_as_pinecone_does(lance_folder: LanceFolder, metric: str) -> None:
    store = _store(lance_folder, lance_folder.new_name(metric))
    store.create_like(replace(DENSE, shape=IndexShape("dense", metric, 4)))
    rng = np.random.default_rng(3)
    records = [
        Record(
            f"r{n:02d}",
            rng.standard_normal(4).astype(np.float32),
            SparseValues(np.array([n % 5, 7], np.uint32), np.array([1.5, -0.5], np.float32))
            if n % 2
            else None,
        )
        for n in range(40)
    ]
    store.write("ns", records)
    store.write("other", records[:1])
    query = records[1]
    assert query.values is not None and query.sparse is not None
    query_values, query_sparse = query.values.astype(np.float64), query.sparse

    def pairs(sparse: SparseValues | None) -> dict[int, float]:
        if sparse is None:
            return {}
        return dict(zip(sparse.indices.tolist(), sparse.values.tolist(), strict=True))

    def score(record: Record) -> float:
        assert record.values is not None
        theirs = record.values.astype(np.float64)
        if metric == "euclidean":
            return float(((query_values - theirs) ** 2).sum())
        if metric == "cosine":
            return float(query_values @ theirs / np.linalg.norm(query_values) / np.linalg.norm(theirs))
        sparse = pairs(record.sparse)
        hybrid = sum(value * sparse.get(index, 0.0) for index, value in pairs(query_sparse).items())
        return float(query_values @ theirs) + hybrid

    expected = sorted(records, key=score, reverse=metric != "euclidean")[:5]
    matches = store.query("ns", query, 5)
    assert [m.id for m in matches] == [r.id for r in expected]
    assert max(abs(m.score - score(r)) for m, r in zip(matches, expected, strict=True)) < 1e-5


# -- options and errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("lancedb://{root}", "name the table"),
        ("lancedb://host{root}?table=t", "folder on this machine"),
        ("lancedb:///?table=t", "absolute path"),
        ("lancedb://{root}?table=t&metric=hamming", "unknown metric 'hamming'"),
        ("lancedb://{root}?table=t&metadata=yaml", "metadata=json or metadata=columns"),
        ("lancedb://{root}?table=t&tabel=u", "unknown option"),
        ("lancedb://{root}?table=t&skip_columns=id", "skip_columns names a column"),
        ("lancedb://{root}?table=a/b", "letters, digits"),
    ],
)
def test_bad_uris_are_refused_without_touching_anything(tmp_path: Path, uri: str, said: str) -> None:
    root = tmp_path / "db"
    with pytest.raises(UserError, match=said) as refused:
        open_uri(parse(uri.format(root=root), side="target"))
    assert str(refused.value).startswith("--target ")
    assert not root.exists()


def test_create_like_refuses_what_means_nothing_here(lance_folder: LanceFolder) -> None:
    store = _store(lance_folder, lance_folder.new_name("made"))
    with pytest.raises(UserError, match="--target-region mean nothing"):
        store.create_like(DENSE, region="us-east-1")
    with pytest.raises(UserError, match="metadata=columns reads the columns of an existing table"):
        _store(lance_folder, lance_folder.new_name("made"), metadata="columns").create_like(DENSE)
    assert not store.exists()
    store.create_like(DENSE)
    with pytest.raises(UserError, match="exists already"):
        store.create_like(DENSE)


def test_a_damaged_table_is_one_line_naming_it(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "damaged")
    store.write("ns", [Record("a", _vector(1))])
    data = lance_folder.path / f"{store.options.table}.lance" / "data"
    for path in data.iterdir():
        path.unlink()
    with pytest.raises(RemoteError) as failed:
        store.fetch("ns", ["a"])
    message = str(failed.value)
    assert failed.value.retryable and "\n" not in message and "/rustc/" not in message
    assert f"LanceDB table {store.options.table!r} in {lance_folder.path}" in message


def test_a_missing_folder_is_a_missing_table_and_is_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "never"
    store = open_uri(parse(f"lancedb://{folder}?table=t", side="source"))
    assert not store.exists()
    with pytest.raises(UserError, match="there is no table 't'"):
        store.describe()
    assert store.room() == fidelity.room_of(store) and not folder.exists()


# -- a source is only read -----------------------------------------------------------------------------------


def test_reading_writes_nothing(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "read")
    store.write("ns", [Record(f"r{n}", _vector(n), metadata={"n": n}) for n in range(20)])
    root = lance_folder.path / f"{store.options.table}.lance"
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    source = _store(lance_folder, store.options.table, side="source")
    assert source.exists()
    source.describe()
    source.room()
    ids = flat(listed(source, "ns", limit=3))
    assert len(source.fetch("ns", ids)) == 20
    after = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert after == before


# -- threads, processes, versions ----------------------------------------------------------------------------


def test_writers_in_many_threads_leave_one_row_per_id(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "threads")
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            # Overlapping batches: each ID is written by several threads.
            store.write("ns", [Record(f"r{k:03d}", _vector(k), metadata={"by": n}) for k in range(n, n + 40)])
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n * 10,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert store.describe().namespace_counts == {"ns": 110}
    table = lancedb.connect(str(lance_folder.path)).open_table(store.options.table)
    assert table.count_rows() == 110


def test_the_store_pickles_without_its_connection(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "pickled")
    store.write("ns", [Record("a", _vector(1))])
    copy = pickle.loads(pickle.dumps(store))
    assert copy.fetch("ns", ["a"]) == store.fetch("ns", ["a"])


def test_finish_compacts_the_versions_writes_made(lance_folder: LanceFolder) -> None:
    store = _created(lance_folder, "compact")
    records = [Record(f"r{n:03d}", _vector(n), metadata={"n": n}) for n in range(120)]
    for start in range(0, 120, 4):
        store.write("ns", records[start : start + 4])
    table = lancedb.connect(str(lance_folder.path)).open_table(store.options.table)
    assert len(table.list_versions()) > 30
    data = lance_folder.path / f"{store.options.table}.lance" / "data"
    files_before = len(list(data.iterdir()))
    store.finish()
    table = lancedb.connect(str(lance_folder.path)).open_table(store.options.table)
    assert files_before == 30 and len(list(data.iterdir())) == 1
    assert len(table.list_versions()) == 1
    assert {r.id: r for r in store.fetch("ns", [r.id for r in records])} == {r.id: r for r in records}
