"""File stores at library level: index -> export (Parquet / JSONL) -> import -> an equal index."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.stores.files import FileSource, FileTarget
from pinecone_migrator.stores.files.validation import validate_tree
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source
from ..helpers import dense_index, random_records, sparse_index
from ..serverproc import ServerProcess


def _request(source: str, target: str, state: Path) -> MigrationRequest:
    return MigrationRequest(source=Endpoint(source, None), target=Endpoint(target, None), state_path=state)


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_round_trip_through_files_is_exact(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, file_format: str
) -> None:
    source_server, target_server = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source_server.url), count=250)
    export = tmp_path / "export"
    target = FileTarget(str(export), file_format, tmp_path / "staging.sqlite", rows_per_file=100)
    summary = run_migration(
        _request("src", str(export), tmp_path / "export.ledger"),
        PineconeStore("src", SOURCE_KEY, source_server.url),
        target,
    )
    target.close()
    assert summary.complete and summary.copied == 750
    manifest = orjson.loads((export / "manifest.json").read_bytes())
    assert manifest["complete"] is True
    assert manifest["source"]["metric"] == "dotproduct" and manifest["source"]["dimension"] == 8
    escaped = manifest["namespaces"]["tenant b/2"]["folder"]
    assert "/" not in escaped and (export / escaped).is_dir()
    assert {ns: e["records"] for ns, e in manifest["namespaces"].items()} == {
        "__default__": 250, "tenant-a": 250, "tenant b/2": 250
    }  # fmt: skip
    for entry in manifest["namespaces"].values():
        assert len(entry["files"]) == 3  # 100 + 100 + 50 rows
    if file_format == "parquet":
        problems = validate_tree(export).problems
        assert [(p.rule, p.file) for p in problems] == [("namespace-name", escaped)]  # only the '/' one
        schema = pq.read_schema(export / "tenant-a" / manifest["namespaces"]["tenant-a"]["files"][0])
        assert str(schema.field("values").type) == "list<element: float>"
        assert str(schema.field("sparse_values").type.field("indices").type) == "list<element: uint32>"

    importing = _request(str(export), "restored", tmp_path / "import.ledger")
    summary = run_migration(
        importing, FileSource(str(export)), PineconeStore("restored", TARGET_KEY, target_server.url)
    )
    assert summary.complete and summary.copied == 750
    assert contents(Pinecone(api_key=TARGET_KEY, host=target_server.url), "restored") == written


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_sparse_and_dense_index_round_trip(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, file_format: str, kind: str
) -> None:
    source_server, target_server = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source_server.url)
    if kind == "sparse":
        index = sparse_index(source_pc, "sparse-src")
        records = random_records(150, 1, random.Random(7), sparse=True)
        for record in records:
            del record["values"]
    else:  # dense only, cosine: no sparse column in any file
        index = dense_index(source_pc, "sparse-src", dimension=16, metric="cosine")
        records = random_records(150, 16, random.Random(7))
    index.upsert(vectors=records[:100], namespace="a")
    index.upsert(vectors=records[100:], namespace="__default__")
    export = tmp_path / "export"
    target = FileTarget(str(export), file_format, tmp_path / "staging.sqlite", rows_per_file=40)
    run_migration(
        _request("sparse-src", str(export), tmp_path / "e.ledger"),
        PineconeStore("sparse-src", SOURCE_KEY, source_server.url),
        target,
    )
    target.close()
    if file_format == "parquet":
        assert validate_tree(export).valid
        first = sorted((export / "a").glob("*.parquet"))[0]
        columns = ["id", "sparse_values", "metadata"] if kind == "sparse" else ["id", "values", "metadata"]
        assert pq.read_schema(first).names == columns
    summary = run_migration(
        _request(str(export), "sparse-back", tmp_path / "i.ledger"),
        FileSource(str(export)),
        PineconeStore("sparse-back", TARGET_KEY, target_server.url),
    )
    assert summary.complete and summary.copied == 150
    target_pc = Pinecone(api_key=TARGET_KEY, host=target_server.url)
    assert target_pc.describe_index("sparse-back").vector_type == kind
    assert contents(target_pc, "sparse-back") == contents(source_pc, "sparse-src")
