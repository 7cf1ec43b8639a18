"""Exact (brute-force) scoring as Pinecone scores: cosine, euclidean, dotproduct, sparse and hybrid.

A namespace's records are loaded once into arrays (a :class:`NamespaceView`) and kept until the namespace
changes, so repeated queries and filter scans do not re-read the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..filters import MetadataPredicate
from .store import IndexData, StoredRecord

FloatArray = npt.NDArray[np.float32]


@dataclass
class NamespaceView:
    version: int
    records: list[StoredRecord]
    ids: list[str]
    dense: FloatArray | None  # one row per record
    norms: FloatArray | None
    sparse_rows: npt.NDArray[np.int64]  # for every stored sparse pair: the record it belongs to
    sparse_indices: npt.NDArray[np.uint32]
    sparse_values: FloatArray
    _metadata: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def metadata(self) -> list[dict[str, Any]]:
        if self._metadata is None:
            self._metadata = [orjson.loads(r.metadata) if r.metadata else {} for r in self.records]
        return self._metadata

    def matching(self, predicate: MetadataPredicate | None) -> npt.NDArray[np.bool_]:
        if predicate is None:
            return np.ones(len(self.records), dtype=bool)
        return np.fromiter((predicate(m) for m in self.metadata), dtype=bool, count=len(self.records))


def view_of(data: IndexData, ns: str) -> NamespaceView:
    """The (cached) arrays of a namespace as it is now."""
    version = data.versions.get(ns, 0)
    cached = data.views.get(ns)
    if isinstance(cached, NamespaceView) and cached.version == version:
        return cached
    records = list(data.scan(ns))
    dense: FloatArray | None = None
    norms: FloatArray | None = None
    if data.vector_type == "dense" and data.dimension is not None:
        dense = np.empty((len(records), data.dimension), dtype=np.float32)
        for row, record in enumerate(records):
            dense[row] = np.frombuffer(record.values or b"", dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1).astype(np.float32)
    rows: list[npt.NDArray[np.int64]] = []
    indices: list[npt.NDArray[np.uint32]] = []
    values: list[FloatArray] = []
    for row, record in enumerate(records):
        pair = record.sparse()
        if pair is not None:
            rows.append(np.full(len(pair[0]), row, dtype=np.int64))
            indices.append(pair[0])
            values.append(pair[1])
    view = NamespaceView(
        version=version,
        records=records,
        ids=[r.id for r in records],
        dense=dense,
        norms=norms,
        sparse_rows=np.concatenate(rows) if rows else np.empty(0, dtype=np.int64),
        sparse_indices=np.concatenate(indices) if indices else np.empty(0, dtype=np.uint32),
        sparse_values=np.concatenate(values) if values else np.empty(0, dtype=np.float32),
    )
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
