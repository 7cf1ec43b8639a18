"""`export` and `import` end to end: a local server, the CLI as a child process, files on disk."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source
from ..serverproc import ServerProcess
from .clirun import export_command, import_command, run


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_export_then_import_gives_an_equal_index(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, file_format: str
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=120)
    out = tmp_path / "out"
    exported = run(export_command(
        source, tmp_path, "--source-index", "src", "--to", str(out), "--format", file_format,
        "--rows-per-file", "50", "--verify", "full",
    ))  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "equal" in exported.stdout.lower() or "equal" in exported.stderr.lower()
    if file_format == "parquet":
        checked = run(
            (
                [*export_command(source, tmp_path)[0][:3], "validate", str(out)],
                export_command(source, tmp_path)[1],
            )
        )
        # valid, except that Pinecone's bulk import could not recreate the namespace named with a '/'
        assert checked.returncode == 5, checked.stdout + checked.stderr
        assert "1 problem(s) — namespace-name 1" in checked.stdout and "'tenant b/2'" in checked.stdout
    imported = run(import_command(
        target, tmp_path, "--from", str(out), "--target-index", "restored", "--verify", "digest",
    ))  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    assert contents(target_pc, "restored") == written
    description = target_pc.describe_index("restored")
    assert (description.dimension, description.metric) == (8, "dotproduct")


def test_export_refuses_to_mix_with_other_files(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, _ = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run(export_command(source, tmp_path, "--source-index", "src", "--to", str(foreign)))
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and "Traceback" not in refused.stderr
    out = tmp_path / "out"
    assert run(export_command(source, tmp_path, "--source-index", "src", "--to", str(out))).returncode == 0
    other_state = ("--state", str(tmp_path / "other.sqlite"))
    again = run(export_command(source, tmp_path, "--source-index", "src", "--to", str(out), *other_state))
    assert again.returncode == 2 and "already holds an export" in again.stderr
    replaced = run(
        export_command(source, tmp_path, "--source-index", "src", "--to", str(out), *other_state, "--restart")
    )
    assert replaced.returncode == 0, replaced.stderr
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.parquet")}
    listed = {f"{e['folder']}/{name}" for e in manifest["namespaces"].values() for name in e["files"]}
    assert files == listed  # the replaced export's files are gone, none doubled


def test_import_refuses_an_unfinished_export(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    out = tmp_path / "out"
    assert run(export_command(source, tmp_path, "--source-index", "src", "--to", str(out))).returncode == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    (out / "manifest.json").write_bytes(orjson.dumps({**manifest, "complete": False}))
    refused = run(import_command(target, tmp_path, "--from", str(out), "--target-index", "restored"))
    assert refused.returncode == 2 and "not finished" in refused.stderr, refused.stderr
    assert "restored" not in [i.name for i in Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes()]


def _ids_in_files(out: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted(out.rglob("*.parquet")):
        ids += [f"{path.parent.name}/{i}" for i in pq.read_table(path).column("id").to_pylist()]
    return ids


def test_export_killed_and_resumed_writes_every_record_once(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, _ = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=400)
    httpx.put(f"{source.url}/_admin/faults", json={"latency_ms": 40}, headers={"Api-Key": SOURCE_KEY})
    out = tmp_path / "out"
    args = ("--source-index", "src", "--to", str(out), "--rows-per-file", "60", "--concurrency", "2")
    argv, env = export_command(source, tmp_path, *args)
    running = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.parquet"))) < 3 and time.monotonic() < deadline and running.poll() is None:
        time.sleep(0.05)
    assert running.poll() is None, "the export ended before it could be killed"
    running.send_signal(signal.SIGKILL)
    running.wait()
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["complete"] is False  # an import would refuse this half-written export
    httpx.put(f"{source.url}/_admin/faults", json={"latency_ms": 0}, headers={"Api-Key": SOURCE_KEY})
    resumed = run((argv, env))
    assert resumed.returncode == 0, resumed.stderr
    ids = _ids_in_files(out)
    assert len(ids) == len(set(ids)), "a record was written twice"
    folders = {
        e["folder"]: ns for ns, e in orjson.loads((out / "manifest.json").read_bytes())["namespaces"].items()
    }
    assert {f"{folders[i.split('/', 1)[0]]}/{i.split('/', 1)[1]}" for i in ids} == set(written)


def test_export_and_import_read_their_settings_from_a_config_file(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=30)
    out = tmp_path / "from-config"
    settings = tmp_path / "settings.json"
    settings.write_bytes(
        orjson.dumps({"source_index": "src", "to": str(out), "format": "jsonl", "rows_per_file": 7})
    )
    exported = run(export_command(source, tmp_path, "--config", str(settings)))
    assert exported.returncode == 0, exported.stderr
    assert len(list((out / "tenant-a").glob("part-*.jsonl.gz"))) == 5  # 30 records, 7 per file
    settings.write_bytes(orjson.dumps({"from": str(out), "target_index": "back"}))
    imported = run(import_command(target, tmp_path, "--config", str(settings)))
    assert imported.returncode == 0, imported.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "back") == written


def test_import_killed_and_resumed_ends_equal(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=300)
    out = tmp_path / "out"
    exported = run(
        export_command(source, tmp_path, "--source-index", "src", "--to", str(out), "--rows-per-file", "50")
    )
    assert exported.returncode == 0, exported.stderr
    httpx.put(f"{target.url}/_admin/faults", json={"latency_ms": 40}, headers={"Api-Key": TARGET_KEY})
    argv, env = import_command(
        target, tmp_path, "--from", str(out), "--target-index", "back", "--concurrency", "1"
    )
    running = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and running.poll() is None:
        try:
            stats = target_pc.index(host=target_pc.describe_index("back").host).describe_index_stats()
            if stats.total_vector_count >= 200:
                break
        except Exception:  # the index is being created
            pass
        time.sleep(0.05)
    assert running.poll() is None, "the import ended before it could be killed"
    running.send_signal(signal.SIGKILL)
    running.wait()
    httpx.put(f"{target.url}/_admin/faults", json={"latency_ms": 0}, headers={"Api-Key": TARGET_KEY})
    resumed = run((argv, env))
    assert resumed.returncode == 0, resumed.stderr
    assert contents(target_pc, "back") == written
