"""Stamp mode (`sync --stamp-source`) and `reset`: the original script's way, without its dangers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
from pinecone import Pinecone

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.stamping import StampOptions, StampPass
from pinecone_migrator.engine.sync.state import SyncState
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source, migrate
from ..serverproc import ServerProcess

Servers = tuple[ServerProcess, ServerProcess]


def _without_stamps(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    clean = {}
    for key, record in found.items():
        record = dict(record)
        metadata = {
            k: v for k, v in record.get("metadata", {}).items() if k not in ("migrated", "migrated_at")
        }
        record.pop("metadata", None)
        if metadata:
            record["metadata"] = metadata
        clean[key] = record
    return clean


def _reset(servers: Servers, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    source, _ = servers
    command = [sys.executable, "-m", "pinecone_migrator", "reset", "--source-index", "src", "--source-host",
               source.url, "--source-api-key-env", "SRC_KEY", *args]  # fmt: skip
    return subprocess.run(command, env={**os.environ, "SRC_KEY": SOURCE_KEY}, capture_output=True, text=True)


def _run(servers: Servers, tmp_path: Path, verb: str, *args: str) -> subprocess.CompletedProcess[str]:
    source, target = servers
    result = migrate(source, target, tmp_path, "--source-index", "src", *args, verb=verb)
    assert isinstance(result, subprocess.CompletedProcess)
    return result


def test_stamp_mode_copies_then_stamps_without_touching_values_and_reset_removes_every_stamp(
    servers: Servers, tmp_path: Path
) -> None:
    source, target = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    written = load_source(source_pc, count=40)  # dense + sparse values, every metadata type, 3 namespaces
    first = _run(servers, tmp_path, "sync", "--target-index", "dst", "--stamp-source", "--once",
                 "--stamps-per-second", "1000", "--log-format", "json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "WRITES to the source" in first.stderr
    assert orjson.loads(first.stdout.splitlines()[-1])["last_pass"]["new"] == 120
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written  # no stamps copied
    stamped = contents(source_pc, "src")
    assert _without_stamps(stamped) == written  # values, sparse values, other metadata untouched
    assert all(r["metadata"]["migrated"] is True for r in stamped.values())
    assert all(str(r["metadata"]["migrated_at"]).endswith("Z") for r in stamped.values())
    again = _run(
        servers, tmp_path, "sync", "--target-index", "dst", "--stamp-source", "--once", "--log-format", "json"
    )
    assert (
        orjson.loads(again.stdout.splitlines()[-1])["last_pass"]["listed"] == 0
    )  # nothing unstamped is left
    refused = _reset(servers, tmp_path, "--stamps")
    assert refused.returncode == 2 and "--yes" in refused.stderr  # no terminal to ask: nothing changed
    reset = _reset(servers, tmp_path, "--stamps", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "removed the stamps of 120 records in 3 namespace(s)" in reset.stdout
    assert contents(source_pc, "src") == written


def test_a_record_changed_between_copy_and_stamp_keeps_the_newer_data_on_both_sides(
    servers: Servers, tmp_path: Path
) -> None:
    source, target = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    load_source(source_pc, count=10)
    application = source_pc.index(host=source_pc.describe_index("src").host)
    changed = "d1#chunk 00003"

    class ApplicationWritesMeanwhile(PineconeStore):
        """The real store; the application updates one record just before the tool stamps it."""

        def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> Any:
            if record_id == changed:
                application.update(
                    id=changed, values=[9.0] * 8, set_metadata={"title": "newer"}, namespace=namespace
                )
            return super().update_metadata(namespace, record_id, set_metadata)

    request = MigrationRequest(
        source=Endpoint("src", None), target=Endpoint("dst", None), namespaces=("tenant-a",)
    )
    with SyncState(tmp_path / "state.sqlite", {"mode": "stamp"}) as state:
        StampPass(
            request,
            StampOptions(stamps_per_second=1000),
            ApplicationWritesMeanwhile("src", SOURCE_KEY, source.url),
            PineconeStore("dst", TARGET_KEY, target.url),
            state,
            threading.Event(),
        ).run()
    in_source = source_pc.index(host=source_pc.describe_index("src").host).fetch(
        ids=[changed], namespace="tenant-a"
    )
    record = in_source.vectors[changed]
    assert list(record.values) == [9.0] * 8 and record.metadata["title"] == "newer"  # not overwritten
    assert record.metadata["migrated"] is True
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    in_target = target_pc.index(host=target_pc.describe_index("dst").host).fetch(
        ids=[changed], namespace="tenant-a"
    )
    assert list(in_target.vectors[changed].values) == [9.0] * 8  # the newer data reached the target too
    assert in_target.vectors[changed].metadata["title"] == "newer"


def test_reset_of_a_ledger_sync_forgets_its_state(servers: Servers, tmp_path: Path) -> None:
    source, _ = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    assert _run(servers, tmp_path, "sync", "--target-index", "dst", "--once").returncode == 0
    reset = _reset(servers, tmp_path, "--state", str(tmp_path / "ledger.sqlite"), "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "forgot 60 copied records" in reset.stdout
    again = _run(servers, tmp_path, "sync", "--target-index", "dst", "--once", "--log-format", "json")
    last = orjson.loads(again.stdout.splitlines()[-1])["last_pass"]
    assert last["listed"] == 60 and last["new"] == 0  # re-checked everything, found it all in the target
