"""Qdrant for bench/other_databases.py: qdrant-client's local mode (no Qdrant server can be installed from
the registries here) in a folder of its own, store URIs of new collections in it, and the native load —
qdrant-client's own bulk path, ``upload_collection`` of the whole set (a float32 array and the payloads, in
batches of 1,000), into a collection made as the store makes one (named vectors ``dense``, cosine, and
``sparse``), with the point IDs and payload keys the store writes.

The folder is in memory (/dev/shm) where the machine has one: local mode commits each point to SQLite on its
own, so on disk both paths would measure the disk's sync per point (about 5 ms here) rather than the work
around it. The native load goes through the store's client of the folder: local mode lets one client at a
time hold a folder, and the workflows measured in the same process hold it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.qdrant import open_uri
from pinecone_migrator.stores.qdrant.connection import release_folder
from pinecone_migrator.stores.qdrant.mapping import payload_of, point_id
from pinecone_migrator.stores.qdrant.settings import DEFAULT_VECTOR
from pinecone_migrator.stores.uri import parse

BATCH = 1_000
NAMESPACE = "bench"  # where bench/other_databases.py writes in the source index


class QdrantBench:
    def __init__(self) -> None:
        self.folder: Path | None = None

    def start(self) -> None:
        memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.folder = Path(tempfile.mkdtemp(prefix="qdrant-bench-", dir=memory))

    def stop(self) -> None:
        if self.folder is not None:
            release_folder(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def uri(self, name: str) -> str:
        assert self.folder is not None, "start() first"
        return f"qdrant://{self.folder}?collection={name}"

    def native_load(
        self, name: str, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> None:
        store = open_uri(parse(self.uri(name), side="target"))
        shape = IndexShape("dense", "cosine", int(vectors.shape[1]))
        store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={}))
        points = [point_id(NAMESPACE, record_id) for record_id in ids]
        payloads = [
            payload_of(Record(record_id, metadata=extra), NAMESPACE, "namespace")
            for record_id, extra in zip(ids, metadata, strict=True)
        ]
        dense = np.ascontiguousarray(vectors, dtype=np.float32)
        store.connection.call(
            "native load",
            lambda client: client.upload_collection(
                name,
                vectors={DEFAULT_VECTOR: dense},
                payload=payloads,
                ids=points,
                batch_size=BATCH,
                wait=True,
            ),
        )


def engine_keeps_normalised(count: int = 20_000, seed: int = 3) -> tuple[int, int, int]:
    """Whether Qdrant's own engine (qdrant-edge-py: the server's Rust segment code, in process; ``pip install
    qdrant-edge-py``) keeps the cosine vectors :func:`normalised` makes, as the server would when a copy
    writes them. Returns (vectors, changed by the engine, engine's scaling of the raw vector differing
    from local mode's), the last to show why the fixed point matters."""
    import sys

    import qdrant_edge  # type: ignore[import-not-found]

    from pinecone_migrator.stores.fidelity import normalised

    rng = np.random.default_rng(seed)
    by_dimension: dict[int, list[np.ndarray]] = {}
    for n in range(count):
        dimension = (2, 4, 7, 16, 33, 64, 768)[n % 7]
        raw = (rng.standard_normal(dimension) * 10.0 ** rng.integers(-6, 8)).astype(np.float32)
        by_dimension.setdefault(dimension, []).append(raw)
    changed = differing = 0
    folder = Path(tempfile.mkdtemp(prefix="qdrant-edge-"))
    try:
        for dimension, raws in by_dimension.items():
            params = qdrant_edge.EdgeVectorParams(size=dimension, distance=qdrant_edge.Distance.Cosine)
            shard = qdrant_edge.EdgeShard.create(
                str(folder / str(dimension)), qdrant_edge.EdgeConfig(vectors={"v": params})
            )
            ours = [normalised(Record("x", raw)).values for raw in raws]
            local = [raw / np.linalg.norm(raw) for raw in raws]  # local mode's one step
            points = [qdrant_edge.Point(n, {"v": v.tolist()}, None) for n, v in enumerate(ours)]
            points += [
                qdrant_edge.Point(len(raws) + n, {"v": raw.tolist()}, None) for n, raw in enumerate(raws)
            ]
            shard.update(qdrant_edge.UpdateOperation.upsert_points(points))
            held = {
                r.id: np.asarray(r.vector["v"], np.float32).tobytes()
                for r in shard.retrieve(list(range(2 * len(raws))), None, True)
            }
            changed += sum(held[n] != v.tobytes() for n, v in enumerate(ours) if v is not None)
            differing += sum(held[len(raws) + n] != v.tobytes() for n, v in enumerate(local))
            shard.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{count:,} vectors: the engine changed {changed} of ours; its own scaling differs from local mode's "
        f"on {differing}",
        file=sys.stdout,
    )
    return count, changed, differing


if __name__ == "__main__":
    engine_keeps_normalised()
