"""`validate`: Parquet trees in Pinecone's bulk-import layout pass; each documented rule, broken by a fixture,
is reported with its rule, file and row."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pinecone_migrator.stores.files.parquet_layout import SPARSE_TYPE, bulk_import_schema
from pinecone_migrator.stores.files.validation import validate_tree

from ..objectstores import ObjectStore

DIMENSION = 4


def rows(count: int, start: int = 0, prefix: str = "r") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{start + i:04d}",
            "values": [0.5 * i, 1.0, -2.0, 3.25],
            "metadata": None
            if i % 3 == 0
            else orjson.dumps({"i": i, "tag": "x", "tags": ["a"], "ok": True}).decode(),
        }
        for i in range(count)
    ]


def write(path: Path, records: list[dict[str, Any]], schema: pa.Schema | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = schema or bulk_import_schema(dense=True, sparse=False)
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def good_tree(root: Path) -> Path:
    write(root / "__default__" / "0.parquet", rows(30))
    write(root / "__default__" / "1.parquet", rows(20, start=30))
    write(root / "tenant-a" / "0.parquet", rows(25, prefix="a"))
    (root / "manifest.json").write_text("{}")  # not Parquet: not read by an import
    return root


def test_a_tree_in_the_layout_is_valid(tmp_path: Path) -> None:
    result = validate_tree(good_tree(tmp_path))
    assert result.valid, result.problems
    assert result.namespaces == {"__default__": 50, "tenant-a": 25} and result.files == 3
    assert result.dimension == DIMENSION


def test_hybrid_and_sparse_trees_are_valid(tmp_path: Path) -> None:
    hybrid = [
        {
            **row,
            "sparse_values": None if n % 2 else {"indices": [1, 7, 4_000_000_000], "values": [0.1, 0.2, 0.3]},
        }
        for n, row in enumerate(rows(10))
    ]
    write(tmp_path / "h" / "ns" / "0.parquet", hybrid, bulk_import_schema(dense=True, sparse=True))
    assert validate_tree(tmp_path / "h").valid
    sparse = [
        {"id": f"s{n}", "sparse_values": {"indices": [n, n + 5], "values": [1.0, 2.0]}} for n in range(10)
    ]
    write(tmp_path / "s" / "ns" / "0.parquet", sparse, bulk_import_schema(dense=False, sparse=True))
    result = validate_tree(tmp_path / "s")
    assert result.valid and result.dimension is None


def float64_values(root: Path) -> tuple[str, str, int | None]:
    schema = pa.schema([("id", pa.string()), ("values", pa.list_(pa.float64())), ("metadata", pa.string())])
    write(root / "ns" / "0.parquet", rows(3), schema)
    return "values-type", "ns/0.parquet", None


def extra_column(root: Path) -> tuple[str, str, int | None]:
    schema = bulk_import_schema(dense=True, sparse=False).append(pa.field("text", pa.string()))
    write(root / "ns" / "0.parquet", [{**r, "text": "t"} for r in rows(3)], schema)
    return "extra-column", "ns/0.parquet", None


def missing_id_column(root: Path) -> tuple[str, str, int | None]:
    schema = pa.schema([("values", pa.list_(pa.float32())), ("metadata", pa.string())])
    write(root / "ns" / "0.parquet", [{k: v for k, v in r.items() if k != "id"} for r in rows(3)], schema)
    return "missing-column", "ns/0.parquet", None


def empty_id(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[2]["id"] = ""
    write(root / "ns" / "0.parquet", records)
    return "id", "ns/0.parquet", 2


def long_id(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[1]["id"] = "x" * 513
    write(root / "ns" / "0.parquet", records)
    return "id", "ns/0.parquet", 1


def bad_metadata_json(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[1]["metadata"] = '{"a": 1'
    write(root / "ns" / "0.parquet", records)
    return "metadata", "ns/0.parquet", 1


def nested_metadata(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[2]["metadata"] = '{"a": {"b": 1}}'
    write(root / "ns" / "0.parquet", records)
    return "metadata", "ns/0.parquet", 2


def list_of_numbers_in_metadata(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[1]["metadata"] = '{"a": [1, 2]}'
    write(root / "ns" / "0.parquet", records)
    return "metadata", "ns/0.parquet", 1


def metadata_over_40_kb(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[1]["metadata"] = orjson.dumps({"text": "x" * 41_000}).decode()
    write(root / "ns" / "0.parquet", records)
    return "metadata", "ns/0.parquet", 1


def file_outside_a_namespace_folder(root: Path) -> tuple[str, str, int | None]:
    write(root / "ns" / "0.parquet", rows(3))
    write(root / "loose.parquet", rows(3))
    return "layout", "loose.parquet", None


def dimension_differs(root: Path) -> tuple[str, str, int | None]:
    write(root / "ns" / "0.parquet", rows(3))
    records = rows(3, start=3)
    records[1]["values"] = [1.0, 2.0, 3.0]
    write(root / "ns" / "1.parquet", records)
    return "dimension", "ns/1.parquet", 1


def nan_value(root: Path) -> tuple[str, str, int | None]:
    records = rows(3)
    records[2]["values"] = [1.0, float("nan"), 0.0, 0.0]
    write(root / "ns" / "0.parquet", records)
    return "values", "ns/0.parquet", 2


def unsorted_sparse_indices(root: Path) -> tuple[str, str, int | None]:
    records = [{**r, "sparse_values": {"indices": [1, 2], "values": [0.1, 0.2]}} for r in rows(3)]
    records[1]["sparse_values"] = {"indices": [5, 2], "values": [0.1, 0.2]}
    write(root / "ns" / "0.parquet", records, bulk_import_schema(dense=True, sparse=True))
    return "sparse-values", "ns/0.parquet", 1


def signed_sparse_indices(root: Path) -> tuple[str, str, int | None]:
    wrong = pa.struct([("indices", pa.list_(pa.int64())), ("values", pa.list_(pa.float32()))])
    assert not wrong.equals(SPARSE_TYPE)
    schema = pa.schema([("id", pa.string()), ("values", pa.list_(pa.float32())), ("sparse_values", wrong)])
    records = [
        {"id": r["id"], "values": r["values"], "sparse_values": {"indices": [1], "values": [1.0]}}
        for r in rows(3)
    ]
    write(root / "ns" / "0.parquet", records, schema)
    return "sparse-values-type", "ns/0.parquet", None


def duplicate_id_across_files(root: Path) -> tuple[str, str, int | None]:
    write(root / "ns" / "0.parquet", rows(5))
    write(root / "ns" / "1.parquet", rows(3, start=3))  # r0003, r0004 again
    return "duplicate-id", "ns/1.parquet", 0


def non_ascii_namespace(root: Path) -> tuple[str, str, int | None]:
    write(root / "espaço" / "0.parquet", rows(3))
    return "namespace-name", "espaço", None


BROKEN: dict[str, Callable[[Path], tuple[str, str, int | None]]] = {
    f.__name__: f
    for f in (
        float64_values,
        extra_column,
        missing_id_column,
        empty_id,
        long_id,
        bad_metadata_json,
        nested_metadata,
        list_of_numbers_in_metadata,
        metadata_over_40_kb,
        file_outside_a_namespace_folder,
        dimension_differs,
        nan_value,
        unsorted_sparse_indices,
        signed_sparse_indices,
        duplicate_id_across_files,
        non_ascii_namespace,
    )
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_each_broken_rule_is_reported_with_file_and_row(tmp_path: Path, broken: str) -> None:
    rule, file, row = BROKEN[broken](tmp_path)
    result = validate_tree(tmp_path)
    assert not result.valid
    assert (rule, file, row) in {(p.rule, p.file, p.row) for p in result.problems}, result.problems
    assert set(result.counts) == {rule}, result.counts  # nothing else is blamed


def test_the_dimension_of_the_target_is_checked(tmp_path: Path) -> None:
    good_tree(tmp_path)
    result = validate_tree(tmp_path, dimension=8)
    assert result.counts == {"dimension": 75}


def test_the_command_lists_problems_and_exits_5(tmp_path: Path) -> None:
    good_tree(tmp_path / "good")
    ok = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "validate", str(tmp_path / "good")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "75 records in 2 namespace(s), dimension 4: valid" in ok.stdout
    nested_metadata(tmp_path / "bad")
    report = tmp_path / "report.json"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinecone_migrator",
            "validate",
            str(tmp_path / "bad"),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 5, bad.stdout + bad.stderr
    assert "ns/0.parquet row 2: [metadata] metadata 'a': dict values are not allowed" in bad.stdout
    assert orjson.loads(report.read_bytes())["problem_counts"] == {"metadata": 1}
    missing = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "validate", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert (
        missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )


def test_a_tree_in_object_storage_is_validated(tmp_path: Path, s3_store: ObjectStore) -> None:
    good_tree(tmp_path / "good")
    write(tmp_path / "good" / "tenant-a" / "1.parquet", rows(2, prefix="a"))  # a0000, a0001 again
    filesystem = s3_store.filesystem()
    for path in sorted((tmp_path / "good").rglob("*.parquet")):
        filesystem.put_file(str(path), s3_store.path(path.relative_to(tmp_path / "good").as_posix()))
    result = validate_tree(s3_store.uri)
    assert result.files == 4 and result.records == 77
    assert [(p.rule, p.file, p.row) for p in result.problems] == [
        ("duplicate-id", "tenant-a/1.parquet", 0),
        ("duplicate-id", "tenant-a/1.parquet", 1),
    ]


def test_a_namespace_escaped_in_the_manifest_cannot_be_bulk_imported(tmp_path: Path) -> None:
    from pinecone_migrator.records import SetDigest
    from pinecone_migrator.stores.base import IndexShape, StoreDescription
    from pinecone_migrator.stores.files.layout import Manifest, NamespaceEntry, folder_of, write_manifest
    from pinecone_migrator.stores.files.location import Location

    folder = folder_of("team/a")
    write(tmp_path / folder / "0.parquet", rows(3))
    description = StoreDescription("src", IndexShape("dense", "cosine", 4), {"team/a": 3})
    entry = NamespaceEntry(folder, ["0.parquet"], 3, SetDigest())
    write_manifest(
        Location(str(tmp_path)), Manifest("parquet", description, {"team/a": entry}, complete=True)
    )
    result = validate_tree(tmp_path)
    assert [p.rule for p in result.problems] == ["namespace-name"]
    assert "'team/a'" in result.problems[0].message and "bulk import" in result.problems[0].message
