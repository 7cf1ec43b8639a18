"""A Milvus collection (Milvus Lite, embedded) passes the store conformance suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import IndexShape, Store
from pinecone_migrator.stores.milvus import open_uri
from pinecone_migrator.stores.milvus.layout import MILVUS_ROOM
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import SHAPE, SOURCE, Harness, StoreConformance

from .server import LiteDirectory


class MilvusHarness(Harness):
    room = MILVUS_ROOM

    def __init__(self, lite: LiteDirectory) -> None:
        self.lite = lite

    def _store(self, name: str) -> Store:
        return open_uri(parse(self.lite.uri(name), side="target"))

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        store = self._store(self.lite.new_name("filled"))
        assert isinstance(store, fidelity.DescribesRoom)
        store.create_like(replace(SOURCE, shape=shape))  # type: ignore[attr-defined]
        most = store.capabilities().max_write_records
        for namespace, records in contents.items():
            for start in range(0, len(records), most):
                store.write(namespace, records[start : start + most])
        return store

    def empty(self) -> Store:
        store = self._store(self.lite.new_name("empty"))
        store.create_like(SOURCE)  # type: ignore[attr-defined]
        return store

    def missing(self) -> Store:
        return self._store("never_created")


@pytest.fixture(scope="module")
def harness(lite: LiteDirectory) -> Harness:
    return MilvusHarness(lite)


class TestMilvusStore(StoreConformance):
    pass
