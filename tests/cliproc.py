"""Running the CLI as a user does (a child process) against two local servers acting as two projects."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pinecone import Pinecone

from .helpers import as_plain, dense_index, expected, random_records
from .serverproc import ServerProcess

SOURCE_KEY = "source-secret-key-123"
TARGET_KEY = "target-secret-key-456"


def cli_command(
    source: ServerProcess, target: ServerProcess, tmp_path: Path, verb: str, *args: str
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `pinecone-migrator <verb>` between the two servers (own keys)."""
    command = [
        sys.executable,
        "-m",
        "pinecone_migrator",
        verb,
        "--source-host",
        source.url,
        "--target-host",
        target.url,
        "--source-api-key-env",
        "SRC_KEY",
        "--target-api-key-env",
        "DST_KEY",
        "--state",
        str(tmp_path / "ledger.sqlite"),
        *args,
    ]
    return command, {**os.environ, "SRC_KEY": SOURCE_KEY, "DST_KEY": TARGET_KEY}


def migrate(
    source: ServerProcess,
    target: ServerProcess,
    tmp_path: Path,
    *args: str,
    wait: bool = True,
    verb: str = "migrate",
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    command, env = cli_command(source, target, tmp_path, verb, *args)
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def contents(pc: Pinecone, name: str) -> dict[str, dict[str, Any]]:
    """Every record of every namespace, as plain comparable dicts."""
    index = pc.index(host=pc.describe_index(name).host)
    found: dict[str, dict[str, Any]] = {}
    for namespace in index.describe_index_stats().namespaces:
        ids = [item.id for page in index.list(namespace=namespace) for item in page.vectors]
        for start in range(0, len(ids), 200):
            vectors = index.fetch(ids=ids[start : start + 200], namespace=namespace).vectors
            found.update({f"{namespace}/{k}": as_plain(v) for k, v in vectors.items()})
    return found


def load_source(pc: Pinecone, count: int = 300) -> dict[str, dict[str, Any]]:
    index = dense_index(pc, "src", dimension=8, metric="dotproduct")
    written: dict[str, dict[str, Any]] = {}
    for n, namespace in enumerate(["__default__", "tenant-a", "tenant b/2"]):
        records = random_records(count, 8, random.Random(n), sparse=True, prefix=f"d{n}#chunk ")
        for start in range(0, count, 100):
            index.upsert(vectors=records[start : start + 100], namespace=namespace)
        written.update({f"{namespace}/{r['id']}": expected(r) for r in records})
    return written


def ledger_progress(path: Path) -> tuple[int, int]:
    """(IDs listed, records copied) a ledger holds so far, read-only while its run goes on; (0, 0) before
    the run has created it."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            listed, copied = db.execute(
                "SELECT COALESCE(SUM(listed), 0), COALESCE(SUM(copied), 0) FROM units"
            ).fetchone()
        db.close()
    except sqlite3.OperationalError:  # not created yet, or its tables not yet
        return 0, 0
    return int(listed), int(copied)


def wait_for_listed(path: Path, at_least: int, running: subprocess.Popen[str], timeout: float = 120.0) -> int:
    """Wait until a running migration's ledger has listed ``at_least`` IDs (a kill or stop then lands
    part-way whatever the machine's load); returns what it had listed."""
    deadline = time.monotonic() + timeout
    while running.poll() is None and time.monotonic() < deadline:
        listed, _ = ledger_progress(path)
        if listed >= at_least:
            return listed
        time.sleep(0.02)
    raise AssertionError(f"the run listed fewer than {at_least} IDs (exit {running.poll()})")
