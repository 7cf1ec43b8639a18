"""Milvus (Milvus Lite, embedded in the bench's process) for bench/other_databases.py: a data directory in
a temporary folder, store URIs of new collections in it, and the native load — pymilvus ``insert`` of
rows in batches of 2,000 into a collection laid out as the store creates one (our pk/id/namespace fields,
FLOAT_VECTOR with a FLAT COSINE index, the sparse field holding the no-sparse marker, JSON metadata)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.milvus import open_uri
from pinecone_migrator.stores.milvus.layout import NO_SPARSE_INDEX, NO_SPARSE_VALUE
from pinecone_migrator.stores.uri import parse

NAMESPACE = "bench"
BATCH = 2_000


class MilvusBench:
    def __init__(self) -> None:
        self.folder: Path | None = None

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="milvus-bench-"))

    def stop(self) -> None:
        if self.folder is None:
            return
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(self._path()))
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _path(self) -> Path:
        assert self.folder is not None, "start() first"
        return self.folder / "bench.db"

    def uri(self, name: str) -> str:
        return f"milvus://{self._path()}?collection={name}"

    def native_load(
        self, name: str, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> None:
        from pymilvus import MilvusClient

        # The collection our store would create (same fields and indexes), made through the store.
        shape = IndexShape("dense", "cosine", int(vectors.shape[1]))
        open_uri(parse(self.uri(name), side="target")).create_like(
            replace(StoreDescription(name=name, shape=shape, namespace_counts={}))
        )
        client = MilvusClient(str(self._path()))
        prefix = f"{len(NAMESPACE)}:{NAMESPACE}"
        for start in range(0, len(ids), BATCH):
            rows = [
                {
                    "pk": prefix + ids[n],
                    "id": ids[n],
                    "namespace": NAMESPACE,
                    "vector": vectors[n].tolist(),
                    "sparse": {NO_SPARSE_INDEX: NO_SPARSE_VALUE},
                    "metadata": metadata[n],
                }
                for n in range(start, min(start + BATCH, len(ids)))
            ]
            client.insert(name, rows)
