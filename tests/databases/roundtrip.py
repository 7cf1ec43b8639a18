"""End-to-end helpers for other databases: a hybrid index on the local Pinecone server, the CLI run as a
user runs it, and every record of any store read back for record-by-record comparison.

A test of a database does, in words: make :func:`hybrid_records` into a Pinecone index (:func:`fill_index`),
``migrate --source-index ... --target URI``, then ``migrate --source URI --target-index ...`` into a new
index, and compare :func:`index_records` of both indexes (through :func:`expected_after`, the listed
changes); :func:`killed_mid_run` stops a run with SIGKILL part-way for a resume test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import orjson

from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, Store
from pinecone_migrator.stores.fidelity import Fidelity, Room, between
from pinecone_migrator.stores.registry import PineconeIndex, open_store
from tests.cliproc import ledger_progress, wait_for_listed
from tests.serverproc import ServerProcess

KEY = "roundtrip-key"
KEY_VARIABLE = "ROUNDTRIP_KEY"
NAMESPACES = (DEFAULT_NAMESPACE, "tenant-a", "tenant b/2")
DIMENSION = 8
HYBRID = IndexShape("dense", "dotproduct", DIMENSION)


def pinecone_server(data_dir: Path) -> ServerProcess:
    """A local Pinecone server (enter it as a context manager) that takes :data:`KEY`."""
    return ServerProcess(data_dir, "--api-key", KEY)


def hybrid_records(per_namespace: int = 40, seed: int = 15) -> dict[str, list[Record]]:
    """Records of a hybrid (dotproduct) index in three namespaces: dense values with -0.0 and a subnormal
    among them, sparse values on every other record (indices up to 2**32-1 on a few), and every metadata
    type (text with quotes, newlines and non-ASCII; integers, 0.1, 2**53+2; both booleans; lists of
    strings with repeats, an empty one), IDs with characters that need quoting somewhere."""
    rng = np.random.default_rng(seed)
    contents: dict[str, list[Record]] = {}
    for n_ns, namespace in enumerate(NAMESPACES):
        records = []
        for n in range(per_namespace):
            values = rng.standard_normal(DIMENSION).astype(np.float32)
            if n == 0:
                values[:2] = np.array([-0.0, 1.4e-45], dtype=np.float32)
            sparse = None
            if n % 2 == 0:
                top = 2**32 - 1 if n % 10 == 0 else 30_000
                indices = np.unique(rng.integers(0, top, size=3, dtype=np.uint64)).astype(np.uint32)
                sparse = SparseValues(indices, rng.standard_normal(indices.size).astype(np.float32))
            metadata = {
                "title": f'doc {n} "quoted" — é\nline' if n % 3 == 0 else f"doc {n}",
                "n": n,
                "ratio": 0.1 * n,
                "big": 2.0**53 + 2,
                "flag": n % 2 == 0,
                "tags": ["b", "a", "b"] if n % 4 == 0 else [f"t{n % 5}"],
                "tenant": namespace,
            }
            if n % 7 == 3:
                metadata["empty"] = []
            record_id = ["plain-{}", "a#{}", "a/b:{}", "it's-{}", "%_{}", "x y {}"][n % 6].format(n)
            records.append(Record(id=f"{record_id}-{n_ns}", values=values, sparse=sparse, metadata=metadata))
        contents[namespace] = records
    return contents


def index(server: ServerProcess, name: str) -> Store:
    """Our Pinecone store of index ``name`` on ``server`` (reads and writes through the REST data plane)."""
    return open_store(PineconeIndex(name, server.url, api_key=KEY))


def fill_index(
    server: ServerProcess, name: str, contents: dict[str, list[Record]], shape: IndexShape = HYBRID
) -> None:
    """Create index ``name`` of ``shape`` on ``server`` holding ``contents``."""
    from pinecone_migrator.stores.base import CreatesLike, StoreDescription

    store = index(server, name)
    assert isinstance(store, CreatesLike)
    store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={}))
    for namespace, records in contents.items():
        for start in range(0, len(records), 100):
            store.write(namespace, records[start : start + 100])


def records_of(store: Store, namespaces: Sequence[str] | None = None) -> dict[str, dict[str, Record]]:
    """Every record of ``store`` (its namespaces, or those named), by namespace and ID."""
    chosen = list(namespaces) if namespaces is not None else sorted(store.describe().namespace_counts)
    found: dict[str, dict[str, Record]] = {}
    for namespace in chosen:
        ids: list[str] = []
        cursor = None
        while True:
            page = store.list_ids(namespace, cursor=cursor, limit=100)
            ids += page.ids
            cursor = page.cursor
            if cursor is None:
                break
        records = {}
        for start in range(0, len(ids), 100):
            records.update({r.id: r for r in store.fetch(namespace, ids[start : start + 100])})
        if records:
            found[namespace] = records
    return found


def index_records(server: ServerProcess, name: str) -> dict[str, dict[str, Record]]:
    return records_of(index(server, name))


def as_records(contents: dict[str, list[Record]]) -> dict[str, dict[str, Record]]:
    return {namespace: {r.id: r for r in records} for namespace, records in contents.items() if records}


def fidelity_of(room: Room, shape: IndexShape = HYBRID) -> Fidelity:
    """The changes copying a Pinecone index of ``shape`` into a store of ``room`` makes."""
    return between(shape, Room(), room)


def expected_after(contents: dict[str, list[Record]], fidelity: Fidelity) -> dict[str, dict[str, Record]]:
    """What a target holds of ``contents`` after the pair's changes (records it refuses left out)."""
    return as_records({ns: fidelity.held(records) for ns, records in contents.items()})


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``pinecone-migrator ARGS`` as a child process, with :data:`KEY` in :data:`KEY_VARIABLE`; ``--yes``
    is not added (a child has no terminal: nothing asks)."""
    return subprocess.run(
        cli_command(*args), env=cli_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pinecone_migrator", *args]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, KEY_VARIABLE: KEY, "PYTHONUNBUFFERED": "1", **(extra or {})}


def pinecone_side(server: ServerProcess, role: str, name: str) -> list[str]:
    """The flags naming index ``name`` on ``server`` as the source or target of a command."""
    return [f"--{role}-index", name, f"--{role}-host", server.url, f"--{role}-api-key-env", KEY_VARIABLE]


def killed_mid_run(
    args: Sequence[str],
    ledger: Path,
    at_least: int,
    env: dict[str, str] | None = None,
    until: Callable[[], bool] | None = None,
) -> int:
    """Start ``pinecone-migrator ARGS`` (which must pass ``--state LEDGER``), SIGKILL it once its ledger
    has listed ``at_least`` IDs — or, with ``until``, once that says so (e.g. the target holds some rows:
    a ledger commits whole batches, which may be all of a small namespace) — and return how many IDs it
    had listed."""
    running = subprocess.Popen(
        cli_command(*args), env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if until is None:
            wait_for_listed(ledger, at_least, running)
        else:
            deadline = time.monotonic() + 120
            while not until():
                assert running.poll() is None, f"the run ended first (exit {running.returncode})"
                assert time.monotonic() < deadline, "the run did not get there within 120 s"
                time.sleep(0.01)
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(timeout=30)
    return ledger_progress(ledger)[0]


def summary_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The JSON summary a command with ``--log-format json`` prints last on stdout."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary on stdout (exit {result.returncode}): {result.stderr[-2000:]}"
    parsed: dict[str, object] = orjson.loads(lines[-1])
    return parsed
