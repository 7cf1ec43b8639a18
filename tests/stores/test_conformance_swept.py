"""A pod-based index made listable by sweeping it (SweptSource), on the local server, passes the conformance
suite as a source over both data-plane transports (REST and gRPC): it is read, never written."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from pinecone import Pinecone, PodSpec

from pinecone_migrator.records import Record
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy
from pinecone_migrator.stores.swept import SweptSource

from .conformance import SHAPE, Harness, StoreConformance

FAST_RETRY = RetryPolicy(attempts=5, base_seconds=0.01, max_seconds=0.05, budget_seconds=5)


class SweptHarness(Harness):
    def __init__(self, server: BackgroundServer, work: Path, transport: str) -> None:
        self.server = server
        self.work = work
        self.transport = transport
        self._numbers = itertools.count()

    def _swept(self, name: str) -> SweptSource:
        pod = PineconeStore(name, "key", self.server.url, retry=FAST_RETRY, transport=self.transport)
        return SweptSource(pod, self.work / f"{name}.sweep.sqlite", seed=1)

    shapes = (SHAPE,)  # Pinecone's pod indexes are dense: a sparse index is serverless only

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> SweptSource:
        assert shape == SHAPE
        name = f"pod-{next(self._numbers)}"
        Pinecone(api_key="key", host=self.server.url).create_index(
            name, dimension=SHAPE.dimension, metric=SHAPE.metric, spec=PodSpec(environment="us-east-1-aws")
        )
        pod = PineconeStore(name, "key", self.server.url, retry=FAST_RETRY, transport=self.transport)
        for namespace, records in contents.items():
            for start in range(0, len(records), 1_000):
                pod.write(namespace, records[start : start + 1_000])
        return self._swept(name)

    def empty(self) -> None:
        return None  # a sweep's listing is fixed once finished: later writes would never be listed

    def missing(self) -> SweptSource:
        return self._swept("no-such-pod")


@pytest.fixture(scope="module", params=["rest", "grpc"])
def harness(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Harness]:
    with BackgroundServer(ServerConfig(port=0, grpc_port=0)) as server:
        yield SweptHarness(server, tmp_path_factory.mktemp("swept"), request.param)


class TestSweptSource(StoreConformance):
    pass
