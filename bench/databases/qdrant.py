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
