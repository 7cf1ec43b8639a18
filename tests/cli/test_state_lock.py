"""One process per state file: a second run on a held ledger is refused at once, naming the holder; a holder
killed with SIGKILL leaves nothing that blocks the next run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import orjson
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, ledger_progress, load_source, migrate
from ..serverproc import ServerProcess

ROUTE = ("--source-index", "src", "--target-index", "dst", "--concurrency", "1")


def _slow(server: ServerProcess, latency_ms: float) -> None:
    httpx.put(
        f"{server.url}/_admin/faults", json={"latency_ms": latency_ms}, headers={"Api-Key": SOURCE_KEY}
    ).raise_for_status()


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _ledger_counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        copied, listed = db.execute("SELECT SUM(copied), SUM(listed) FROM units").fetchone()
    db.close()
    return int(copied), int(listed)


def _start_slow_migrate(
    source: ServerProcess, target: ServerProcess, tmp_path: Path, *extra: str
) -> subprocess.Popen[str]:
    """A migrate made slow by 150 ms of source latency, returned once it holds the ledger's lock."""
    _slow(source, 150)
    lock = tmp_path / "ledger.sqlite.lock"
    running = migrate(source, target, tmp_path, *ROUTE, *extra, wait=False)
    assert isinstance(running, subprocess.Popen)
    _wait_for(lambda: lock.exists() and lock.stat().st_size > 0)
    return running


def test_a_second_run_on_a_held_ledger_is_refused_and_the_first_finishes_exactly(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url))
    lock = tmp_path / "ledger.sqlite.lock"
    first = _start_slow_migrate(source, target, tmp_path)
    started = time.monotonic()
    second = migrate(source, target, tmp_path, *ROUTE)
    assert isinstance(second, subprocess.CompletedProcess)
    assert second.returncode == 2, second.stderr
    assert time.monotonic() - started < 15, "refused at once, not after copying"
    assert f"in use by another run (PID {first.pid} on " in second.stderr
    assert "pinecone-migrator migrate" in second.stderr and "since 20" in second.stderr
    assert "Traceback" not in second.stderr
    _slow(source, 0)
    _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    assert _ledger_counts(tmp_path / "ledger.sqlite") == (900, 900)
    assert not lock.exists(), "a finished run removes its lock file"
    # and the other commands that use the same state file are refused the same way while it is held
    holder = _start_slow_migrate(source, target, tmp_path, "--restart")
    for verb, extra in (("verify", ()), ("sync", ("--once",))):
        refused = migrate(source, target, tmp_path, *ROUTE, *extra, verb=verb)
        assert isinstance(refused, subprocess.CompletedProcess)
        assert refused.returncode == 2 and f"PID {holder.pid}" in refused.stderr, (verb, refused.stderr)
    _slow(source, 0)
    holder.communicate(timeout=300)
    assert holder.returncode == 0


def test_a_holder_killed_with_sigkill_does_not_block_the_next_run(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url))
    lock = tmp_path / "ledger.sqlite.lock"
    first = _start_slow_migrate(source, target, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    _wait_for(lambda: ledger.exists() and ledger_progress(ledger)[1] > 0)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    assert lock.exists(), "SIGKILL leaves the file, but not the lock"
    before = ledger_progress(ledger)[1]
    _slow(source, 0)
    report = tmp_path / "report.json"
    again = migrate(source, target, tmp_path, *ROUTE, "--report", str(report))
    assert isinstance(again, subprocess.CompletedProcess)
    assert again.returncode == 0, again.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    # the resumed run's speed counts its own records only
    summary = orjson.loads(report.read_bytes())
    assert summary["copied"] == 900 and summary["copied_this_run"] == 900 - before
    expected_rate = (900 - before) / summary["elapsed_seconds"]
    assert abs(summary["records_per_second"] - expected_rate) <= 0.01 * expected_rate + 0.1
    line = f"total: 900 records, {before:,} of them by earlier runs; this run {900 - before:,} in"
    assert line in again.stdout
