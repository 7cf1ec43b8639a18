"""The file target's staging: exact file sizes, no duplicate IDs, the latest copy wins, crash recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.files import FileSource, FileTarget

SHAPE = StoreDescription("src", IndexShape("dense", "cosine", 4), {})


def _records(ids: range, version: float = 0.0) -> list[Record]:
    return [Record(f"id-{i:04d}", np.full(4, i + version, dtype=np.float32), metadata={"n": i}) for i in ids]


def _target(tmp_path: Path, file_format: str = "parquet") -> FileTarget:
    target = FileTarget(str(tmp_path / "out"), file_format, tmp_path / "staging.sqlite", rows_per_file=100)
    if not target.exists():
        target.create_like(SHAPE)
    return target


def _file_rows(tmp_path: Path) -> list[int]:
    return [pq.read_metadata(p).num_rows for p in sorted((tmp_path / "out" / "ns").glob("*.parquet"))]


def _everything(tmp_path: Path) -> dict[str, Record]:
    source = FileSource(str(tmp_path / "out"))
    found: dict[str, Record] = {}
    cursor = None
    while True:
        page = source.list_ids("ns", cursor=cursor, limit=37)
        for record in source.fetch("ns", page.ids):
            assert record.id not in found, f"{record.id} is in the export twice"
            found[record.id] = record
        cursor = page.cursor
        if cursor is None:
            return found


def test_files_hold_exactly_rows_per_file_whatever_the_batch_size(tmp_path: Path) -> None:
    target = _target(tmp_path)
    for start in range(0, 350, 70):
        target.write("ns", _records(range(start, start + 70)))
    assert _file_rows(tmp_path) == [100, 100, 100]  # the 4th file waits for more (or for finish)
    target.finish()
    assert _file_rows(tmp_path) == [100, 100, 100, 50]
    assert sorted(_everything(tmp_path)) == [f"id-{i:04d}" for i in range(350)]


def test_resent_records_are_written_once_and_a_changed_one_replaces_its_older_copy(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.write("ns", _records(range(0, 150)))
    target.write("ns", _records(range(0, 50)))  # sent again, unchanged (a resumed page)
    target.write("ns", _records(range(7, 8), version=0.5))  # changed at the source meanwhile
    target.finish()
    found = _everything(tmp_path)
    assert sorted(found) == [f"id-{i:04d}" for i in range(150)]
    assert found["id-0007"].values is not None and found["id-0007"].values[0] == np.float32(7.5)
    assert sum(_file_rows(tmp_path)) == 150


@pytest.mark.parametrize("published", [True, False])
def test_a_run_killed_between_upload_and_commit_recovers(tmp_path: Path, published: bool) -> None:
    target = _target(tmp_path)
    target.write("ns", _records(range(0, 60)))
    claim = target.staging.claim("ns", 100)  # as if the process died right after claiming ...
    assert claim is not None
    if published:  # ... or after the upload, before the commit
        plan = target.staging.plan("ns", claim.name)
        target._write_file("ns", claim.name, target.staging.planned_rows(claim, plan), claim.sparse)
    target.close()
    resumed = _target(tmp_path)
    resumed.write("ns", _records(range(60, 120)))
    resumed.finish()
    assert sorted(_everything(tmp_path)) == [f"id-{i:04d}" for i in range(120)]
    assert sum(_file_rows(tmp_path)) == 120


def test_a_failed_upload_keeps_the_newest_copy_of_each_id(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.write("ns", _records(range(0, 60)))
    target.staging.stage("ns", _records(range(0, 60), version=0.25))  # newer copies, staged after ...
    target.staging.stage("ns", _records(range(0, 60), version=0.5))  # ... and newer still
    claim = target.staging.claim("ns", 100)  # 60 + the first 40 of the second batch (split)
    assert claim is not None and claim.rows == 100
    target.staging.release("ns", claim.name)  # as when the upload failed
    target.finish()
    found = _everything(tmp_path)
    assert sorted(found) == [f"id-{i:04d}" for i in range(60)]
    assert all(r.values is not None and r.values[0] == np.float32(int(i[3:]) + 0.5) for i, r in found.items())
