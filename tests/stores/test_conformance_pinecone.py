"""The Pinecone store, on the local server (control plane through the official SDK), passes the
conformance suite over both data-plane transports: REST, and gRPC through the SDK's gRPC client
(``serve --grpc-port``)."""

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
    def __init__(self, server: BackgroundServer, transport: str) -> None:
        self.server = server
        self.transport = transport
        self._numbers = itertools.count()

    def _store(self, name: str) -> PineconeStore:
        return PineconeStore(name, "key", self.server.url, retry=FAST_RETRY, transport=self.transport)

    def _new(self, shape: IndexShape = SHAPE) -> PineconeStore:
        store = self._store(f"index-{next(self._numbers)}")
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
        return self._store("no-such-index")


@pytest.fixture(scope="module", params=["rest", "grpc"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    with BackgroundServer(ServerConfig(port=0, grpc_port=0)) as server:
        yield PineconeHarness(server, request.param)


class TestPineconeStore(StoreConformance):
    pass
