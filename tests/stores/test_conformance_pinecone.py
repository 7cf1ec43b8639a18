"""The Pinecone store, on the local server through the official SDK and REST, passes the conformance suite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy

from .conformance import SHAPE, SOURCE, Harness, StoreConformance

FAST_RETRY = RetryPolicy(attempts=5, base_seconds=0.01, max_seconds=0.05, budget_seconds=5)


class PineconeHarness(Harness):
    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self._numbers = itertools.count()

    def _new(self, shape: IndexShape = SHAPE) -> PineconeStore:
        store = PineconeStore(f"index-{next(self._numbers)}", "key", self.server.url, retry=FAST_RETRY)
        store.create_like(replace(SOURCE, shape=shape))
        return store

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> PineconeStore:
        store = self._new(shape)
        for namespace, records in contents.items():
            for start in range(0, len(records), 1_000):
                store.write(namespace, records[start : start + 1_000])
        return store

    def empty(self) -> PineconeStore:
        return self._new()

    def missing(self) -> PineconeStore:
        return PineconeStore("no-such-index", "key", self.server.url, retry=FAST_RETRY)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with BackgroundServer(ServerConfig(port=0)) as server:
        yield PineconeHarness(server)


class TestPineconeStore(StoreConformance):
    pass
