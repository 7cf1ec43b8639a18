"""Chroma (a real ``chroma run`` server) passes the store conformance suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, Store
from pinecone_migrator.stores.chroma import open_uri
from pinecone_migrator.stores.chroma.room import CHROMA
from pinecone_migrator.stores.chroma.store import ChromaStore
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import SHAPE, SOURCE, Harness, StoreConformance

from .server import ChromaServer


class ChromaHarness(Harness):
    shapes = (SHAPE,)  # a local Chroma server holds no sparse vectors
    room = CHROMA

    def __init__(self, server: ChromaServer) -> None:
        self.server = server

    def _store(self, database: str) -> ChromaStore:
        return open_uri(parse(self.server.uri(database), side="target"))

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        store = self._store(self.server.new_database("filled"))
        store.create_like(replace(SOURCE, shape=shape))
        most = store.capabilities().max_write_records
        for namespace, records in contents.items():
            for start in range(0, len(records), most):
                store.write(namespace, records[start : start + most])
        return store

    def empty(self) -> Store:
        store = self._store(self.server.new_database("empty"))
        store.create_like(SOURCE)
        return store

    def missing(self) -> Store:
        return self._store("never-created")


@pytest.fixture(scope="module")
def harness(chroma_server: ChromaServer) -> Harness:
    return ChromaHarness(chroma_server)


class TestChromaStore(StoreConformance):
    pass
