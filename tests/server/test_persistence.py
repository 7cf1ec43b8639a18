"""Every write acknowledged with 2xx survives a restart and a SIGKILL of the server."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from pinecone import Pinecone

from ..helpers import as_plain, dense_index, expected, random_records
from ..serverproc import ServerProcess


def _pinecone(url: str) -> Pinecone:
    return Pinecone(api_key="k", host=url)


def test_restart_keeps_indexes_and_records(tmp_path: Path) -> None:
    records = random_records(50, 8, random.Random(5), sparse=True)
    with ServerProcess(tmp_path) as server:
        pc = _pinecone(server.url)
        pc.create_index(
            name="kept",
            dimension=8,
            metric="dotproduct",
            spec={"serverless": {"cloud": "aws", "region": "us-east-1"}},
        )
        index = pc.index(host=pc.describe_index("kept").host)
        index.upsert(vectors=records, namespace="ns")
        index.create_namespace(name="empty-ns")
    with ServerProcess(tmp_path) as server:
        pc = _pinecone(server.url)
        description = pc.describe_index("kept")
        assert (description.dimension, description.metric) == (8, "dotproduct")
        index = pc.index(host=description.host)
        got = index.fetch(ids=[r["id"] for r in records], namespace="ns").vectors
        assert {k: as_plain(v) for k, v in got.items()} == {r["id"]: expected(r) for r in records}
        assert {ns.name for page in index.list_namespaces() for ns in page.namespaces} == {"ns", "empty-ns"}


def test_sigkill_mid_write_loses_no_acknowledged_record(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        pc = _pinecone(server.url)
        index = dense_index(pc, "crash", dimension=32)
        acknowledged: list[dict[str, Any]] = []
        stop = threading.Event()

        def writer(worker: int) -> None:
            rng = random.Random(worker)
            batch_no = 0
            while not stop.is_set():
                batch = random_records(50, 32, rng, prefix=f"w{worker}-b{batch_no}-")
                batch_no += 1
                try:
                    index.upsert(vectors=batch, namespace="hot")
                except Exception:
                    return  # the server died under us: this batch was never acknowledged
                acknowledged.extend(batch)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert len(acknowledged) >= 1500
    finally:
        server.kill()
    with ServerProcess(tmp_path) as restarted:
        index = _pinecone(restarted.url).index(host=_pinecone(restarted.url).describe_index("crash").host)
        found: dict[str, Any] = {}
        ids = [r["id"] for r in acknowledged]
        for start in range(0, len(ids), 200):
            found.update(index.fetch(ids=ids[start : start + 200], namespace="hot").vectors)
        assert {k: as_plain(v) for k, v in found.items() if k in set(ids)} == {
            r["id"]: expected(r) for r in acknowledged
        }
