"""Exact (brute-force) scoring as Pinecone scores: cosine, euclidean, dotproduct, sparse and hybrid.

A namespace's records are loaded once into arrays (a :class:`NamespaceView`) and kept until the namespace
changes, so repeated queries and filter scans do not re-read the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..filters import MetadataPredicate
from .store import IndexData, StoredRecord

FloatArray = npt.NDArray[np.float32]


@dataclass
class NamespaceView:
    """A namespace's records as arrays. Each array is built on first use: a filter scan (fetch_by_metadata,
    stats with a filter) needs only IDs and metadata, and rebuilding the dense matrix after every write
    made such scans the local server's bottleneck under a steady write load."""

    version: int
    records: list[StoredRecord]
    ids: list[str]
    dimension: int | None  # dense indexes only

    @cached_property
    def dense(self) -> FloatArray | None:  # one row per record
        if self.dimension is None:
            return None
        dense = np.empty((len(self.records), self.dimension), dtype=np.float32)
        for row, record in enumerate(self.records):
            dense[row] = np.frombuffer(record.values or b"", dtype=np.float32)
        return dense

    @cached_property
    def norms(self) -> FloatArray | None:
        return None if self.dense is None else np.linalg.norm(self.dense, axis=1).astype(np.float32)

    @cached_property
    def _sparse(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], FloatArray]:
        """For every stored sparse pair: the record it belongs to, its index and its value."""
        rows: list[npt.NDArray[np.int64]] = []
        indices: list[npt.NDArray[np.uint32]] = []
        values: list[FloatArray] = []
        for row, record in enumerate(self.records):
            pair = record.sparse()
            if pair is not None:
                rows.append(np.full(len(pair[0]), row, dtype=np.int64))
                indices.append(pair[0])
                values.append(pair[1])
        if not rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.float32)
        return np.concatenate(rows), np.concatenate(indices), np.concatenate(values)

    @property
    def sparse_rows(self) -> npt.NDArray[np.int64]:
        return self._sparse[0]

    @property
    def sparse_indices(self) -> npt.NDArray[np.uint32]:
        return self._sparse[1]

    @property
    def sparse_values(self) -> FloatArray:
        return self._sparse[2]

    @cached_property
    def metadata(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.metadata) if r.metadata else {} for r in self.records]

    def matching(self, predicate: MetadataPredicate | None) -> npt.NDArray[np.bool_]:
        if predicate is None:
            return np.ones(len(self.records), dtype=bool)
        return np.fromiter((predicate(m) for m in self.metadata), dtype=bool, count=len(self.records))


def view_of(data: IndexData, ns: str) -> NamespaceView:
    """The (cached) view of a namespace as it is now."""
    version = data.versions.get(ns, 0)
    cached = data.views.get(ns)
    if isinstance(cached, NamespaceView) and cached.version == version:
        return cached
    records = list(data.scan(ns))
    dense = data.vector_type == "dense" and data.dimension is not None
    view = NamespaceView(version, records, [r.id for r in records], data.dimension if dense else None)
    data.views[ns] = view
    return view


def _sparse_scores(
    view: NamespaceView, q_indices: npt.NDArray[np.uint32], q_values: FloatArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Sparse dot product of the query with every record, and whether any index overlaps."""
    n = len(view.records)
    if len(view.sparse_indices) == 0 or len(q_indices) == 0:
        return np.zeros(n, dtype=np.float64), np.zeros(n, dtype=bool)
    order = np.argsort(q_indices)
    qi, qv = q_indices[order], q_values[order].astype(np.float64)
    pos = np.searchsorted(qi, view.sparse_indices)
    pos_clipped = np.minimum(pos, len(qi) - 1)
    hit = qi[pos_clipped] == view.sparse_indices
    contributions = np.where(hit, view.sparse_values.astype(np.float64) * qv[pos_clipped], 0.0)
    scores = np.bincount(view.sparse_rows, weights=contributions, minlength=n).astype(np.float64)
    overlaps = np.bincount(view.sparse_rows, weights=hit.astype(np.float64), minlength=n) > 0
    return scores, overlaps


def score(
    view: NamespaceView,
    metric: str,
    vector: FloatArray | None,
    sparse: tuple[npt.NDArray[np.uint32], FloatArray] | None,
    candidates: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Scores of every record (higher is better, except euclidean: squared distance, lower is better)."""
    n = len(view.records)
    scores = np.zeros(n)
    eligible = candidates.copy()
    if vector is not None and view.dense is not None and n:
        dots = view.dense.astype(np.float64) @ vector.astype(np.float64)
        if metric == "cosine":
            assert view.norms is not None
            denominator = view.norms.astype(np.float64) * float(np.linalg.norm(vector))
            scores = np.divide(dots, denominator, out=np.zeros(n), where=denominator > 0)
        elif metric == "euclidean":
            diff = view.dense.astype(np.float64) - vector.astype(np.float64)
            scores = np.einsum("ij,ij->i", diff, diff)
        else:
            scores = dots
    if sparse is not None:
        sparse_scores, overlaps = _sparse_scores(view, sparse[0], sparse[1])
        scores = scores + sparse_scores
        if view.dense is None:  # a sparse index returns only records that share a dimension with the query
            eligible &= overlaps
    return scores, eligible


def top_k(
    view: NamespaceView, scores: npt.NDArray[np.float64], eligible: npt.NDArray[np.bool_], k: int, metric: str
) -> list[tuple[int, float]]:
    """(row, score) of the best ``k`` eligible records; ties broken by ID order."""
    rows = np.flatnonzero(eligible)
    if len(rows) == 0:
        return []
    key = scores[rows] if metric == "euclidean" else -scores[rows]
    if len(rows) > k:
        keep = np.argpartition(key, k - 1)[:k]
        rows, key = rows[keep], key[keep]
    order = np.lexsort((rows, key))  # rows are in ID order, so equal scores come back in ID order
    return [(int(rows[i]), float(scores[rows[i]])) for i in order]
