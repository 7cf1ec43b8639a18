"""Sync lag: how long a write to the source takes to reach the target under `pinecone-migrator sync`, and
what a pass costs when nothing changed.

Two local servers run as separate processes (source, target). The source is loaded (default 100,000
records, dimension 768, ~1 KB metadata, 3 namespaces, as in the other benches) by spawned SDK clients; every
record carries a numeric `updated` metadata field (epoch seconds, set an hour in the past). Loading is not
measured. Then, per mode (by default one: `--updated-field updated`; `--compare-detect-updates` adds a second
run with `--detect-updates` into another target index, on other source records):

1. initial copy: `sync --once` with the same options and state file as the follow run (informational);
2. follow mode: `sync --interval 5 --propagate-deletes --updated-field updated --log-format json` as a child
   process; once its first pass is logged, a writer process (the official SDK, --writer-threads threads)
   writes to the source at --rate writes/s for --duration s, each write one request on a fixed schedule
   (write i is due at start + i / rate; when the source answers slower, writes fall behind: the achieved
   rate and the p99 delay behind schedule are printed, and lag counts from the actual acknowledgement):
   40 % inserts of new IDs, 20 % metadata updates, 20 % value + metadata updates, 20 % deletes. Every
   write raises `updated` to the current time and stores its sequence number `seq`; no ID is written twice
   in a run, so each write has one clear outcome in the target;
3. lag: a random sample of the writes (--sample, default 500 of 12,000) is watched by a checker in this
   process, which fetches the pending sampled IDs from the target by ID every --poll s (0.5 s: the lag is
   known to that resolution, and the checker adds ~2 small fetches/s per namespace). A write has arrived
   when the target holds the ID with a `seq` at least the write's (insert, update) or no longer holds it
   (delete). Lag = first time seen in the target - time the source acknowledged the write (both
   time.time() on this machine). Median and p99 over the sample, also per kind. A write still missing
   once two passes that began after the writer stopped are done counts as never arrived (no later pass
   would bring it; --settle s at most) and fails the lag target;
4. passes: every pass the follow run logged (its JSON lines on stderr) while the writer ran: count, median
   and max duration, records copied and deleted;
5. idle pass: after the target converged (per-namespace counts equal) and the follow run was stopped
   (SIGTERM), --idle-passes runs of `sync --once` with the same state and options, nothing else talking
   to the servers: the pass's own seconds (its `last_pass` report), the process's wall time, and the
   requests each server counted meanwhile (`GET /_admin/faults` counters, whole process: start-up and
   describe calls included; a pass lists 100 IDs per request, so ~records/100 list calls);
6. at the end, the target must equal the source: per-namespace counts, and `verify --level digest`.

Targets from issue 6: p99 lag < 2 x interval + pass duration (the median pass duration while writing);
an idle pass over 100,000 records < 10 s (the slowest idle pass is judged).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue as queue_module
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.migrate_throughput import (
    BATCH,
    create_index,
    namespace_names,
    run_clients,
    split,
    total_count,
)
from bench.server_throughput import make_records
from tests.serverproc import ServerProcess

KINDS = ("insert", "update-metadata", "update-values", "delete")
WEIGHTS = (0.4, 0.2, 0.2, 0.2)
IDLE_TARGET_SECONDS = 10.0
CLI = [sys.executable, "-m", "pinecone_migrator"]
ENV = {**os.environ, "BENCH_SOURCE_KEY": "bench", "BENCH_TARGET_KEY": "bench"}
# The human-readable pass line, for when the JSON line lacks the structured fields.
PASS_MESSAGE = re.compile(
    r"pass (\d+) (\w+): listed (\d+), new (\d+), updated (\d+), deleted (\d+), dead letters (\d+), "
    r"lag (-|[\d.]+ s), ([\d.]+) s"
)


def loaded_namespace(index: int, names: list[str]) -> str:
    """The namespace record doc-<index> was loaded into (batches dealt round-robin, as in load_index)."""
    return names[(index // BATCH) % len(names)]


def _load_worker(
    host: str,
    worker: int,
    first: int,
    count: int,
    dimension: int,
    namespaces: int,
    stamp: float,
    go: Any,
    queue: Any,
) -> None:
    try:
        from pinecone import Pinecone

        index = Pinecone(api_key="bench").index(host=host)
        names = namespace_names(namespaces)
        queue.put(("ready", worker))
        go.wait()
        for offset in range(0, count, BATCH):
            start = first + offset
            batch = make_records(min(BATCH, count - offset), start, start, dimension)
            for record in batch:
                record["metadata"]["updated"] = stamp
            index.upsert(vectors=batch, namespace=loaded_namespace(start, names), show_progress=False)
    except BaseException as error:  # reported to the parent, which must not wait forever
        queue.put(("error", f"load worker {worker}: {error!r}"))
        return
    queue.put(("done", worker))


def _writer(
    host: str,
    run: int,
    runs: int,
    records: int,
    namespaces: int,
    dimension: int,
    rate: float,
    duration: float,
    threads: int,
    sample: float,
    go: Any,
    queue: Any,
) -> None:
    """Write to the source on a fixed schedule (write i is due at start + i / rate), one request per write,
    from `threads` threads; report sampled writes as they are acknowledged, then a summary."""
    try:
        from pinecone import Pinecone

        names = namespace_names(namespaces)
        rng = random.Random(1000 + run)
        untouched: dict[str, list[str]] = {name: [] for name in names}
        for i in range(run, records, runs):  # each run updates and deletes its own share of the records
            untouched[loaded_namespace(i, names)].append(f"doc-{i:08d}")
        for ids in untouched.values():
            rng.shuffle(ids)
        ops = []
        for seq in range(int(rate * duration)):
            kind = rng.choices(KINDS, WEIGHTS)[0]
            namespace = rng.choice(names)
            if kind != "insert" and untouched[namespace]:
                record_id = untouched[namespace].pop()
            else:
                kind, record_id = "insert", f"new{run}-{seq:07d}"
            ops.append((seq, kind, namespace, record_id, rng.random() < sample))
        lock = threading.Lock()
        cursor = [0]
        slips: list[float] = []
        errors: list[str] = []
        counts = dict.fromkeys(KINDS, 0)
        queue.put(("ready", run))
        go.wait()
        started = time.perf_counter()

        def work(worker: int) -> None:
            index = Pinecone(api_key="bench").index(host=host)
            values = np.random.default_rng(worker + 100 * run)
            while True:
                with lock:
                    position = cursor[0]
                    cursor[0] += 1
                if position >= len(ops):
                    return
                seq, kind, namespace, record_id, sampled = ops[position]
                due = started + position / rate
                if due > time.perf_counter():
                    time.sleep(due - time.perf_counter())
                slip = time.perf_counter() - due
                stamp = {"updated": time.time(), "seq": seq}
                try:
                    if kind == "insert":
                        record = make_records(1, 0, seq, dimension)[0]
                        record["id"] = record_id
                        record["metadata"].update(stamp)
                        index.upsert(vectors=[record], namespace=namespace, show_progress=False)
                    elif kind == "update-metadata":
                        index.update(id=record_id, set_metadata=stamp, namespace=namespace)
                    elif kind == "update-values":
                        vector = values.standard_normal(dimension).astype(np.float32).tolist()
                        index.update(id=record_id, values=vector, set_metadata=stamp, namespace=namespace)
                    else:
                        index.delete(ids=[record_id], namespace=namespace)
                except Exception as error:  # counted and reported; the write is left out of the sample
                    with lock:
                        errors.append(f"{kind} {namespace}/{record_id}: {error!r}")
                    continue
                acknowledged = time.time()
                with lock:
                    slips.append(slip)
                    counts[kind] += 1
                if sampled:
                    queue.put(("write", (seq, kind, namespace, record_id, acknowledged)))

        workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - started
        summary = {
            "counts": counts,
            "seconds": seconds,
            "errors": errors[:5],
            "error_count": len(errors),
            "slip_p99": float(np.percentile(slips, 99)) if slips else 0.0,
        }
    except BaseException as error:
        queue.put(("error", f"writer: {error!r}"))
        return
    queue.put(("done", summary))


def request_count(url: str) -> int:
    """Requests the server has seen (its fault injector counts every request but the admin endpoint's)."""
    response = httpx.get(f"{url}/_admin/faults", headers={"Api-Key": "bench"}, timeout=30)
    response.raise_for_status()
    return int(response.json()["counters"]["requests"])


def sync_command(source_url: str, target_url: str, target: str, state: Path, *extra: str) -> list[str]:
    return [
        *CLI, "sync", "--source-index", "source", "--target-index", target, "--source-host", source_url,
        "--target-host", target_url, "--source-api-key-env", "BENCH_SOURCE_KEY", "--target-api-key-env",
        "BENCH_TARGET_KEY", "--state", str(state), "--log-format", "json", *extra,
    ]  # fmt: skip


def sync_once(command: list[str], timeout: float) -> tuple[dict[str, Any], float]:
    """Run `sync --once`; return its last pass (from the JSON summary on stdout) and its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([*command, "--once"], env=ENV, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(
            f"benchmark failed: sync --once exited with {done.returncode}:\n"
            f"{done.stdout}\n{done.stderr[-4000:]}"
        )
    last: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])["last_pass"]
    return last, seconds


def verify(source_url: str, target_url: str, target: str, work: Path, timeout: float) -> dict[str, Any]:
    """`verify --level digest` of the source against the target: its report, also when it differs."""
    report = work / f"{target}.verify.json"
    command = [
        *CLI, "verify", "--source-index", "source", "--target-index", target, "--source-host", source_url,
        "--target-host", target_url, "--source-api-key-env", "BENCH_SOURCE_KEY", "--target-api-key-env",
        "BENCH_TARGET_KEY", "--state", str(work / f"{target}.verify.sqlite"), "--level", "digest",
        "--report", str(report), "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 5) or not report.exists():
        raise SystemExit(f"benchmark failed: verify exited with {done.returncode}:\n{done.stderr[-4000:]}")
    body: dict[str, Any] = orjson.loads(report.read_bytes())
    return body


def parse_passes(text: str) -> tuple[list[dict[str, Any]], bool, list[str]]:
    """The passes a follow run logged (JSON lines on stderr), whether the lines carried the documented
    structured fields (else they were read from the message), and the error/warning messages."""
    passes = []
    structured = True
    problems = []
    for line in text.splitlines():
        try:
            body = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(body, dict):
            continue
        message = str(body.get("message", ""))
        if body.get("level") in ("warning", "error"):
            problems.append(message)
        if body.get("event") == "sync_pass":
            passes.append(body)
            continue
        match = PASS_MESSAGE.match(message)
        if match is None:
            continue
        structured = False
        number, state, listed, new, updated, deleted, dead, lag, seconds = match.groups()
        finished = datetime.fromisoformat(body["time"]).timestamp()
        passes.append(
            {
                "number": int(number), "state": state, "listed": int(listed), "new": int(new),
                "updated": int(updated), "deleted": int(deleted), "dead": int(dead),
                "lag_seconds": None if lag == "-" else float(lag.split()[0]), "seconds": float(seconds),
                "started": finished - float(seconds), "finished": finished,
            }
        )  # fmt: skip
    return passes, structured, problems


def wait_for_pass(log: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not parse_passes(log.read_text(errors="replace"))[0]:
        if process.poll() is not None:
            raise SystemExit(f"benchmark failed: sync exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark failed: sync logged no pass within {timeout:.0f} s")
        time.sleep(0.2)


def arrived(kind: str, seq: int, found: Any) -> bool:
    """Whether the target's copy (None when absent) shows the write."""
    if kind == "delete":
        return found is None
    if found is None:
        return False
    value = (found.metadata or {}).get("seq")
    return isinstance(value, (int, float)) and int(value) >= seq


def watch(
    target_host: str,
    queue: Any,
    writer: Any,
    follow: subprocess.Popen[bytes],
    log: Path,
    poll: float,
    settle: float,
) -> tuple[list[tuple[str, float]], list[tuple[Any, ...]], dict[str, Any], float, float]:
    """Check sampled writes against the target until all arrived, or two passes that began after the
    writer ended are done (what is still missing then, no pass will bring), or --settle s went by.
    Return (kind, lag) per arrived write, the writes that never arrived, the writer's summary, and the
    writer's start and end times."""
    from pinecone import Pinecone

    index = Pinecone(api_key="bench").index(host=target_host)
    pending: dict[tuple[str, str], tuple[int, str, float]] = {}
    lags: list[tuple[str, float]] = []
    summary: dict[str, Any] | None = None
    writes_started = time.time()
    writes_ended = 0.0
    while True:
        while True:
            try:
                kind, value = queue.get_nowait()
            except queue_module.Empty:
                break
            if kind == "error":
                raise SystemExit(f"benchmark failed: {value}")
            if kind == "write":
                seq, write_kind, namespace, record_id, acknowledged = value
                pending[(namespace, record_id)] = (seq, write_kind, acknowledged)
            elif kind == "done":
                summary, writes_ended = value, time.time()
        if follow.poll() is not None:
            raise SystemExit(f"benchmark failed: the follow sync exited with {follow.returncode}")
        if summary is None and writer.exitcode not in (None, 0):
            raise SystemExit(f"benchmark failed: the writer died (exit code {writer.exitcode})")
        by_namespace: dict[str, list[str]] = {}
        for namespace, record_id in pending:
            by_namespace.setdefault(namespace, []).append(record_id)
        for namespace, ids in by_namespace.items():
            for start in range(0, len(ids), 100):
                chunk = ids[start : start + 100]
                vectors = index.fetch(ids=chunk, namespace=namespace).vectors
                seen = time.time()
                for record_id in chunk:
                    seq, write_kind, acknowledged = pending[(namespace, record_id)]
                    if arrived(write_kind, seq, vectors.get(record_id)):
                        lags.append((write_kind, seen - acknowledged))
                        del pending[(namespace, record_id)]
        given_up = False
        if summary is not None and pending:
            passes = parse_passes(log.read_text(errors="replace"))[0]
            after = [p for p in passes if p["started"] > writes_ended and p["state"] == "done"]
            given_up = len(after) >= 2 or time.time() > writes_ended + settle
        if summary is not None and (not pending or given_up):
            missing = [(ns, i, *v) for (ns, i), v in pending.items()]
            return lags, missing, summary, writes_started, writes_ended
        time.sleep(poll)


def converge(source_host: str, target_host: str, seconds: float) -> tuple[dict[str, int], dict[str, int]]:
    """Wait until the target's per-namespace counts equal the source's; return both."""
    deadline = time.monotonic() + seconds
    while True:
        _, source_counts = total_count(source_host)
        _, target_counts = total_count(target_host)
        if source_counts == target_counts or time.monotonic() > deadline:
            return source_counts, target_counts
        time.sleep(1.0)


def stop_follow(follow: subprocess.Popen[bytes]) -> int:
    follow.send_signal(signal.SIGTERM)
    try:
        return follow.wait(timeout=120)
    except subprocess.TimeoutExpired:
        follow.kill()
        follow.wait(timeout=30)
        raise SystemExit(
            "benchmark failed: the follow sync did not stop within 120 s after SIGTERM"
        ) from None


def run_mode(
    args: argparse.Namespace,
    source: ServerProcess,
    target: ServerProcess,
    source_host: str,
    work: Path,
    run: int,
    runs: int,
    label: str,
    flags: list[str],
) -> dict[str, Any]:
    name = f"copy-{run}"
    command = sync_command(
        source.url, target.url, name, work / f"{name}.sqlite", "--interval", str(args.interval),
        "--propagate-deletes", *flags,
    )  # fmt: skip
    print(f"[{label}] {' '.join(command[2:])}", flush=True)
    initial, initial_wall = sync_once(command, args.timeout)
    print(
        f"[{label}] initial copy (sync --once): {initial['new']:,} new in {initial['seconds']:.1f} s "
        f"({initial_wall:.1f} s wall)",
        flush=True,
    )
    from pinecone import Pinecone

    target_host = str(Pinecone(api_key="bench", host=target.url).describe_index(name).host)
    log = work / f"{name}.follow.log"
    with log.open("wb") as stderr:
        follow = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_pass(log, follow, args.timeout)
        context = multiprocessing.get_context("spawn")
        queue: Any = context.Queue()
        go: Any = context.Event()
        writer = context.Process(
            target=_writer,
            args=(
                source_host, run, runs, args.records, args.namespaces, args.dimension, args.rate,
                args.duration, args.writer_threads, args.sample / (args.rate * args.duration), go, queue,
            ),
            daemon=True,
        )  # fmt: skip
        writer.start()
        kind, value = queue.get(timeout=300)
        if kind != "ready":
            raise SystemExit(f"benchmark failed: {value}")
        go.set()
        lags, missing, summary, writes_started, writes_ended = watch(
            target_host, queue, writer, follow, log, args.poll, args.settle
        )
        writer.join(timeout=30)
        writes = sum(summary["counts"].values())
        print(
            f"[{label}] writer: {writes:,} writes in {summary['seconds']:.1f} s "
            f"({writes / summary['seconds']:.0f}/s of {args.rate:g}/s asked) "
            f"{summary['counts']}, {summary['error_count']} errors, schedule slip p99 "
            f"{summary['slip_p99'] * 1000:.0f} ms; {len(lags)} sampled writes arrived, {len(missing)} never",
            flush=True,
        )
        source_counts, target_counts = converge(source_host, target_host, args.settle)
        follow_exit = stop_follow(follow)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=30)
    passes, structured, problems = parse_passes(log.read_text(errors="replace"))
    if follow_exit not in (0, 130):
        raise SystemExit(f"benchmark failed: the follow sync exited with {follow_exit}:\n{log.read_text()}")
    idle = []
    for _ in range(args.idle_passes):
        before = (request_count(source.url), request_count(target.url))
        last, wall = sync_once(command, args.timeout)
        after = (request_count(source.url), request_count(target.url))
        idle.append({**last, "wall": wall, "source_requests": after[0] - before[0],
                     "target_requests": after[1] - before[1]})  # fmt: skip
    return {
        "label": label,
        "name": name,
        "initial": initial,
        "lags": lags,
        "missing": missing,
        "writer": summary,
        "passes": passes,
        "structured": structured,
        "problems": problems,
        "writes_started": writes_started,
        "writes_ended": writes_ended,
        "source_counts": source_counts,
        "target_counts": target_counts,
        "follow_exit": follow_exit,
        "idle": idle,
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(result: dict[str, Any], args: argparse.Namespace, verified: dict[str, Any]) -> bool:
    """Print one mode's tables; return whether both targets are met."""
    label = result["label"]
    print(f"\n== {label}: lag from write (acknowledged by the source) to arrival in the target ==")
    print(f"{'kind':<18}{'sampled':>9}{'arrived':>9}{'median s':>10}{'p90 s':>8}{'p99 s':>8}{'max s':>8}")
    missing_by_kind: dict[str, int] = {}
    for entry in result["missing"]:
        missing_by_kind[entry[3]] = missing_by_kind.get(entry[3], 0) + 1
    for kind in (*KINDS, "all"):
        lags = [lag for k, lag in result["lags"] if kind in (k, "all")]
        lost = sum(missing_by_kind.values()) if kind == "all" else missing_by_kind.get(kind, 0)
        print(
            f"{kind:<18}{len(lags) + lost:>9}{len(lags):>9}{percentile(lags, 50):>10.2f}"
            f"{percentile(lags, 90):>8.2f}{percentile(lags, 99):>8.2f}{max(lags, default=float('nan')):>8.2f}"
        )
    started, ended = result["writes_started"], result["writes_ended"]
    during = [p for p in result["passes"] if p["finished"] >= started and p["started"] <= ended]
    seconds = [float(p["seconds"]) for p in during]
    own_lags = [float(p["lag_seconds"]) for p in during if p.get("lag_seconds") is not None]
    print(
        f"\npasses while writing: {len(during)} (of {len(result['passes'])} logged); duration median "
        f"{percentile(seconds, 50):.2f} s, max {max(seconds, default=float('nan')):.2f} s; "
        f"copied new {sum(p['new'] for p in during):,}, updated {sum(p['updated'] for p in during):,}, "
        f"deleted {sum(p['deleted'] for p in during):,}; the sync's own lag figure "
        + (
            f"median {percentile(own_lags, 50):.1f} s, max {max(own_lags):.1f} s"
            if own_lags
            else "n/a (only with --updated-field)"
        )
    )
    states = sorted({p["state"] for p in result["passes"]})
    print(f"pass states seen: {states}; follow run exit code {result['follow_exit']}")
    if result["problems"]:
        print(f"warnings/errors logged by the follow run ({len(result['problems'])}):")
        for message in result["problems"][:5]:
            print(f"  {message[:300]}")
    if not result["structured"]:
        print(
            "NOTE: the follow run's JSON log lines carry no 'event'/'number'/'seconds' fields (only time, "
            "level, logger, message); passes were read from the message text."
        )
    if result["missing"]:
        print(f"never arrived (first 5 of {len(result['missing'])}):")
        for namespace, record_id, seq, kind, acknowledged in result["missing"][:5]:
            print(
                f"  {kind} #{seq} of {namespace}/{record_id}, acknowledged "
                f"{acknowledged - started:.2f} s after writing began"
            )

    print(f"\n== {label}: idle passes (sync --once, nothing changed, nothing else talking to the servers) ==")
    print(f"{'pass':>5}{'listed':>10}{'new':>6}{'upd':>6}{'del':>6}{'pass s':>9}{'wall s':>9}"
          f"{'src req':>9}{'tgt req':>9}{'x target':>10}")  # fmt: skip
    for entry in result["idle"]:
        print(
            f"{entry['number']:>5}{entry['listed']:>10,}{entry['new']:>6}{entry['updated']:>6}"
            f"{entry['deleted']:>6}{entry['seconds']:>9.2f}{entry['wall']:>9.2f}{entry['source_requests']:>9,}"
            f"{entry['target_requests']:>9,}{entry['seconds'] / IDLE_TARGET_SECONDS:>10.2f}"
        )
    listed = result["idle"][-1]["listed"] if result["idle"] else 0
    print(
        f"(requests: the whole `sync --once` process, start-up and describe calls included; listing "
        f"{listed:,} IDs at 100 per request takes ~{-(-listed // 100):,} list requests)"
    )

    p99 = percentile([lag for _, lag in result["lags"]], 99)
    bound = 2 * args.interval + percentile(seconds, 50)
    idle_worst = max((float(e["seconds"]) for e in result["idle"]), default=float("inf"))
    equal_counts = result["source_counts"] == result["target_counts"]
    lost = len(result["missing"])
    lag_ok = p99 < bound and not lost
    idle_ok = idle_worst < IDLE_TARGET_SECONDS
    print(f"\n== {label}: targets ==")
    print(
        f"  p99 lag < 2 x interval + median pass duration: {p99:.2f} s vs 2 x {args.interval:g} + "
        f"{percentile(seconds, 50):.2f} = {bound:.2f} s, ratio {p99 / bound:.2f}"
        + (f"; {lost} sampled writes NEVER arrived" if lost else "")
        + f" -> {'met' if lag_ok else 'NOT met'}"
    )
    print(
        f"  idle pass over {listed:,} records < {IDLE_TARGET_SECONDS:.0f} s: slowest {idle_worst:.2f} s, "
        f"ratio {idle_worst / IDLE_TARGET_SECONDS:.2f} -> {'met' if idle_ok else 'NOT met'}"
    )
    verdict = verified["verify"]
    differing = [
        f"{ns['namespace']} ({len(ns.get('differing_buckets') or [])} of {verdict.get('buckets')} buckets)"
        for ns in verdict.get("namespaces", [])
        if not ns.get("equal")
    ]
    print(
        f"  target equals source: counts {'equal' if equal_counts else 'DIFFERENT'} "
        f"(source {result['source_counts']}, target {result['target_counts']}); verify --level digest: "
        + ("equal" if verdict.get("equal") else f"NOT equal, differing: {', '.join(differing) or verdict}")
    )
    return lag_ok and idle_ok and equal_counts and bool(verdict.get("equal"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="records loaded into the source")
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="writes per second to the source")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing")
    parser.add_argument("--writer-threads", type=int, default=8)
    parser.add_argument("--interval", type=float, default=5.0, help="sync --interval")
    parser.add_argument("--sample", type=int, default=500, help="writes whose arrival is watched (about)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between the checker's rounds")
    parser.add_argument(
        "--settle", type=float, default=300.0, help="seconds allowed to converge after writing"
    )
    parser.add_argument("--idle-passes", type=int, default=3)
    parser.add_argument(
        "--compare-detect-updates",
        action="store_true",
        help="also run the same load with --detect-updates instead of --updated-field (another target index)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed to each command")
    args = parser.parse_args()
    if min(args.records, args.namespaces, args.rate, args.duration, args.sample, args.writer_threads) <= 0:
        parser.error("counts, rate and duration must be positive")
    modes = [("--updated-field updated", ["--updated-field", "updated"])]
    if args.compare_detect_updates:
        modes.append(("--detect-updates", ["--detect-updates"]))
    print(
        f"sync lag bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, "
        f"{args.namespaces} namespaces; {args.rate:g} writes/s for {args.duration:g} s "
        f"({args.writer_threads} writer threads), sync --interval {args.interval:g} --propagate-deletes; "
        f"~{args.sample} sampled writes polled every {args.poll:g} s; {os.cpu_count()} CPUs",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess(work / "source") as source, ServerProcess(work / "target") as target:
            started = time.perf_counter()
            from pinecone import Pinecone

            source_host = create_index(Pinecone(api_key="bench", host=source.url), "source", args.dimension)
            stamp = time.time() - 3600
            jobs = [
                (source_host, w, first, count, args.dimension, args.namespaces, stamp)
                for w, (first, count) in enumerate(split(args.records, 4))
            ]
            run_clients(_load_worker, jobs, args.timeout)
            count, per_namespace = total_count(source_host, args.records)
            if count != args.records:
                raise SystemExit(f"benchmark failed: source holds {count} of {args.records} records")
            print(
                f"loaded source: {count:,} records {per_namespace} in {time.perf_counter() - started:.1f} s "
                "(not measured)",
                flush=True,
            )
            for run, (label, flags) in enumerate(modes):
                result = run_mode(args, source, target, source_host, work, run, len(modes), label, flags)
                result["verified"] = verify(source.url, target.url, result["name"], work, args.timeout)
                results.append(result)
    ok = all([report(result, args, result["verified"]) for result in results])
    print(f"\nall targets met: {'yes' if ok else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
