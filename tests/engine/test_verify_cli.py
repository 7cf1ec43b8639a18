"""`pinecone-migrator verify` end to end: after a real migration, every level agrees; a corrupted target is
caught at each level that can see it, named ID by ID, and repaired."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source, migrate
from ..helpers import as_plain
from ..serverproc import ServerProcess

ROUTE = ("--source-index", "src", "--target-index", "dst")


def verify(
    source: ServerProcess, target: ServerProcess, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    result = migrate(source, target, tmp_path, *ROUTE, *args, verb="verify")
    assert isinstance(result, subprocess.CompletedProcess)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def migrated(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> tuple[ServerProcess, ServerProcess]:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=120)
    result = migrate(source, target, tmp_path, *ROUTE)
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    return servers


@pytest.mark.parametrize(
    ("level", "extra"),
    [("count", ()), ("digest", ()), ("full", ()), ("sample", ("--sample-size", "50")), ("search", ())],
)
def test_every_level_passes_after_a_migration(
    migrated: tuple[ServerProcess, ServerProcess], tmp_path: Path, level: str, extra: tuple[str, ...]
) -> None:
    report = tmp_path / "verify.json"
    result = verify(*migrated, tmp_path, "--level", level, *extra, "--report", str(report))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"verify ({level}): EQUAL" in result.stdout
    body = orjson.loads(report.read_bytes())["verify"]
    assert body["equal"] and body["level"] == level
    assert SOURCE_KEY not in result.stdout + result.stderr + report.read_text()


def corrupt(target: ServerProcess) -> None:
    """One record deleted, one float changed, one metadata value changed, one record added."""
    pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    index = pc.index(host=pc.describe_index("dst").host)
    index.delete(ids=["d1#chunk 00003"], namespace="tenant-a")
    changed = index.fetch(ids=["d1#chunk 00007"], namespace="tenant-a").vectors["d1#chunk 00007"]
    values = list(changed.values)
    values[0] += 0.5
    index.upsert(
        vectors=[
            {
                "id": changed.id,
                "values": values,
                "sparse_values": as_plain(changed)["sparse_values"],
                "metadata": changed.metadata,
            }
        ],
        namespace="tenant-a",
    )
    index.update(id="d0#chunk 00001", set_metadata={"year": 1234}, namespace="__default__")
    index.upsert(vectors=[{"id": "stray", "values": [0.1] * 8}], namespace="tenant-a")


def test_a_corrupted_target_is_caught_named_and_repaired(
    migrated: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = migrated
    expected_contents = contents(Pinecone(api_key=SOURCE_KEY, host=source.url), "src")
    corrupt(target)
    digest = verify(source, target, tmp_path, "--level", "digest")
    assert digest.returncode == 5, digest.stdout + digest.stderr
    assert "verify (digest): DIFFERENT" in digest.stdout
    assert "tenant-a: DIFFERENT" in digest.stdout and "__default__: DIFFERENT" in digest.stdout
    assert "tenant b/2: equal" in digest.stdout

    diff = tmp_path / "diff.jsonl"
    full = verify(source, target, tmp_path, "--level", "full", "--diff", str(diff))
    assert full.returncode == 5
    found = sorted(
        (d["namespace"], d["id"], d["kind"], tuple(d.get("parts", ())))
        for d in map(orjson.loads, diff.read_bytes().splitlines())
    )
    assert found == [
        ("__default__", "d0#chunk 00001", "different", ("metadata:year",)),
        ("tenant-a", "d1#chunk 00003", "missing", ()),
        ("tenant-a", "d1#chunk 00007", "different", ("values",)),
        ("tenant-a", "stray", "extra", ()),
    ]
    assert "missing: d1#chunk 00003" in full.stdout

    kept = verify(source, target, tmp_path, "--repair")
    assert kept.returncode == 5  # the extra record stays without --delete-extra
    assert "1 extra left" in kept.stdout and "verify after repair (full): DIFFERENT" in kept.stdout
    repaired = verify(source, target, tmp_path, "--repair", "--delete-extra")
    assert repaired.returncode == 0, repaired.stdout
    assert "verify after repair (full): EQUAL" in repaired.stdout
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == expected_contents


def test_ignored_metadata_keys_and_levels_that_cannot_judge(
    migrated: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = migrated
    pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    pc.index(host=pc.describe_index("dst").host).update(
        id="d0#chunk 00001", set_metadata={"year": 1234}, namespace="__default__"
    )
    assert verify(source, target, tmp_path).returncode == 5
    machine = verify(source, target, tmp_path, "--ignore-metadata-key", "year", "--log-format", "json")
    assert machine.returncode == 0, machine.stderr
    (summary,) = [orjson.loads(line) for line in machine.stdout.splitlines()]
    assert summary["verify"]["equal"] and summary["verify"]["level"] == "digest"
    assert all("message" in orjson.loads(line) for line in machine.stderr.splitlines() if line.strip())
    counted = verify(source, target, tmp_path, "--level", "count", "--filter", '{"year": {"$gte": 2000}}')
    assert counted.returncode == 6 and "cannot judge" in counted.stdout
    searched = verify(
        source, target, tmp_path, "--level", "search", "--target-namespace", "all", "--allow-merge"
    )
    assert searched.returncode == 6 and "cannot judge" in searched.stdout
    missing = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "nope", verb="verify"
    )
    assert isinstance(missing, subprocess.CompletedProcess) and missing.returncode == 2
    assert "The target index 'nope' does not exist" in missing.stderr and "Traceback" not in missing.stderr
    misuse = verify(source, target, tmp_path, "--delete-extra")
    assert misuse.returncode == 2 and "--delete-extra only applies with --repair" in misuse.stderr


def test_a_config_file_serves_migrate_and_verify(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=40)
    diff = tmp_path / "diff.jsonl"
    config = tmp_path / "settings.json"
    config.write_bytes(
        orjson.dumps(
            {
                "source_index": "src",
                "target_index": "dst",
                "verify": "full",
                "level": "full",
                "diff": str(diff),
            }
        )
    )
    report = tmp_path / "report.json"
    migrated = migrate(source, target, tmp_path, "--config", str(config), "--report", str(report))
    assert isinstance(migrated, subprocess.CompletedProcess) and migrated.returncode == 0, migrated.stderr
    assert orjson.loads(report.read_bytes())["verify"]["level"] == "full"
    checked = migrate(source, target, tmp_path, "--config", str(config), verb="verify")
    assert isinstance(checked, subprocess.CompletedProcess) and checked.returncode == 0, checked.stderr
    assert "verify (full): EQUAL" in checked.stdout and diff.exists() and diff.read_bytes() == b""


def interrupted_verify(source: ServerProcess, target: ServerProcess, tmp_path: Path) -> None:
    """Migrate 1,500 records, then stop a slow verify a few pages in (SIGINT)."""
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=500)
    done = migrate(source, target, tmp_path, *ROUTE)
    assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, done.stderr
    running = migrate(source, target, tmp_path, *ROUTE, "--concurrency", "1", wait=False, verb="verify")
    assert isinstance(running, subprocess.Popen)
    time.sleep(3.0)  # a few pages into the scans (each page is ~2 round trips of 60 ms)
    running.send_signal(signal.SIGINT)
    stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 130, stdout + stderr
    assert "verify (digest): INTERRUPTED" in stdout


def slow_servers(tmp_path: Path) -> tuple[ServerProcess, ServerProcess]:
    return (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY, "--latency-ms", "60"),
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY, "--latency-ms", "60"),
    )


def test_an_interrupted_verify_resumes_from_the_ledger(tmp_path: Path) -> None:
    first, second = slow_servers(tmp_path)
    with first as source, second as target:
        interrupted_verify(source, target, tmp_path)
        status = subprocess.run(
            [sys.executable, "-m", "pinecone_migrator", "status", "--state", str(tmp_path / "ledger.sqlite")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and "interrupted verify, source __default__: " in status.stdout
        report = tmp_path / "resumed.json"
        resumed = verify(source, target, tmp_path, "--report", str(report))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "verify (digest): EQUAL" in resumed.stdout and "note: resumed:" in resumed.stdout
        body = orjson.loads(report.read_bytes())["verify"]
        assert body["source_records"] < 1_500  # the records the first run accounted for were not read again
        again = verify(source, target, tmp_path, "--report", str(report))
        assert again.returncode == 0 and "resumed" not in again.stdout  # a verdict clears saved progress
        assert orjson.loads(report.read_bytes())["verify"]["source_records"] == 1_500


def test_a_store_written_since_the_interruption_is_scanned_again(tmp_path: Path) -> None:
    first, second = slow_servers(tmp_path)
    with first as source, second as target:
        interrupted_verify(source, target, tmp_path)
        pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
        # the first ID of the first namespace: certainly among what the interrupted verify accounted for
        pc.index(host=pc.describe_index("src").host).update(
            id="d0#chunk 00000", set_metadata={"year": 1}, namespace="__default__"
        )
        resumed = verify(source, target, tmp_path)
        assert resumed.returncode == 5, resumed.stdout + resumed.stderr  # not a stale EQUAL
        assert (
            "the source namespace '__default__' was written to since the interrupted verify" in resumed.stdout
        )
        assert "__default__: DIFFERENT" in resumed.stdout


def test_a_killed_verify_resumes_from_what_it_saved_every_two_seconds(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY, "--latency-ms", "200") as source,
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY, "--latency-ms", "200") as target,
    ):
        # 3,000 records a namespace: a scan lists 30 pages at 200 ms and fetches 1,000 IDs at a time, so a
        # batch is merged (and saved: 2 s since the last save) before the scan ends
        load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=3_000)
        done = migrate(source, target, tmp_path, *ROUTE)
        assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, done.stderr
        running = migrate(source, target, tmp_path, *ROUTE, "--concurrency", "1", wait=False, verb="verify")
        assert isinstance(running, subprocess.Popen)
        deadline = time.monotonic() + 60
        while not partly_scanned(tmp_path / "ledger.sqlite"):  # a periodic save of an unfinished scan
            assert running.poll() is None and time.monotonic() < deadline, "no progress was saved mid-scan"
            time.sleep(0.05)
        running.kill()  # no chance to save anything more
        running.communicate(timeout=60)
        report = tmp_path / "resumed.json"
        resumed = verify(source, target, tmp_path, "--report", str(report))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "verify (digest): EQUAL" in resumed.stdout
        (note,) = [
            n for n in orjson.loads(report.read_bytes())["verify"]["notes"] if n.startswith("resumed:")
        ]
        assert not note.endswith(" 0 continued"), note  # the killed scan went on from its cursor


def partly_scanned(ledger: Path) -> bool:
    try:
        with sqlite3.connect(ledger) as db:
            row = db.execute("SELECT COUNT(*) FROM verify_scans WHERE complete = 0 AND listed > 0").fetchone()
    except sqlite3.Error:  # not created yet, or busy
        return False
    return bool(row[0])
