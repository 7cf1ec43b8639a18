"""Parallel upserts, deletes and lists never corrupt or lose data."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from pinecone import Pinecone

from ..helpers import all_ids, as_plain, dense_index, expected, random_records


def test_parallel_writers_deleters_and_listers(pc: Pinecone) -> None:
    index = dense_index(pc, "busy", dimension=8)
    batches = [random_records(100, 8, random.Random(seed), prefix=f"w{seed:02d}-") for seed in range(12)]
    doomed = {r["id"] for batch in batches[:6] for r in batch[:30]}

    def write(batch: list[dict[str, object]]) -> None:
        index.upsert(vectors=batch, namespace="shared")

    def delete_some(seed: int) -> None:
        ids = [r["id"] for r in batches[seed][:30]]
        index.upsert(vectors=batches[seed], namespace="shared")
        index.delete(ids=ids, namespace="shared")

    def list_all(_: int) -> list[str]:
        listed = all_ids(index, namespace="shared", limit=37)
        assert listed == sorted(set(listed)), "a page repeated or reordered an ID"
        return listed

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(write, batch) for batch in batches[6:]]
        jobs += [pool.submit(delete_some, seed) for seed in range(6)]
        jobs += [pool.submit(list_all, n) for n in range(6)]
        for job in jobs:
            job.result()

    survivors = {r["id"]: r for batch in batches for r in batch if r["id"] not in doomed}
    assert all_ids(index, namespace="shared") == sorted(survivors)
    assert index.describe_index_stats().namespaces["shared"].vector_count == len(survivors)
    fetched: dict[str, object] = {}
    ids = sorted(survivors)
    for start in range(0, len(ids), 300):
        fetched.update(
            {
                k: as_plain(v)
                for k, v in index.fetch(ids=ids[start : start + 300], namespace="shared").vectors.items()
            }
        )
    assert fetched == {k: expected(v) for k, v in survivors.items()}
