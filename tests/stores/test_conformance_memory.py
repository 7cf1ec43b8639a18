"""The in-memory store passes the conformance suite."""

from __future__ import annotations

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.memory import MemoryStore

from .conformance import SHAPE, SOURCE, Harness, StoreConformance


class MemoryHarness(Harness):
    def filled(self, contents: dict[str, list[Record]]) -> MemoryStore:
        store = MemoryStore("filled", SHAPE)
        for namespace, records in contents.items():
            for start in range(0, len(records), 1_000):
                store.write(namespace, records[start : start + 1_000])
        return store

    def empty(self) -> MemoryStore:
        store = MemoryStore("empty")
        store.create_like(SOURCE)
        return store

    def missing(self) -> MemoryStore:
        return MemoryStore("missing")


@pytest.fixture(scope="module")
def harness() -> Harness:
    return MemoryHarness()


class TestMemoryStore(StoreConformance):
    pass
