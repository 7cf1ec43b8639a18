"""Chroma for bench/other_databases.py: a real server (tests/databases/chroma/server.py: ``chroma run`` from
the chromadb package, data in a temporary folder), store URIs of new databases on it, and the native load:
the chromadb client's own ``collection.add`` in batches of 1,000 (embeddings sent as base64 float32, as the
store sends them; measured a little faster than the server's largest batch, 5,461, whose inserts slow
down), into the collection the store's create_like makes for namespace :data:`NAMESPACE` (for a cosine
source, an ip collection: see stores/chroma/room.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.chroma import open_uri
from pinecone_migrator.stores.chroma.store import ChromaStore
from pinecone_migrator.stores.uri import parse
from tests.databases.chroma.server import ChromaServer

NAMESPACE = "bench"


class ChromaBench:
    def __init__(self) -> None:
        self.server: ChromaServer | None = None

    def start(self) -> None:
        self.server = ChromaServer()
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _server(self) -> ChromaServer:
        assert self.server is not None, "start() first"
        return self.server

    def uri(self, name: str) -> str:
        """A store URI of a new database ``name`` (created by the first write)."""
        return self._server().uri(name)

    def native_load(
        self, name: str, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> None:
        shape = IndexShape("dense", "cosine", int(vectors.shape[1]))
        store = open_uri(parse(self.uri(name), side="target"))
        assert isinstance(store, ChromaStore)
        store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={NAMESPACE: len(ids)}))
        collection = store._collection(NAMESPACE)
        batch = 1_000
        values = np.ascontiguousarray(vectors, dtype=np.float32)
        for start in range(0, len(ids), batch):
            end = start + batch
            collection.add(
                ids=ids[start:end],
                embeddings=values[start:end],
                metadatas=[m or None for m in metadata[start:end]],
            )
