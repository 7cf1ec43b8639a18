"""`pinecone-migrator migrate` end to end: two local servers (two projects), the CLI as a user runs it."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pinecone import Pinecone

from pinecone_migrator.server.runner import free_port

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, ledger_progress, load_source, migrate, wait_for_listed
from ..helpers import dense_index, expected, sparse_index
from ..serverproc import ServerProcess


def test_full_migration_copies_every_record_exactly(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    written = load_source(source_pc)
    report = tmp_path / "report.json"
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--report", str(report)
    )
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stderr
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    assert contents(target_pc, "dst") == written
    description = target_pc.describe_index("dst")
    assert (description.dimension, description.metric, description.vector_type) == (8, "dotproduct", "dense")
    summary = orjson.loads(report.read_bytes())
    assert summary["complete"] and summary["copied"] == 900 and summary["dead_letters"] == 0
    for text in (
        result.stdout,
        result.stderr,
        report.read_text(),
        (tmp_path / "ledger.sqlite").read_bytes().decode("latin-1"),
    ):
        assert SOURCE_KEY not in text and TARGET_KEY not in text
    # the same command again: nothing left to do, still clean
    again = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(again, subprocess.CompletedProcess) and again.returncode == 0


def test_selected_namespaces_only(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=50)
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", "--namespace", "tenant-a"
    )
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst")
    assert got == {k: v for k, v in written.items() if k.startswith("tenant-a/")}


def test_sparse_index_migrates(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    index = sparse_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "sp")
    vectors = [
        {
            "id": f"s{i}",
            "sparse_values": {"indices": [i, i + 100], "values": [0.5, 1.5]},
            "metadata": {"i": i},
        }
        for i in range(40)
    ]
    index.upsert(vectors=vectors, namespace="x")
    result = migrate(source, target, tmp_path, "--source-index", "sp", "--target-index", "sp2")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "sp2")
    assert got == {f"x/{v['id']}": expected(v) for v in vectors}
    assert Pinecone(api_key=TARGET_KEY, host=target.url).describe_index("sp2").vector_type == "sparse"


def test_incompatible_target_is_refused_before_writing(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=10)
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    dense_index(target_pc, "dst", dimension=16, metric="cosine")
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 2
    assert "metric: source dotproduct, target cosine" in result.stderr
    assert "dimension: source 8, target 16" in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        target_pc.index(host=target_pc.describe_index("dst").host).describe_index_stats().total_vector_count
        == 0
    )


def test_missing_key_and_missing_source_are_clear(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    env = {k: v for k, v in os.environ.items() if k not in ("SRC_KEY", "DST_KEY")}
    no_key = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinecone_migrator",
            "migrate",
            "--source-index",
            "a",
            "--target-index",
            "b",
            "--source-host",
            source.url,
            "--source-api-key-env",
            "SRC_KEY",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_key.returncode == 2 and "set the environment variable SRC_KEY" in no_key.stderr
    missing = migrate(source, target, tmp_path, "--source-index", "nope", "--target-index", "dst")
    assert isinstance(missing, subprocess.CompletedProcess)
    assert missing.returncode == 2 and "'nope' does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_records_the_target_refuses_become_dead_letters(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "s", "--api-key", SOURCE_KEY) as source,
        ServerProcess(tmp_path / "t", "--api-key", TARGET_KEY, "--max-upsert-bytes", "6000") as target,
    ):
        index = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "src", dimension=4)
        small = [{"id": f"ok{i}", "values": [1, 2, 3, i], "metadata": {"t": "x"}} for i in range(30)]
        big = [{"id": "huge", "values": [1, 1, 1, 1], "metadata": {"t": "y" * 9000}}]
        index.upsert(vectors=small + big)
        result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
        assert isinstance(result, subprocess.CompletedProcess)
        assert result.returncode == 4, result.stderr
        got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst")
        assert got == {f"__default__/{r['id']}": expected(r) for r in small}
        with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
            rows = ledger.execute("SELECT id, reason FROM dead_letters").fetchall()
        assert [r[0] for r in rows] == ["huge"] and "exceeds the maximum" in rows[0][1]
        status = subprocess.run(
            [sys.executable, "-m", "pinecone_migrator", "status", "--state", str(tmp_path / "ledger.sqlite")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0
        assert (
            "__default__: 31 listed / 31 at the start, 30 copied, 0 skipped by filter, 1 dead letters, done"
            in (status.stdout)
        )
        assert "dead letter __default__/huge: " in status.stdout


def test_sigkill_then_resume_ends_equal(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=1500)
    args = ("--source-index", "src", "--target-index", "dst", "--concurrency", "1")
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        slow = httpx.put(f"{server.url}/_admin/faults", json={"latency_ms": 25}, headers={"Api-Key": key})
        assert slow.status_code == 200
    rng = random.Random(11)
    progress_at_kills = []
    # Each kill lands after a random amount of progress (not after a fixed time, which a loaded machine
    # may spend before the first page).
    for low, high in ((100, 1200), (1400, 2600), (2800, 4000)):
        running = migrate(source, target, tmp_path, *args, wait=False)
        assert isinstance(running, subprocess.Popen)
        wait_for_listed(tmp_path / "ledger.sqlite", rng.randint(low, high), running)
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
        progress_at_kills.append(ledger_progress(tmp_path / "ledger.sqlite")[0])
    assert all(0 < listed < 4500 for listed in progress_at_kills), progress_at_kills
    final = migrate(source, target, tmp_path, *args)
    assert isinstance(final, subprocess.CompletedProcess) and final.returncode == 0, final.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        listed = ledger.execute("SELECT sum(listed), min(done) FROM units").fetchone()
    assert listed == (4500, 1)


def test_sigkill_between_batches_of_ten_pages_then_resume_ends_equal(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    """No --concurrency (automatic): a fetch takes the IDs of ten list pages; whenever the run is killed, the
    ledger holds whole batches only (0, 1,000 or all 2,500 IDs of a namespace), never part of one."""
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=2_500)
    args = ("--source-index", "src", "--target-index", "dst")
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        slow = httpx.put(f"{server.url}/_admin/faults", json={"latency_ms": 25}, headers={"Api-Key": key})
        assert slow.status_code == 200
    ledger_path = tmp_path / "ledger.sqlite"
    rng = random.Random(12)
    for low, high in ((1, 2500), (3000, 5000)):
        running = migrate(source, target, tmp_path, *args, wait=False)
        assert isinstance(running, subprocess.Popen)
        wait_for_listed(ledger_path, rng.randint(low, high), running)
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
        with sqlite3.connect(ledger_path) as ledger:
            units = ledger.execute("SELECT listed, copied FROM units").fetchall()
        assert all(listed in (0, 1_000, 2_000, 2_500) and copied == listed for listed, copied in units), units
    final = migrate(source, target, tmp_path, *args)
    assert isinstance(final, subprocess.CompletedProcess) and final.returncode == 0, final.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
    with sqlite3.connect(ledger_path) as ledger:
        assert ledger.execute("SELECT sum(listed), min(done) FROM units").fetchone() == (7_500, 1)


def test_source_is_never_written(servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    source, target = servers
    pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    written = load_source(pc, count=50)
    index = pc.index(host=pc.describe_index("src").host)
    lsn_before = index.query(vector=[1] * 8, top_k=1).response_info.raw_headers["x-pinecone-max-indexed-lsn"]
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0
    lsn_after = index.query(vector=[1] * 8, top_k=1).response_info.raw_headers["x-pinecone-max-indexed-lsn"]
    assert lsn_before == lsn_after
    assert contents(pc, "src") == written


def test_namespace_map_and_target_namespace(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=40)
    renamed = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "renamed",
        "--namespace", "tenant-a", "--namespace", "__default__", "--namespace-map", "tenant-a=customer-1",
    )  # fmt: skip
    assert isinstance(renamed, subprocess.CompletedProcess) and renamed.returncode == 0, renamed.stderr
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "renamed")
    want = {
        k.replace("tenant-a/", "customer-1/", 1): v
        for k, v in written.items()
        if not k.startswith("tenant b")
    }
    assert got == want

    refused = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "merged",
        "--target-namespace", "all", "--state", str(tmp_path / "merge.sqlite"),
    )  # fmt: skip
    assert isinstance(refused, subprocess.CompletedProcess) and refused.returncode == 2
    assert "--allow-merge" in refused.stderr and "-> all" in refused.stderr
    merged = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "merged",
        "--target-namespace", "all", "--allow-merge", "--state", str(tmp_path / "merge.sqlite"),
    )  # fmt: skip
    assert isinstance(merged, subprocess.CompletedProcess) and merged.returncode == 0, merged.stderr
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "merged")
    assert got == {f"all/{v['id']}": v for v in written.values()}


def test_filter_copies_only_matching_records(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=60)
    report = tmp_path / "report.json"
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "recent",
        "--filter", '{"year": {"$gte": 2010}, "tags": {"$in": ["a", "b"]}}', "--report", str(report),
    )  # fmt: skip
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    want = {
        k: v
        for k, v in written.items()
        if v["metadata"]["year"] >= 2010 and {"a", "b"} & set(v["metadata"]["tags"])
    }
    assert 0 < len(want) < len(written)
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "recent") == want
    summary = orjson.loads(report.read_bytes())
    assert summary["copied"] == len(want)
    # The server evaluated the filter (fetch_by_metadata): non-matching records never travelled.
    assert sum(ns["listed"] for ns in summary["namespaces"]) == len(want)
    assert sum(ns["skipped"] for ns in summary["namespaces"]) == 0


@pytest.mark.parametrize(
    ("filter_text", "phrase"),
    [
        ("{not json", "--filter is not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"a": {"$regex": 1}}', "$regex"),
    ],
)
def test_bad_filters_are_user_errors(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, filter_text: str, phrase: str
) -> None:
    source, target = servers
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "x", "--filter", filter_text
    )
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 2 and phrase in result.stderr and "Traceback" not in result.stderr


def test_completes_through_injected_faults(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=400)
    faults = {"rate_429": 0.1, "rate_503": 0.05, "drop_rate": 0.03, "latency_ms": 5, "seed": 9}
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        assert (
            httpx.put(f"{server.url}/_admin/faults", json=faults, headers={"Api-Key": key}).status_code == 200
        )
    result = migrate(source, target, tmp_path, "--source-index", "src", "--target-index", "dst")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    injected = httpx.get(f"{target.url}/_admin/faults", headers={"Api-Key": TARGET_KEY}).json()["counters"]
    assert injected["429"] + injected["503"] + injected["drop"] > 0
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        httpx.post(f"{server.url}/_admin/faults/reset", headers={"Api-Key": key})
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written


def test_sigterm_stops_gracefully_and_the_same_command_resumes(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=1000)
    for server, key in ((source, SOURCE_KEY), (target, TARGET_KEY)):
        httpx.put(f"{server.url}/_admin/faults", json={"latency_ms": 25}, headers={"Api-Key": key})
    args = ("--source-index", "src", "--target-index", "dst", "--concurrency", "1")
    running = migrate(source, target, tmp_path, *args, wait=False)
    assert isinstance(running, subprocess.Popen)
    wait_for_listed(tmp_path / "ledger.sqlite", 300, running)
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130, stderr
    assert "Stopping: finishing in-flight batches" in stderr and "Traceback" not in stderr
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        listed, copied = ledger.execute("SELECT sum(listed), sum(copied) FROM units").fetchone()
    assert 0 < copied == listed < 3000  # stopped part-way, every listed page fully acknowledged
    final = migrate(source, target, tmp_path, *args)
    assert isinstance(final, subprocess.CompletedProcess) and final.returncode == 0, final.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written


def test_dry_run_and_plan_write_nothing_and_estimate(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=250)
    report = tmp_path / "plan.json"
    ledger = tmp_path / "ledger.sqlite"
    for verb, extra in (("migrate", ["--dry-run"]), ("plan", ["--report", str(report)])):
        result = migrate(
            source, target, tmp_path, "--source-index", "src", "--target-index", "dst", *extra, verb=verb
        )
        assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
        assert "Plan (nothing written)" in result.stdout and "missing: would be created" in result.stdout
        assert "Total: 750 records" in result.stdout
    assert "dst" not in Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes().names()
    assert not ledger.exists()
    plan = orjson.loads(report.read_bytes())
    assert plan["records"] == 750 and plan["dedicated_shards"] == 1
    assert plan["requests"]["list"] == 9 and plan["requests"]["fetch"] == 3  # 250 IDs fit one fetch
    per_record = plan["index_bytes"] / 750
    assert 8 * 4 < per_record < 400  # ID + 4 x 8 dims + sparse pairs + metadata JSON
    assert plan["estimated_seconds"] > 0


def _tenant_source(source: ServerProcess) -> dict[str, dict[str, Any]]:
    """A shared index: records of three tenants, plus some without a usable tenant field."""
    index = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "shared", dimension=4)
    records: list[dict[str, Any]] = []
    for i in range(90):
        metadata: dict[str, Any] = {"n": i, "tenant": ["acme", "globex", "initech"][i % 3]}
        if i % 10 == 0:
            del metadata["tenant"]
        elif i % 10 == 5:
            metadata["tenant"] = 42  # not a string
        records.append({"id": f"r{i:03d}", "values": [1, 2, 3, i], "metadata": metadata})
    index.upsert(vectors=records[:45], namespace="old-a")
    index.upsert(vectors=records[45:], namespace="old-b")
    return {r["id"]: r for r in records}


def test_namespace_from_metadata_with_fallback(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    records = _tenant_source(source)
    result = migrate(
        source, target, tmp_path, "--source-index", "shared", "--target-index", "tenants",
        "--namespace-from-metadata", "tenant", "--fallback-namespace", "unassigned",
    )  # fmt: skip
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr

    def home(record: dict[str, Any]) -> str:
        tenant = record["metadata"].get("tenant")
        return tenant if isinstance(tenant, str) else "unassigned"

    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "tenants")
    assert got == {f"{home(r)}/{rid}": expected(r) for rid, r in records.items()}


def test_namespace_from_metadata_rejects_unroutable_records(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    records = _tenant_source(source)
    result = migrate(
        source, target, tmp_path, "--source-index", "shared", "--target-index", "tenants",
        "--namespace-from-metadata", "tenant",
    )  # fmt: skip
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 4, result.stderr
    routable = {rid: r for rid, r in records.items() if isinstance(r["metadata"].get("tenant"), str)}
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "tenants")
    assert got == {f"{r['metadata']['tenant']}/{rid}": expected(r) for rid, r in routable.items()}
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        dead = dict(ledger.execute("SELECT id, reason FROM dead_letters").fetchall())
    assert set(dead) == set(records) - set(routable)
    assert "'tenant' is missing" in dead["r000"] and "(42.0)" in dead["r005"]  # numbers are float64
    assert all("--fallback-namespace" in reason for reason in dead.values())
    conflicting = migrate(
        source, target, tmp_path, "--source-index", "shared", "--target-index", "x",
        "--namespace-from-metadata", "tenant", "--target-namespace", "y",
    )  # fmt: skip
    assert isinstance(conflicting, subprocess.CompletedProcess) and conflicting.returncode == 2
    assert "excludes --target-namespace" in conflicting.stderr


def test_created_target_gets_read_nodes_and_protection(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=5)
    result = migrate(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dedicated",
        "--target-read-nodes", "t1", "--target-shards", "2", "--target-replicas", "3",
        "--target-deletion-protection", "--target-region", "eu-west-1", "--namespace", "tenant-a",
    )  # fmt: skip
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    description = Pinecone(api_key=TARGET_KEY, host=target.url).describe_index("dedicated")
    assert description.deletion_protection == "enabled"
    assert description.deployment.region == "eu-west-1"
    capacity = description.read_capacity
    assert capacity.dedicated.node_type == "t1"
    assert (capacity.dedicated.manual.shards, capacity.dedicated.manual.replicas) == (2, 3)


def _wait_for_first_records(client: Pinecone, index: str, running: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and running.poll() is None:
        try:
            if client.Index(host=client.describe_index(index).host).describe_index_stats().total_vector_count:
                return
        except Exception:  # the target index may not exist yet
            pass
        time.sleep(0.1)


def test_target_server_restart_mid_run_is_survived(tmp_path: Path) -> None:
    port = free_port()
    with ServerProcess(tmp_path / "s", "--api-key", SOURCE_KEY) as source:
        target = ServerProcess(tmp_path / "t", "--api-key", TARGET_KEY, port=port).start()
        try:
            written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=1000)
            # slow enough (~30 source requests x 200 ms) that the target can die while records are moving
            slow = {"latency_ms": 200}
            httpx.put(f"{source.url}/_admin/faults", json=slow, headers={"Api-Key": SOURCE_KEY})
            args = ("--source-index", "src", "--target-index", "dst", "--concurrency", "1")
            running = migrate(source, target, tmp_path, *args, wait=False)
            assert isinstance(running, subprocess.Popen)
            _wait_for_first_records(Pinecone(api_key=TARGET_KEY, host=target.url), "dst", running)
            assert running.poll() is None, "the migration ended before the target could be restarted"
            target.kill()  # the target dies mid-run ...
            time.sleep(1.0)
            target = ServerProcess(
                tmp_path / "t", "--api-key", TARGET_KEY, port=port
            ).start()  # ... and returns
            _, stderr = running.communicate(timeout=240)
            assert running.returncode == 0, stderr
            assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
        finally:
            target.stop()


def _run_in(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", *args],
        cwd=folder,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_original_script_config_json_is_mapped(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=30)
    seed = {
        "API_KEY": SOURCE_KEY,
        "api_key_dest": TARGET_KEY,
        "use_seperate_target_client": True,
        "SOURCE_INDEX": "src",
        "TARGET_INDEX": "from-seed",
        "source_namespace": "tenant-a",
        "target_namespace": "tenant-a-copy",
        "batch_size": 50,
        "create_target": True,
        "iterate_over_namespaces": False,
        "use_filter": True,
        "filter_to_use": {"year": {"$gte": 2000}},
        "verify_mode": True,
    }
    (tmp_path / "config.json").write_bytes(orjson.dumps(seed))
    env = {k: v for k, v in os.environ.items() if k != "PINECONE_API_KEY"}
    # no flags but the hosts: everything else comes from ./config.json
    result = _run_in(tmp_path, "migrate", "--source-host", source.url, "--target-host", target.url, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "holds an API key under 'api_key'" in result.stderr
        and "holds an API key under 'api_key_dest'" in result.stderr
    )
    assert "batch_size is ignored" in result.stderr
    assert "verify (digest): EQUAL" in result.stdout  # the script's verify_mode runs our verify
    assert SOURCE_KEY not in result.stderr + result.stdout and TARGET_KEY not in result.stderr + result.stdout
    want = {
        k.replace("tenant-a/", "tenant-a-copy/", 1): v
        for k, v in written.items()
        if k.startswith("tenant-a/") and v["metadata"]["year"] >= 2000
    }
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "from-seed") == want


def test_own_config_file_flags_win_and_bad_files_are_clear(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=10)
    settings = tmp_path / "settings.json"
    settings.write_bytes(
        orjson.dumps(
            {"source_index": "src", "target_index": "from-file", "namespaces": ["tenant-a"], "quiet": True}
        )
    )
    env = {**os.environ, "SRC_KEY": SOURCE_KEY, "DST_KEY": TARGET_KEY}
    common = ["--source-host", source.url, "--target-host", target.url, "--source-api-key-env", "SRC_KEY",
              "--target-api-key-env", "DST_KEY"]  # fmt: skip
    result = _run_in(
        tmp_path, "migrate", "--config", str(settings), *common, "--target-index", "from-flag", env=env
    )
    assert result.returncode == 0, result.stderr
    names = Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes().names()
    assert "from-flag" in names and "from-file" not in names
    env_wins = {**env, "PINECONE_MIGRATOR_MIGRATE_TARGET_INDEX": "from-env"}
    result = _run_in(tmp_path, "migrate", "--config", str(settings), *common, env=env_wins)
    assert result.returncode == 0, result.stderr
    assert "from-env" in Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes().names()
    for body, phrase in (
        (b"{nope", "is not valid JSON"),
        (orjson.dumps({"source_index": "a", "colour": 1}), "unknown keys ['colour']"),
        (orjson.dumps({"source_index": 5}), "'source_index' must be a str"),
        (orjson.dumps({"SOURCE_INDEX": "a", "DELTA_MODE": True}), "sync command"),
        (orjson.dumps({"source_index": "a", "use_filter": True, "sparkle": 1}), "unknown keys ['sparkle']"),
    ):
        settings.write_bytes(body)
        failed = _run_in(tmp_path, "migrate", "--config", str(settings), *common, env=env)
        assert failed.returncode == 2 and phrase in failed.stderr, (phrase, failed.stderr)
        assert "Traceback" not in failed.stderr


def test_another_tools_config_json_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"name": "my-web-app", "version": "1.0.0"}')
    result = _run_in(tmp_path, "plan", "--source-index", "a", "--target-index", "b", "--source-host", "http://127.0.0.1:9",
                     env={**os.environ, "PINECONE_API_KEY": "k"})  # fmt: skip
    assert "ignoring ./config.json: it holds no pinecone-migrator settings" in result.stderr
    assert (
        result.returncode == 3 and "Traceback" not in result.stderr
    )  # then fails to reach the (absent) server
