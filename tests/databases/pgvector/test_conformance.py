"""A table of a real PostgreSQL server with pgvector passes the store conformance suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import IndexShape, Store
from pinecone_migrator.stores.pgvector import open_uri
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import SHAPE, SOURCE, Harness, StoreConformance

from .conftest import new_table
from .server import PostgresServer

# What a table created here holds: Pinecone's records and more (no metadata size limit, any text ID up to
# 512 characters, sparse values beside any metric), but sparse indices below 1,000,000,000 (pgvector's
# sparsevec) and no sparse value of 0; metrics under pgvector's operator names where they differ.
PGVECTOR_ROOM = fidelity.Room(
    kind="pgvector",
    metrics=frozenset({"cosine", "euclidean", "dotproduct", "manhattan"}),
    metric_names={"euclidean": "l2", "dotproduct": "inner product"},
    sparse_metrics=None,
    max_dimension=16_000,
    max_sparse_nonzeros=16_000,
    max_sparse_index=999_999_999,
    sparse_zeros=False,
    metadata_nested=True,
    max_metadata_bytes=None,
    max_id_length=512,
    ascii_ids=False,
)


class PgvectorHarness(Harness):
    room = PGVECTOR_ROOM

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def _store(self, table: str) -> Store:
        return open_uri(parse(self.server.uri(table), side="target"))

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        store = self._store(new_table("filled"))
        store.create_like(replace(SOURCE, shape=shape))  # type: ignore[attr-defined]
        most = store.capabilities().max_write_records
        for namespace, records in contents.items():
            for start in range(0, len(records), most):
                store.write(namespace, records[start : start + most])
        return store

    def empty(self) -> Store:
        store = self._store(new_table("empty"))
        store.create_like(SOURCE)  # type: ignore[attr-defined]
        return store

    def missing(self) -> Store:
        return self._store("never_created")


@pytest.fixture(scope="module")
def harness(postgres: PostgresServer) -> Harness:
    return PgvectorHarness(postgres)


class TestPgvectorStore(StoreConformance):
    pass
