"""A source that cannot list its IDs (a pod-based index), seen through one query per namespace: enough for
a plan's sample of records, without the query sweeps a migration runs to find every ID."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ...records import Record
from ...stores.base import Capabilities, IdPage, QueriesIds, Store, StoreDescription, WriteAck

SAMPLE_IDS = 200


class QuerySampled:
    """``source`` whose ``list_ids`` answers one page, the IDs nearest a fixed query vector; everything
    else is the source's own. For plans only: the listing it offers is a sample, not every ID."""

    def __init__(self, source: Store, searcher: QueriesIds) -> None:
        self.source = source
        self.searcher = searcher

    def exists(self) -> bool:
        return self.source.exists()

    def describe(self) -> StoreDescription:
        return self.source.describe()

    def capabilities(self) -> Capabilities:
        return replace(self.source.capabilities(), can_list=True)

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        dimension = self.source.describe().shape.dimension or 1
        ids = self.searcher.query_ids(namespace, top_k=SAMPLE_IDS, vector=[1.0] * dimension)
        return IdPage([i for i in ids if i.startswith(prefix)], None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        return self.source.fetch(namespace, ids)

    def request_size(self, record: Record) -> int:
        return self.source.request_size(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        raise NotImplementedError("a plan writes nothing")

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise NotImplementedError("a plan deletes nothing")


def sampled_by_query(source: Store) -> Store:
    """``source`` itself when it lists its IDs; a pod-based one through :class:`QuerySampled`."""
    if not source.exists() or source.capabilities().can_list or not isinstance(source, QueriesIds):
        return source
    return QuerySampled(source, source)
