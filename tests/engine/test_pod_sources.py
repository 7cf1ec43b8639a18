"""Pod-based sources (no `list`) through the CLI: migrate by query sweeps, sync in stamp mode."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

from pinecone import Pinecone, PodSpec

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, migrate
from ..helpers import expected, random_records
from ..serverproc import ServerProcess

Servers = tuple[ServerProcess, ServerProcess]


def _pod_source(server: ServerProcess, count: int = 1_200) -> dict[str, dict[str, Any]]:
    pc = Pinecone(api_key=SOURCE_KEY, host=server.url)
    pc.create_index("src", dimension=8, metric="cosine", spec=PodSpec(environment="us-east-1-aws"))
    index = pc.index(host=pc.describe_index("src").host)
    written: dict[str, dict[str, Any]] = {}
    for n, namespace in enumerate(["__default__", "tenant-a"]):
        records = random_records(count // 2, 8, random.Random(n), prefix=f"p{n}-")
        for start in range(0, len(records), 200):
            index.upsert(vectors=records[start : start + 200], namespace=namespace)
        written.update({f"{namespace}/{r['id']}": expected(r) for r in records})
    return written


def test_migrate_from_a_pod_source_sweeps_it_completely(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    written = _pod_source(source)
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    assert "pod-based (no list)" in result.stderr
    assert "600 of 600 IDs found" in result.stderr and "complete (proven)" in result.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    checked = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst",
                      "--level", "full", "--state", str(tmp_path / "v.sqlite"), verb="verify")  # fmt: skip
    assert isinstance(checked, subprocess.CompletedProcess) and checked.returncode == 0, checked.stdout


def test_stamp_mode_migrates_a_pod_source_completely(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    written = _pod_source(source, count=600)
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--once",
                     "--stamp-source", "--stamps-per-second", "5000", verb="sync")  # fmt: skip
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    index = pc.index(host=pc.describe_index("src").host)
    sample = index.fetch(ids=["p1-00007", "p1-00299"], namespace="tenant-a").vectors
    assert all(v.metadata["migrated"] is True for v in sample.values())
