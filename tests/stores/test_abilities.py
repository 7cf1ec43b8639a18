"""fetches_by_metadata: the one answer to "may the engine ask this store to evaluate a filter?"."""

from __future__ import annotations

from pinecone_migrator.stores.base import Capabilities, fetches_by_metadata
from pinecone_migrator.stores.memory import MemoryStore
from tests.stores.conformance import SHAPE


def test_a_store_that_implements_and_can_is_returned() -> None:
    store = MemoryStore("m", SHAPE, limits=Capabilities(can_fetch_by_metadata=True))
    assert fetches_by_metadata(store) is store


def test_implementing_the_method_is_not_enough() -> None:
    # Like a pod-based Pinecone index: the method is there, the service refuses it.
    store = MemoryStore("m", SHAPE, limits=Capabilities(can_fetch_by_metadata=False))
    assert fetches_by_metadata(store) is None
