"""The workflows through the library, no CLI and no server: in-memory indexes and local files, proven record
by record (equality and digests)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions
from pinecone_migrator.engine.verify.run import VerifyOptions
from pinecone_migrator.engine.workflows import (
    Declined,
    SyncSettings,
    VerifySettings,
    export,
    import_files,
    migrate,
    restore,
    sync,
    verify_index,
    verify_search,
)
from pinecone_migrator.errors import ExitCode, UserError
from pinecone_migrator.records import Record, SparseValues, digest_of, record_digest
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape
from pinecone_migrator.stores.memory import MemoryStore
from pinecone_migrator.stores.registry import export_folder

SHAPE = IndexShape(vector_type="dense", metric="dotproduct", dimension=6)
SIZES = {"tenant-a": 260, "tenant-b": 75, DEFAULT_NAMESPACE: 12}


def _records(namespace: str, count: int) -> list[Record]:
    rng = np.random.default_rng(len(namespace))
    return [
        Record(
            id=f"{namespace}-{n:04d}",
            values=rng.standard_normal(6).astype(np.float32),
            sparse=SparseValues(np.array([n, n + 3], np.uint32), np.array([0.25, 2.5], np.float32))
            if n % 5 == 0
            else None,
            metadata={"n": n, "even": n % 2 == 0, "tags": [namespace, str(n % 4)], "score": n / 7},
        )
        for n in range(count)
    ]


def _source() -> tuple[MemoryStore, dict[str, list[Record]]]:
    source = MemoryStore("source", SHAPE)
    written = {namespace: _records(namespace, count) for namespace, count in SIZES.items()}
    for namespace, records in written.items():
        source.write(namespace, records)
    return source, written


def _request(
    tmp_path: Path, source: str = "source", target: str = "target", **fields: object
) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint(source, None),
        target=Endpoint(target, None),
        state_path=tmp_path / f"{Path(target).name}.ledger.sqlite",
        options=CopyOptions(concurrency=3, page_size=40),
        **fields,  # type: ignore[arg-type]
    )


def _assert_holds(store: MemoryStore, written: dict[str, list[Record]]) -> None:
    for namespace, records in written.items():
        held = store.records(namespace)
        assert held == {r.id: r for r in records}, namespace
        assert {i: record_digest(r) for i, r in held.items()} == {r.id: record_digest(r) for r in records}
        assert digest_of(held.values()) == digest_of(records)


def test_migrate_then_verify_copies_every_record_and_proves_it(tmp_path: Path) -> None:
    source, written = _source()
    target = MemoryStore("target")
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return True

    outcome = migrate(_request(tmp_path), source, target, verify="full", confirm=confirm)

    assert outcome.exit_code == ExitCode.OK and not outcome.problems
    assert outcome.summary.complete and outcome.summary.copied == sum(SIZES.values())
    assert outcome.verification is not None and outcome.verification.equal
    assert outcome.verification.level == "full"
    assert len(questions) == 1
    assert questions[0].startswith(
        "Copy 347 records in 3 namespace(s) from pinecone/source to pinecone/target"
    )
    assert outcome.to_json()["verify"]["equal"] is True
    _assert_holds(target, written)


def test_a_declined_migration_writes_nothing(tmp_path: Path) -> None:
    source, _ = _source()
    target = MemoryStore("target")
    with pytest.raises(Declined):
        migrate(_request(tmp_path), source, target, confirm=lambda question: False)
    assert not target.exists()


def test_verify_finds_a_changed_record_and_repair_puts_it_back(tmp_path: Path) -> None:
    source, written = _source()
    target = MemoryStore("target")
    request = _request(tmp_path)
    assert migrate(request, source, target).exit_code == ExitCode.OK
    changed = written["tenant-b"][7]
    target.write("tenant-b", [Record(changed.id, changed.values, changed.sparse, {"n": -1})])
    target.delete("tenant-a", [written["tenant-a"][3].id])

    found = verify_index(request, source, target, VerifySettings(VerifyOptions(level="full")))
    assert found.exit_code == ExitCode.DIFFERENT and found.repair is None
    kinds = {(d.kind, d.id) for ns in found.verification.namespaces for d in ns.differences()}
    assert kinds == {("different", changed.id), ("missing", written["tenant-a"][3].id)}

    repaired = verify_index(request, source, target, VerifySettings(repair=True))
    assert repaired.repair is not None and repaired.repair.rewritten == 2
    assert repaired.after_repair is not None and repaired.after_repair.equal
    assert repaired.exit_code == ExitCode.OK
    _assert_holds(target, written)


def test_the_search_level_cannot_judge_a_filtered_migration(tmp_path: Path) -> None:
    source, _ = _source()
    target = MemoryStore("target")
    request = _request(tmp_path, filter={"even": {"$eq": True}})
    assert migrate(request, source, target).exit_code == ExitCode.OK
    outcome = verify_search(request, source, target, sample_size=5, stop=threading.Event())
    assert outcome.unjudged is not None and "a filter selects the records" in outcome.unjudged
    assert outcome.exit_code == ExitCode.UNJUDGED and outcome.comparisons == ()


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_export_then_import_and_restore_round_trip_record_by_record(tmp_path: Path, file_format: str) -> None:
    source, written = _source()
    out = tmp_path / "export"
    folder = export_folder(str(out), file_format, rows_per_file=50)
    exported = export(_request(tmp_path, target=str(out)), source, folder, verify="digest")
    assert exported.exit_code == ExitCode.OK
    assert exported.verification is not None and exported.verification.equal
    assert (out / "manifest.json").exists()

    imported_into = MemoryStore("imported")
    imported = import_files(
        _request(tmp_path, source=str(out), target="imported"), imported_into, verify="full"
    )
    assert imported.exit_code == ExitCode.OK
    assert imported.verification is not None and imported.verification.equal
    assert imported_into.describe().shape == SHAPE
    _assert_holds(imported_into, written)

    restored_into = MemoryStore("restored")
    restored = restore(_request(tmp_path, source=str(out), target="restored"), restored_into)
    assert restored.exit_code == ExitCode.OK and not restored.problems
    assert restored.verification is not None and restored.verification.level == "digest"
    _assert_holds(restored_into, written)

    with pytest.raises(UserError, match="already holds"):
        restore(_request(tmp_path, source=str(out), target="again", restart=True), imported_into)


def test_an_export_refuses_a_folder_holding_files_it_did_not_write(tmp_path: Path) -> None:
    source, _ = _source()
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="is not empty"):
        export(_request(tmp_path, target=str(out)), source, export_folder(str(out), "jsonl"))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_restore_refuses_files_without_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "loose" / "ns").mkdir(parents=True)
    with pytest.raises(UserError, match=r"no manifest\.json"):
        restore(_request(tmp_path, source=str(tmp_path / "loose")), MemoryStore("target"))


def test_sync_once_brings_new_changed_and_deleted_records_over(tmp_path: Path) -> None:
    source, written = _source()
    target = MemoryStore("target")
    request = _request(tmp_path)
    settings = SyncSettings(SyncOptions(detect_updates=True, propagate_deletes=True), once=True)
    first = sync(request, source, target, settings)
    assert first.exit_code == ExitCode.OK and first.last is not None and first.last.new == sum(SIZES.values())
    _assert_holds(target, written)

    changed = written["tenant-a"][10]
    written["tenant-a"][10] = Record(changed.id, changed.values, changed.sparse, {"n": 1000})
    source.write("tenant-a", [written["tenant-a"][10]])
    source.delete("tenant-b", [written["tenant-b"].pop(0).id])
    asked: list[tuple[int, int]] = []

    def confirm_deletes(gone: int, known: int) -> bool:
        asked.append((gone, known))
        return True

    second = sync(request, source, target, settings, confirm_deletes=confirm_deletes)
    assert second.last is not None and (second.last.new, second.last.updated, second.last.deleted) == (
        0,
        1,
        1,
    )
    assert second.exit_code == ExitCode.OK and asked == []  # one delete is within max_delete_fraction
    _assert_holds(target, written)
