"""`backup` and `restore`: every namespace out to a folder and back into a new index, proven equal."""

from __future__ import annotations

from pathlib import Path

import orjson
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source
from ..helpers import dense_index
from ..serverproc import ServerProcess
from .clirun import export_command, import_command, run


def _backup(source: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    argv, env = export_command(source, tmp_path, *args)
    return [*argv[:3], "backup", *argv[4:]], env


def _restore(target: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    argv, env = import_command(target, tmp_path, *args)
    return [*argv[:3], "restore", *argv[4:]], env


def test_backup_then_restore_into_a_new_index_is_verified_equal(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=80)
    folder = tmp_path / "backup"
    made = run(_backup(source, tmp_path, "--source-index", "src", "--to", str(folder)))
    assert made.returncode == 0, made.stderr
    assert sorted(p.suffixes[-2:] for p in folder.rglob("part-*")) == [[".jsonl", ".gz"]] * 3
    restored = run(_restore(target, tmp_path, "--from", str(folder), "--target-index", "back"))
    assert restored.returncode == 0, restored.stderr
    assert "EQUAL" in restored.stdout + restored.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "back") == written


def test_restore_refuses_an_index_that_holds_records(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    folder = tmp_path / "backup"
    assert run(_backup(source, tmp_path, "--source-index", "src", "--to", str(folder))).returncode == 0
    busy = dense_index(
        Pinecone(api_key=TARGET_KEY, host=target.url), "busy", dimension=8, metric="dotproduct"
    )
    busy.upsert(vectors=[{"id": "keep-me", "values": [0.5] * 8}])
    refused = run(_restore(target, tmp_path, "--from", str(folder), "--target-index", "busy"))
    assert refused.returncode == 2, refused.stderr
    assert "already holds 1 records" in refused.stderr and "Traceback" not in refused.stderr
    assert busy.describe_index_stats().total_vector_count == 1


def test_restore_of_a_damaged_backup_says_so(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    folder = tmp_path / "backup"
    assert run(_backup(source, tmp_path, "--source-index", "src", "--to", str(folder))).returncode == 0
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    entry = manifest["namespaces"]["tenant-a"]
    entry["digest"]["total"] = f"{(int(entry['digest']['total'], 16) + 1) % 2**128:032x}"
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    restored = run(_restore(target, tmp_path, "--from", str(folder), "--target-index", "back"))
    # Found before the target is created: a refusal, with nothing written.
    assert restored.returncode == 2, restored.stderr
    assert "namespace 'tenant-a' do not hold what the manifest recorded" in restored.stderr
    assert "back" not in [i.name for i in Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes()]


def test_native_backup_and_restore_on_the_local_server(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, _ = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    written = load_source(source_pc, count=50)
    report = tmp_path / "backup.json"
    made = run(_backup(source, tmp_path, "--source-index", "src", "--native", "--backup-name", "nightly",
                       "--report", str(report)))  # fmt: skip
    assert made.returncode == 0, made.stderr
    backup = orjson.loads(report.read_bytes())["backup"]
    assert backup["status"] == "Ready" and backup["records"] == 150
    restore = [
        *_backup(source, tmp_path)[0][:3], "restore", "--native", "--from", backup["id"],
        "--target-index", "from-backup", "--target-host", source.url, "--target-api-key-env", "SRC_KEY",
    ]  # fmt: skip
    restored = run((restore, _backup(source, tmp_path)[1]))
    assert restored.returncode == 0, restored.stderr
    assert "counts agree: 150 records" in restored.stdout
    assert contents(source_pc, "from-backup") == written
    again = run((restore, _backup(source, tmp_path)[1]))
    assert again.returncode == 2 and "creates a new index" in again.stderr
