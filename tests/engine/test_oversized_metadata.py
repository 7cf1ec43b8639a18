"""A source record whose metadata is over the target's 40 KB limit becomes a dead letter, never a crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
from pinecone import Pinecone

from ..helpers import dense_index
from ..serverproc import ServerProcess


def test_metadata_over_40_kb_arriving_at_a_target_is_a_dead_letter_with_the_reason(tmp_path: Path) -> None:
    source = ServerProcess(tmp_path / "source", "--api-key", "src-key")
    with source:
        index = dense_index(Pinecone(api_key="src-key", host=source.url), "old", dimension=4)
        records = [{"id": f"r{i}", "values": [1, 2, 3, i + 1], "metadata": {"n": i}} for i in range(9)]
        index.upsert(vectors=records)
    # The source holds one record from a time (or a system) with a looser limit: 60 KB of metadata,
    # written into its storage directly since the server refuses such a write.
    (database,) = (tmp_path / "source").rglob("*.sqlite")
    with sqlite3.connect(database) as db:
        changed = db.execute(
            "UPDATE records SET meta = ? WHERE id = 'r4'", (orjson.dumps({"text": "x" * 60_000}).decode(),)
        ).rowcount
    assert changed == 1
    with source, ServerProcess(tmp_path / "target", "--api-key", "dst-key") as target:
        result = subprocess.run(
            [
                sys.executable, "-m", "pinecone_migrator", "migrate",
                "--source-host", source.url, "--target-host", target.url,
                "--source-api-key-env", "SRC", "--target-api-key-env", "DST",
                "--source-index", "old", "--target-index", "new",
                "--state", str(tmp_path / "ledger.sqlite"), "--report", str(tmp_path / "report.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={"SRC": "src-key", "DST": "dst-key", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert result.returncode == 4, result.stderr
        assert "Traceback" not in result.stderr
        target_index = Pinecone(api_key="dst-key", host=target.url).index(name="new")
        ids = sorted(item.id for page in target_index.list(namespace="") for item in page.vectors)
        assert ids == [f"r{i}" for i in range(9) if i != 4]
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        rows = ledger.execute("SELECT id, reason FROM dead_letters").fetchall()
    assert len(rows) == 1 and rows[0][0] == "r4"
    assert "Metadata size is" in rows[0][1] and "40960" in rows[0][1]
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert (report["copied"], report["dead_letters"]) == (8, 1)
