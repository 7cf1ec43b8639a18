"""`sync` end to end: two local servers, the CLI as a child process, the source written to meanwhile."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from pinecone import Pinecone
from pinecone.errors.exceptions import ApiError

from ..cliproc import SOURCE_KEY, TARGET_KEY, cli_command, contents, load_source, migrate
from ..helpers import expected
from ..serverproc import ServerProcess

Servers = tuple[ServerProcess, ServerProcess]


def _sync(servers: Servers, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    source, target = servers
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", *args, verb="sync"
    )
    assert isinstance(result, subprocess.CompletedProcess)
    return result


def _following(servers: Servers, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    source, target = servers
    command, env = cli_command(
        source,
        target,
        tmp_path,
        "sync",
        "--source-index",
        "src",
        "--target-index",
        "dst",
        "--interval",
        "0.3",
        *args,
    )
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _converged(
    target: ServerProcess, wanted: dict[str, dict[str, Any]], seconds: float = 60
) -> dict[str, Any]:
    pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    deadline = time.monotonic() + seconds
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            found = contents(pc, "dst")
        except Exception:  # the target index is being created
            found = {}
        if found == wanted:
            return found
        time.sleep(0.3)
    return found


def _index(server: ServerProcess, key: str, name: str) -> Any:
    pc = Pinecone(api_key=key, host=server.url)
    return pc.index(host=pc.describe_index(name).host)


def test_once_copies_everything_and_a_second_pass_finds_nothing(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=80)
    first = _sync(servers, tmp_path, "--once", "--log-format", "json")
    assert first.returncode == 0, first.stderr
    assert orjson.loads(first.stdout.splitlines()[-1])["last_pass"]["new"] == 240
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    second = _sync(servers, tmp_path, "--once", "--detect-updates", "--log-format", "json")
    last = orjson.loads(second.stdout.splitlines()[-1])["last_pass"]
    assert (last["new"], last["updated"], last["deleted"], last["listed"]) == (0, 0, 0, 240)


def test_first_pass_after_a_migrate_writes_nothing(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=50)
    migrated = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst",
                       "--state", str(tmp_path / "m.sqlite"))  # fmt: skip
    assert isinstance(migrated, subprocess.CompletedProcess) and migrated.returncode == 0, migrated.stderr
    result = _sync(servers, tmp_path, "--once", "--log-format", "json")
    last = orjson.loads(result.stdout.splitlines()[-1])["last_pass"]
    assert (last["new"], last["updated"]) == (0, 0), last


def test_follow_mode_converges_under_inserts_updates_and_deletes(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    wanted = load_source(source_pc, count=60)
    running = _following(
        servers, tmp_path, "--detect-updates", "--propagate-deletes", "--max-delete-fraction", "0.5"
    )
    try:
        assert _converged(target, wanted) == wanted
        index = _index(source, SOURCE_KEY, "src")
        rng = random.Random(3)
        for step in range(40):  # inserts, metadata updates, value updates and deletes across namespaces
            namespace = rng.choice(["__default__", "tenant-a", "tenant b/2"])
            ids = sorted(k.split("/", 1)[1] if not k.startswith("tenant b/2/") else k[len("tenant b/2/") :]
                         for k in wanted if k.startswith(f"{namespace}/"))  # fmt: skip
            kind = step % 4
            if kind == 0:
                record = {
                    "id": f"new-{step}",
                    "values": [rng.random() for _ in range(8)],
                    "metadata": {"s": step},
                }
                index.upsert(vectors=[record], namespace=namespace)
                wanted[f"{namespace}/new-{step}"] = expected(record)
            elif kind == 1 and ids:
                record_id = rng.choice(ids)
                index.update(id=record_id, set_metadata={"touched": step}, namespace=namespace)
                entry = wanted[f"{namespace}/{record_id}"]
                entry["metadata"] = {**entry.get("metadata", {}), "touched": step}
            elif kind == 2 and ids:
                record_id = rng.choice(ids)
                values = [rng.random() for _ in range(8)]
                index.update(id=record_id, values=values, namespace=namespace)
                wanted[f"{namespace}/{record_id}"]["values"] = expected({"id": record_id, "values": values})[
                    "values"
                ]
            elif ids:
                record_id = rng.choice(ids)
                index.delete(ids=[record_id], namespace=namespace)
                del wanted[f"{namespace}/{record_id}"]
            time.sleep(0.02)
        assert _converged(target, wanted) == wanted
    finally:
        running.send_signal(signal.SIGTERM)
        _, stderr = running.communicate(timeout=60)
    assert running.returncode in (0, 130), stderr
    checked = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--level", "full",
        "--state", str(tmp_path / "v.sqlite"), verb="verify",
    )  # fmt: skip
    assert isinstance(checked, subprocess.CompletedProcess) and checked.returncode == 0, checked.stdout


def test_deletes_follow_only_when_asked_and_the_guard_stops_a_wipe(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=50)
    assert _sync(servers, tmp_path, "--once").returncode == 0
    index = _index(source, SOURCE_KEY, "src")
    index.delete(ids=["d1#chunk 00001"], namespace="tenant-a")
    kept = _sync(servers, tmp_path, "--once")
    assert kept.returncode == 0
    target_index = _index(target, TARGET_KEY, "dst")
    assert target_index.fetch(ids=["d1#chunk 00001"], namespace="tenant-a").vectors  # still there
    propagated = _sync(servers, tmp_path, "--once", "--propagate-deletes")
    assert propagated.returncode == 0, propagated.stderr
    assert not target_index.fetch(ids=["d1#chunk 00001"], namespace="tenant-a").vectors
    index.delete(delete_all=True, namespace="tenant-a")  # the source namespace empties: 49 of 149 records
    guarded = _sync(servers, tmp_path, "--once", "--propagate-deletes")
    assert guarded.returncode == 7, guarded.stdout + guarded.stderr
    assert "deleted nothing" in guarded.stdout
    assert target_index.describe_index_stats().namespaces["tenant-a"].vector_count == 49
    agreed = _sync(servers, tmp_path, "--once", "--propagate-deletes", "--yes")
    assert agreed.returncode == 0, agreed.stderr
    assert "tenant-a" not in target_index.describe_index_stats().namespaces


def test_updated_field_copies_only_what_changed_and_reports_lag(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    index = Pinecone(api_key=SOURCE_KEY, host=source.url)
    from ..helpers import dense_index

    src = dense_index(index, "src", dimension=4)
    now = time.time()
    src.upsert(
        vectors=[
            {"id": f"r{i}", "values": [1, 2, 3, i + 1], "metadata": {"updated": now - 100}} for i in range(20)
        ]
    )
    first = _sync(servers, tmp_path, "--once", "--updated-field", "updated", "--log-format", "json")
    assert first.returncode == 0, first.stderr
    src.update(id="r3", set_metadata={"updated": now, "note": "changed"})
    second = _sync(servers, tmp_path, "--once", "--updated-field", "updated", "--log-format", "json")
    last = orjson.loads(second.stdout.splitlines()[-1])["last_pass"]
    assert (last["new"], last["updated"]) == (0, 1), last
    assert last["lag_seconds"] is not None and last["lag_seconds"] < 60
    copied = _index(target, TARGET_KEY, "dst").fetch(ids=["r3"]).vectors["r3"]
    assert copied.metadata["note"] == "changed"


def test_sigterm_during_the_wait_exits_cleanly_and_the_next_sync_continues(
    servers: Servers, tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=30)
    running = _following(servers, tmp_path, "--interval", "30")
    assert _converged(target, written) == written  # the first pass is done; now it waits 30 s
    time.sleep(0.5)
    started = time.monotonic()
    running.send_signal(signal.SIGTERM)
    stdout, stderr = running.communicate(timeout=30)
    assert running.returncode == 0, stderr
    assert time.monotonic() - started < 5, "the wait between passes did not end at once"
    assert "pass 1 done" in stdout or "sync: pass 1 done" in stdout
    index = _index(source, SOURCE_KEY, "src")
    index.upsert(vectors=[{"id": "after", "values": [0.5] * 8}], namespace="tenant-a")
    again = _sync(servers, tmp_path, "--once", "--log-format", "json")
    assert orjson.loads(again.stdout.splitlines()[-1])["last_pass"]["new"] == 1


def test_status_shows_the_last_passes_of_a_sync(servers: Servers, tmp_path: Path) -> None:
    source, _ = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=10)
    assert _sync(servers, tmp_path, "--once").returncode == 0
    assert _sync(servers, tmp_path, "--once").returncode == 0
    shown = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "status", "--state", str(tmp_path / "ledger.sqlite")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.startswith("sync pass")]
    assert lines[0].startswith("sync pass 2 (done") and "listed 30, new 0" in lines[0]
    assert lines[1].startswith("sync pass 1 (done") and "new 30" in lines[1]


FAULTS = {"rate_429": 0.1, "rate_500": 0.05, "rate_503": 0.05, "latency_ms": 5, "visibility_delay_ms": 300}


def _as_an_application(call: Callable[[], object], attempts: int = 10) -> None:
    """The application's own writes during a fault test: it retries what the injected faults refuse (the
    SDK gives up on an injected 500 now and then), so that the test is about the sync, not about them."""
    for attempt in range(attempts):
        try:
            call()
            return
        except ApiError as error:
            if attempt == attempts - 1 or (error.status_code or 0) < 429:
                raise
            time.sleep(0.1)


def _faults(server: ServerProcess, key: str, **settings: float) -> None:
    import httpx

    httpx.put(f"{server.url}/_admin/faults", json=settings, headers={"Api-Key": key}).raise_for_status()


def test_converges_under_faults_with_nothing_lost_or_duplicated(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    wanted = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=60)
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        _faults(
            server, key, rate_429=0.1, rate_500=0.05, rate_503=0.05, latency_ms=5, visibility_delay_ms=300
        )
    running = _following(
        servers, tmp_path, "--detect-updates", "--propagate-deletes", "--max-delete-fraction", "0.5"
    )
    try:
        index = _index(source, SOURCE_KEY, "src")
        for i in range(10):
            record = {"id": f"late-{i}", "values": [0.1 * i] * 8, "metadata": {"i": i}}
            _as_an_application(partial(index.upsert, vectors=[record], namespace="tenant-a"))
            wanted[f"tenant-a/late-{i}"] = expected(record)
        _as_an_application(partial(index.delete, ids=["d0#chunk 00000"], namespace="__default__"))
        del wanted["__default__/d0#chunk 00000"]
        for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
            _faults(
                server, key, rate_429=0.1, rate_500=0.05, rate_503=0.05, latency_ms=5, visibility_delay_ms=300
            )
        assert _converged(target, wanted, seconds=120) == wanted
    finally:
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=60)
    assert running.returncode in (0, 130)


def test_sigterm_during_a_pass_and_the_next_sync_finishes_the_job(servers: Servers, tmp_path: Path) -> None:
    source, target = servers
    wanted = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=300)
    _faults(source, SOURCE_KEY, latency_ms=100)  # a pass of ~20 s: plenty of time to stop it half-way
    running = _following(servers, tmp_path, "--concurrency", "1")
    pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if pc.index(host=pc.describe_index("dst").host).describe_index_stats().total_vector_count > 50:
                break
        except Exception:  # the target index is being created
            pass
        time.sleep(0.1)
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130, stderr
    assert "the next sync picks up" in stderr
    _faults(source, SOURCE_KEY, latency_ms=0)
    finished = _sync(servers, tmp_path, "--once", "--log-format", "json")
    assert finished.returncode == 0, finished.stderr
    assert (
        0 < orjson.loads(finished.stdout.splitlines()[-1])["last_pass"]["new"] < 900
    )  # only what was missing
    assert contents(pc, "dst") == wanted
