"""How `migrate` behaves for a person at a terminal and for a machine reading its output."""

from __future__ import annotations

import os
import pty
import random
import re
import select
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, cli_command, contents, load_source, migrate
from ..helpers import dense_index, expected, random_records
from ..serverproc import ServerProcess


def in_terminal(
    source: ServerProcess,
    target: ServerProcess,
    tmp_path: Path,
    *args: str,
    answers: tuple[tuple[str, str], ...] = (),
    timeout: float = 120.0,
) -> tuple[int, str]:
    """Run migrate with its stdin, stdout and stderr on a pseudo-terminal; when the output matches a trigger
    (a regular expression), type its answer. Returns the exit code and everything the terminal showed."""
    command, env = cli_command(source, target, tmp_path, "migrate", *args)
    env.update(TERM="xterm", COLUMNS="160")
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if pending and re.search(pending[0][0].encode(), shown):
                os.write(primary, pending.pop(0)[1].encode())
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    return code, shown.decode("utf-8", "replace")


def test_terminal_asks_first_and_no_writes_nothing(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    code, shown = in_terminal(
        source,
        target,
        tmp_path,
        "--source-index",
        "src",
        "--target-index",
        "dst",
        answers=((r"\[y/N\]", "n\n"),),
    )
    assert code == 1, shown
    assert "Copy 60 records in 3 namespace(s)" in shown and "missing: would be created" in shown
    assert "Cancelled: nothing was written." in shown
    assert not Pinecone(api_key=TARGET_KEY, host=target.url).has_index("dst")


def test_terminal_display_q_stops_gracefully_and_the_run_resumes(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY, "--latency-ms", "150") as target,
    ):
        # 3,000 per namespace: three batches of 1,000 IDs each, so that a stop leaves some unlisted
        written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=3_000)
        code, shown = in_terminal(
            source,
            target,
            tmp_path,
            "--source-index",
            "src",
            "--target-index",
            "dst",
            "--concurrency",
            "2",
            answers=((r"\[y/N\]", "y\n"), (r"[1-9]\d*/9000", "q\n")),  # q once some are copied
        )
        assert code == 130, shown
        assert "rec/s" in shown and "tenant-a" in shown  # the live display
        assert "Stopping: finishing in-flight batches" in shown
        assert "Interrupted: run the same command again to resume." in shown
        with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
            listed, undone = db.execute("SELECT SUM(listed), SUM(done = 0) FROM units").fetchone()
        assert 0 < listed < 9_000 and undone > 0  # stopped part way, progress kept
        again = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
        assert isinstance(again, subprocess.CompletedProcess) and again.returncode == 0, again.stderr
        assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written


def test_json_logs_and_summary_for_machines(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=50)
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--log-format", "json"
    )
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    logged = [orjson.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert logged and all({"time", "level", "logger", "message"} <= line.keys() for line in logged)
    finished = {line["namespace"] for line in logged if line.get("event") == "namespace_finished"}
    assert finished == {"__default__", "tenant-a", "tenant b/2"}
    (summary,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert summary["complete"] and summary["copied"] == 150
    assert SOURCE_KEY not in result.stderr + result.stdout and TARGET_KEY not in result.stderr + result.stdout


def test_text_logs_without_a_terminal(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=30)
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    assert "namespace 'tenant-a': started (30 records" in result.stderr
    assert "namespace 'tenant-a': done" in result.stderr
    assert "[y/N]" not in result.stderr + result.stdout  # no prompt without a terminal
    assert "total: 90 records" in result.stdout


def test_shards_option(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    index = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "src")
    records = random_records(400, 8, random.Random(7), prefix="")  # IDs 00000..00399 split by prefix
    index.upsert(vectors=records, namespace="books")
    bad = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--shards", "many"
    )
    assert isinstance(bad, subprocess.CompletedProcess) and bad.returncode == 2
    assert "use auto, off, or a number of shards" in bad.stderr and "Traceback" not in bad.stderr
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--shards", "4"
    )
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        sharded = db.execute("SELECT COUNT(*) FROM units WHERE prefix != ''").fetchone()[0]
    assert sharded > 1
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst")
    assert got == {f"books/{r['id']}": expected(r) for r in records}


def test_verify_batch_and_full(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=100)
    report = tmp_path / "batch.json"
    batch = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--verify", "batch",
        "--report", str(report),
    )  # fmt: skip
    assert isinstance(batch, subprocess.CompletedProcess) and batch.returncode == 0, batch.stderr
    assert orjson.loads(report.read_bytes())["verify"] == {
        "level": "batch",
        "read_back_equal": 300,
        "resent": 0,
    }
    assert "verify batch: 300 records read back equal" in batch.stdout
    report = tmp_path / "full.json"
    full = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst2", "--verify", "full",
        "--report", str(report), "--state", str(tmp_path / "other.sqlite"),
    )  # fmt: skip
    assert isinstance(full, subprocess.CompletedProcess) and full.returncode == 0, full.stderr
    verdict = orjson.loads(report.read_bytes())["verify"]
    assert verdict["level"] == "full" and verdict["equal"] and verdict["source_records"] == 300
    assert "verify (full): EQUAL" in full.stdout
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst2") == written


def test_verify_after_migrate_waits_for_writes_to_become_visible(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(
            tmp_path / "target", "--api-key", TARGET_KEY, "--visibility-delay-ms", "1500"
        ) as target,
    ):
        load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=60)
        result = migrate(
            source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--verify", "digest"
        )
        assert isinstance(result, subprocess.CompletedProcess)
        assert result.returncode == 0, result.stdout + result.stderr  # no false mismatch from lagging reads
        assert "verify (digest): EQUAL" in result.stdout
