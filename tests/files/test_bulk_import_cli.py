"""`import --bulk` and `imports list|describe|cancel` against the local server's bulk import."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pinecone import Pinecone

from pinecone_migrator.stores.files.parquet_layout import bulk_import_schema

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source
from ..helpers import dense_index
from ..objectstores import ObjectStore
from ..serverproc import ServerProcess
from .clirun import export_command, import_command, run


def _imports(target: ServerProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv, env = import_command(target, tmp_path)
    head = [argv[0], "-m", "pinecone_migrator", "imports"]
    return run(([*head, *args, "--target-host", target.url, "--target-api-key-env", "DST_KEY"], env))


def _exported(source: ServerProcess, tmp_path: Path) -> tuple[Path, dict[str, dict[str, object]]]:
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=60)
    out = tmp_path / "out"
    namespaces = ("--namespace", "__default__", "--namespace", "tenant-a")  # bulk-importable names
    exported = run(export_command(source, tmp_path, "--source-index", "src", "--to", str(out), *namespaces))
    assert exported.returncode == 0, exported.stderr
    return out, {k: v for k, v in written.items() if not k.startswith("tenant b/2/")}


def test_bulk_import_of_an_export_is_equal(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    out, written = _exported(source, tmp_path)
    imported = run(import_command(
        target, tmp_path, "--from", str(out), "--target-index", "bulk", "--bulk", "--verify", "digest",
    ))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "Completed, 120 records imported" in imported.stdout and "EQUAL" in imported.stdout
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    assert contents(target_pc, "bulk") == written
    listed = _imports(target, tmp_path, "list", "--target-index", "bulk")
    assert listed.returncode == 0 and "Completed" in listed.stdout and str(out) in listed.stdout


def test_bulk_import_refuses_an_existing_namespace_up_front(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    out, _ = _exported(source, tmp_path)
    busy = dense_index(
        Pinecone(api_key=TARGET_KEY, host=target.url), "busy", dimension=8, metric="dotproduct"
    )
    busy.upsert(vectors=[{"id": "keep", "values": [0.25] * 8}], namespace="tenant-a")
    refused = run(import_command(target, tmp_path, "--from", str(out), "--target-index", "busy", "--bulk"))
    assert refused.returncode == 2, refused.stderr
    assert "already has the namespace(s) ['tenant-a']" in refused.stderr
    assert _imports(target, tmp_path, "list", "--target-index", "busy").stdout == ""  # nothing was started


def test_bulk_import_of_a_local_folder_into_pinecone_cloud_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pinecone_migrator", "import", "--from", str(tmp_path), "--target-index",
               "x", "--bulk"]  # fmt: skip
    result = run((command, {**os.environ, "PINECONE_API_KEY": "not-used"}))
    assert result.returncode == 2 and "reads object storage" in result.stderr, result.stderr


def _tree_with_a_bad_row(root: Path) -> None:
    schema = bulk_import_schema(dense=True, sparse=False)
    good = [{"id": f"g{i}", "values": [1.0, 2.0], "metadata": None} for i in range(5)]
    bad = [{"id": "b0", "values": [1.0, 2.0], "metadata": '{"nested": {"no": 1}}'}]
    (root / "ns").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(good, schema=schema), root / "ns" / "0.parquet")
    pq.write_table(pa.Table.from_pylist(bad + good[:0], schema=schema), root / "ns" / "1.parquet")


@pytest.mark.parametrize(("mode", "code", "records"), [("abort", 3, None), ("continue", 0, 5)])
def test_abort_and_continue_on_a_bad_row(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, mode: str, code: int, records: int | None
) -> None:
    _, target = servers
    _tree_with_a_bad_row(tmp_path / "tree")
    args = ("--from", str(tmp_path / "tree"), "--target-index", "t", "--bulk", "--metric", "cosine")
    checked = run(import_command(target, tmp_path, *args))
    assert checked.returncode == 2 and "[metadata]" in checked.stderr  # our check stops it before Pinecone
    result = run(import_command(target, tmp_path, *args, "--no-validate", "--error-mode", mode))
    assert result.returncode == code, result.stdout + result.stderr
    stats = Pinecone(api_key=TARGET_KEY, host=target.url)
    count = stats.index(host=stats.describe_index("t").host).describe_index_stats().total_vector_count
    if records is not None:
        assert count == records
    else:
        assert "Failed" in result.stdout and "error:" in result.stdout


def test_a_running_import_can_be_cancelled(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    out, _ = _exported(source, tmp_path)
    slow = {"background_batch_delay_ms": 3000}
    httpx.put(f"{target.url}/_admin/faults", json=slow, headers={"Api-Key": TARGET_KEY})
    argv, env = import_command(target, tmp_path, "--from", str(out), "--target-index", "slow", "--bulk")
    running = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    import_id = None
    while import_id is None and time.monotonic() < deadline:
        listed = _imports(target, tmp_path, "list", "--target-index", "slow", "--json")
        if listed.returncode == 0 and listed.stdout.strip():
            import_id = listed.stdout.split('"id":"', 1)[1].split('"', 1)[0]
        else:
            time.sleep(0.2)
    assert import_id is not None, "the import did not start"
    cancelled = _imports(target, tmp_path, "cancel", import_id, "--target-index", "slow")
    assert cancelled.returncode == 0 and "Cancelled" in cancelled.stdout, cancelled.stderr
    stdout, _ = running.communicate(timeout=60)
    assert running.returncode == 3 and "Cancelled" in stdout


def test_bulk_import_from_s3_into_the_local_server(s3_store: ObjectStore, tmp_path: Path) -> None:
    # The servers start after s3_store has pointed the environment at moto: the target reads the bucket.
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY) as target,
    ):
        written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=30)
        namespaces = ("--namespace", "__default__", "--namespace", "tenant-a")
        exported = run(
            export_command(source, tmp_path, "--source-index", "src", "--to", s3_store.uri, *namespaces)
        )
        assert exported.returncode == 0, exported.stderr
        imported = run(
            import_command(target, tmp_path, "--from", s3_store.uri, "--target-index", "from-s3", "--bulk")
        )
        assert imported.returncode == 0, imported.stdout + imported.stderr
        expected = {k: v for k, v in written.items() if not k.startswith("tenant b/2/")}
        assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "from-s3") == expected
