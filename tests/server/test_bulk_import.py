"""Bulk imports from Parquet trees on local disk, through the official SDK 10.x against a server process."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pinecone import ApiError, NotFoundError, Pinecone

from pinecone_migrator.stores.files.parquet_layout import bulk_import_schema

from ..helpers import as_plain, dense_index, expected, sparse_index
from ..serverproc import ServerProcess

FINISHED = ("Completed", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(None) as running:
        yield running


@pytest.fixture
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    yield Pinecone(api_key="k", host=server.url)
    httpx.post(f"{server.url}/_admin/faults/reset")
    for description in Pinecone(api_key="k", host=server.url).list_indexes():
        Pinecone(api_key="k", host=server.url).delete_index(description.name)


def make_records(
    count: int,
    rng: random.Random,
    dimension: int | None = 8,
    sparse: bool = False,
    prefix: str = "r",
) -> list[dict[str, Any]]:
    """Records with float32-exact values and every metadata type (and some without metadata)."""
    records = []
    for i in range(count):
        record: dict[str, Any] = {"id": f"{prefix}{i:05d}"}
        if dimension is not None:
            record["values"] = [float(v) for v in np.float32(np.random.default_rng(i).normal(size=dimension))]
        if sparse and (dimension is None or i % 3 != 0):  # hybrid records without sparse values too
            indices = sorted(rng.sample(range(50_000), k=rng.randint(1, 8)))
            record["sparse_values"] = {"indices": indices, "values": [rng.uniform(-2, 2) for _ in indices]}
        if i % 5 != 4:
            record["metadata"] = {
                "title": f"title {i} – naïve",
                "year": rng.randint(1900, 2030),
                "score": rng.random(),
                "published": i % 2 == 0,
                "tags": rng.sample(["a", "b", "c", "d"], k=rng.randint(0, 3)),
            }
        records.append(record)
    return records


def write_file(path: Path, records: list[dict[str, Any]], dense: bool = True, sparse: bool = False) -> None:
    rows = []
    for record in records:
        row: dict[str, Any] = {"id": record["id"]}
        if dense:
            row["values"] = record.get("values")
        if sparse:
            row["sparse_values"] = record.get("sparse_values")
        metadata = record.get("metadata")
        row["metadata"] = None if metadata is None else orjson.dumps(metadata).decode()
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=bulk_import_schema(dense, sparse)), path)


def wait_for(index: Any, import_id: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        described = index.describe_import(id=import_id)
        if described.status in FINISHED:
            return described
        assert time.monotonic() < deadline, f"import still {described.status}"
        time.sleep(0.05)


def fetch_all(index: Any, namespace: str) -> dict[str, dict[str, Any]]:
    ids = [item.id for page in index.list(namespace=namespace) for item in page.vectors]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 200):
        response = index.fetch(ids=ids[start : start + 200], namespace=namespace)
        found.update({key: as_plain(vector) for key, vector in response.vectors.items()})
    return found


def assert_imported_exactly(index: Any, namespace: str, records: list[dict[str, Any]]) -> None:
    got = fetch_all(index, namespace)
    assert got == {record["id"]: expected(record) for record in records}
    for record in records:
        if record.get("metadata"):
            metadata = got[record["id"]]["metadata"]
            assert isinstance(metadata["published"], bool)
            assert type(metadata["year"]) is float  # Pinecone stores numbers as float64: 1934 reads 1934.0
            assert isinstance(metadata["score"], float)
            assert metadata["tags"] == record["metadata"]["tags"]


def test_dense_import_is_exact_across_namespaces_and_files(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-dense", dimension=8)
    rng = random.Random(1)
    default = make_records(2_500, rng)  # several batches in one file
    books = make_records(300, rng, prefix="book-")
    write_file(tmp_path / "__default__" / "part-0.parquet", default)
    write_file(tmp_path / "books" / "part-0.parquet", books[:100])
    write_file(tmp_path / "books" / "part-1.parquet", books[100:])
    (tmp_path / "manifest.json").write_text("{}")  # other files are not read

    started = index.start_import(uri=str(tmp_path))
    described = wait_for(index, started.id)

    assert described.status == "Completed", described.error
    assert described.records_imported == 2_800
    assert described.percent_complete == 100.0
    assert described.error is None and described.finished_at is not None and described.created_at
    assert described.uri == str(tmp_path)
    assert_imported_exactly(index, "", default)
    assert_imported_exactly(index, "books", books)
    stats = index.describe_index_stats()
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"__default__": 2_500, "books": 300}


def test_sparse_import_from_a_file_uri_is_exact(pc: Pinecone, tmp_path: Path) -> None:
    index = sparse_index(pc, "imp-sparse")
    records = make_records(400, random.Random(2), dimension=None, sparse=True)
    write_file(tmp_path / "docs" / "part-0.parquet", records, dense=False, sparse=True)

    described = wait_for(index, index.start_import(uri=tmp_path.as_uri()).id)

    assert described.status == "Completed", described.error
    assert described.records_imported == 400
    assert_imported_exactly(index, "docs", records)


def test_hybrid_import_is_exact(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-hybrid", dimension=6, metric="dotproduct")
    records = make_records(700, random.Random(3), dimension=6, sparse=True)
    assert any("sparse_values" not in r for r in records) and any("sparse_values" in r for r in records)
    write_file(tmp_path / "__default__" / "a.parquet", records, sparse=True)

    described = wait_for(index, index.start_import(uri=str(tmp_path), error_mode="continue").id)

    assert described.status == "Completed", described.error
    assert_imported_exactly(index, "", records)


def test_import_into_an_existing_namespace_fails_and_writes_nothing(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-existing", dimension=8)
    index.upsert(vectors=[{"id": "old", "values": [1.0] * 8}], namespace="books")
    rng = random.Random(4)
    write_file(tmp_path / "books" / "p.parquet", make_records(10, rng))
    write_file(tmp_path / "films" / "p.parquet", make_records(10, rng))

    described = wait_for(index, index.start_import(uri=str(tmp_path), error_mode="continue").id)

    assert described.status == "Failed"
    assert "books" in (described.error or "") and "already exist" in (described.error or "")
    assert described.records_imported == 0
    stats = index.describe_index_stats()
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"books": 1}


def broken_tree(root: Path) -> tuple[list[dict[str, Any]], str]:
    """Good records in two files, one file with a row of the wrong dimension, one unreadable file."""
    rng = random.Random(5)
    good = make_records(60, rng)
    write_file(root / "ns" / "1-good.parquet", good[:30])
    bad_rows = make_records(5, rng, prefix="bad-")
    bad_rows[2]["values"] = [0.5] * 7
    write_file(root / "ns" / "2-bad-row.parquet", bad_rows)
    (root / "ns" / "3-not-parquet.parquet").write_bytes(b"this is not parquet")
    write_file(root / "ns" / "4-good.parquet", good[30:])
    kept = good + [r for i, r in enumerate(bad_rows) if i != 2]
    return kept, "bad-00002"


def test_abort_fails_on_the_first_bad_row_and_imports_nothing(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-abort", dimension=8)
    broken_tree(tmp_path)

    described = wait_for(index, index.start_import(uri=str(tmp_path), error_mode="abort").id)

    assert described.status == "Failed"
    assert "ns/2-bad-row.parquet row 2" in (described.error or "")
    assert described.records_imported == 0
    assert index.describe_index_stats().total_vector_count == 0


def test_abort_is_the_default_error_mode(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-default-mode", dimension=8)
    broken_tree(tmp_path)
    assert wait_for(index, index.start_import(uri=str(tmp_path)).id).status == "Failed"


def test_continue_skips_the_bad_row_and_file_and_imports_the_rest(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-continue", dimension=8)
    kept, bad_id = broken_tree(tmp_path)
    # A file with a column the layout does not allow is skipped as a whole.
    values = pa.array([[1.0] * 8], type=pa.list_(pa.float32()))
    pq.write_table(
        pa.table({"id": ["extra-1"], "values": values, "genre": ["x"]}), tmp_path / "ns" / "5.parquet"
    )

    described = wait_for(index, index.start_import(uri=str(tmp_path), error_mode="continue").id)

    assert described.status == "Completed", described.error
    assert described.records_imported == len(kept) == 64
    assert_imported_exactly(index, "ns", kept)
    assert bad_id not in fetch_all(index, "ns")


def test_cancel_stops_a_running_import(pc: Pinecone, server: ServerProcess, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-cancel", dimension=8)
    rng = random.Random(6)
    for i in range(40):
        write_file(tmp_path / "ns" / f"part-{i:02d}.parquet", make_records(5, rng, prefix=f"f{i}-"))
    httpx.put(f"{server.url}/_admin/faults", json={"background_batch_delay_ms": 100}).raise_for_status()

    import_id = index.start_import(uri=str(tmp_path)).id
    deadline = time.monotonic() + 10
    while (running := index.describe_import(id=import_id)).records_imported == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert running.status == "InProgress"
    assert 0 < running.percent_complete < 100
    index.cancel_import(id=import_id)

    cancelled = index.describe_import(id=import_id)
    assert cancelled.status == "Cancelled" and cancelled.finished_at is not None
    time.sleep(0.5)  # several batch delays: nothing more may arrive
    after = index.describe_import(id=import_id)
    assert after.status == "Cancelled" and after.records_imported == cancelled.records_imported
    count = index.describe_index_stats().total_vector_count
    assert count == cancelled.records_imported < 200
    index.cancel_import(id=import_id)  # cancelling a finished import changes nothing
    assert index.describe_import(id=import_id).status == "Cancelled"


def test_list_imports_paginates_in_start_order(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-list", dimension=8)
    other = dense_index(pc, "imp-list-other", dimension=8)
    rng = random.Random(7)
    ids = []
    for i in range(5):
        write_file(tmp_path / str(i) / f"ns{i}" / "p.parquet", make_records(3, rng, prefix=f"{i}-"))
        ids.append(index.start_import(uri=str(tmp_path / str(i))).id)
    for import_id in ids:
        wait_for(index, import_id)

    first = index.list_imports_paginated(limit=2)
    assert [m.id for m in first] == ids[:2]
    assert first.pagination is not None and first.pagination.next
    second = index.list_imports_paginated(limit=2, pagination_token=first.pagination.next)
    assert [m.id for m in second] == ids[2:4]
    assert second.pagination is not None
    third = index.list_imports_paginated(limit=2, pagination_token=second.pagination.next)
    assert [m.id for m in third] == ids[4:] and third.pagination is None
    everything = list(index.list_imports(limit=2))
    assert [m.id for m in everything] == ids
    assert {m.status for m in everything} == {"Completed"}
    assert list(other.list_imports()) == []
    with pytest.raises(NotFoundError):
        other.describe_import(id=ids[0])


def test_unknown_imports_and_unreadable_sources(pc: Pinecone, tmp_path: Path) -> None:
    index = dense_index(pc, "imp-errors", dimension=8)
    with pytest.raises(NotFoundError):
        index.describe_import(id="999")
    with pytest.raises(NotFoundError):
        index.cancel_import(id="999")
    with pytest.raises(ApiError) as refused:
        index.start_import(uri="gs://bucket/dir")
    assert refused.value.status_code == 400

    missing = wait_for(index, index.start_import(uri=str(tmp_path / "missing")).id)
    assert missing.status == "Failed" and "not a directory" in (missing.error or "")
    (tmp_path / "empty").mkdir()
    empty = wait_for(index, index.start_import(uri=str(tmp_path / "empty")).id)
    assert empty.status == "Failed" and "no Parquet file" in (empty.error or "")


def test_imports_survive_a_restart(tmp_path: Path) -> None:
    write_file(tmp_path / "src" / "ns" / "p.parquet", make_records(20, random.Random(8)))
    with ServerProcess(tmp_path / "data") as server:
        pc = Pinecone(api_key="k", host=server.url)
        index = dense_index(pc, "imp-restart", dimension=8)
        import_id = index.start_import(uri=str(tmp_path / "src")).id
        before = wait_for(index, import_id)
    with ServerProcess(tmp_path / "data") as server:
        pc = Pinecone(api_key="k", host=server.url)
        index = pc.index(host=pc.describe_index("imp-restart").host)
        after = index.describe_import(id=import_id)
        assert after.to_dict() == before.to_dict()
        assert index.describe_index_stats().total_vector_count == 20
