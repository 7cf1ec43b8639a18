"""A LanceDB table (embedded, in a temporary folder) passes the store conformance suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import IndexShape, Store
from pinecone_migrator.stores.lancedb import open_uri
from pinecone_migrator.stores.lancedb.store import LanceStore
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import SHAPE, SOURCE, Harness, StoreConformance

from .server import LanceFolder

# What a table created here holds: every Pinecone record exactly (sparse values beside any metric, metadata
# as JSON text), and more than Pinecone (no size or ID limits); metrics under LanceDB's own names.
LANCE_ROOM = fidelity.Room(
    kind="LanceDB",
    metric_names={"cosine": "cosine", "euclidean": "l2", "dotproduct": "dot"},
    sparse_metrics=None,
    max_dimension=None,
    max_sparse_nonzeros=None,
    metadata_nested=True,
    max_metadata_bytes=None,
    max_id_length=None,
    ascii_ids=False,
)


class LanceHarness(Harness):
    room = LANCE_ROOM

    def __init__(self, folder: LanceFolder) -> None:
        self.folder = folder

    def _store(self, name: str) -> LanceStore:
        return open_uri(parse(self.folder.uri(name), side="target"))

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        store = self._store(self.folder.new_name("filled"))
        store.create_like(replace(SOURCE, shape=shape))
        most = store.capabilities().max_write_records
        for namespace, records in contents.items():
            for start in range(0, len(records), most):
                store.write(namespace, records[start : start + most])
        return store

    def empty(self) -> Store:
        store = self._store(self.folder.new_name("empty"))
        store.create_like(SOURCE)
        return store

    def missing(self) -> Store:
        return self._store("never-created")


@pytest.fixture(scope="module")
def harness(lance_folder: LanceFolder) -> Harness:
    return LanceHarness(lance_folder)


class TestLanceStore(StoreConformance):
    pass
