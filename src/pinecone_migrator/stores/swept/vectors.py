"""The query vectors of a namespace's sweep, each chosen to reach records earlier queries did not:

* random vectors (isotropic, and drawn from the mean and spread of the records sampled so far) and their
  opposites (negated for cosine and dotproduct, reflected through the mean for euclidean);
* the vectors of records already found, newest discoveries first, to reach their neighbourhoods;
* for sparse indexes, sparse vectors built from the indices of fetched records, and blocks of consecutive
  indices swept from 0 upwards (narrowed while they come back full): a record sharing no index with any
  fetched record is reached only so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...records import Record, SparseValues
from ..base import IndexShape

SAMPLE_RECORDS = 200  # fetched once the first query comes back full: vector statistics, metadata fields
SEED_BATCH = 32
METADATA_SAMPLE_LIMIT = 1_000
SPARSE_POOL_LIMIT = 100_000
SPARSE_QUERY_PAIRS = 64
SPARSE_BOOTSTRAP_BLOCK = 1_000
EUCLIDEAN_SCALES = (0.5, 1.0, 2.0, 4.0, 16.0)  # far queries reach the rim, near ones the middle

FloatArray = npt.NDArray[np.float32]


@dataclass
class Sample:
    """What the fetched records tell about the namespace: vector mean and spread, metadata, sparse indices."""

    count: int = 0
    mean: npt.NDArray[np.float64] | None = None
    m2: npt.NDArray[np.float64] | None = None
    metadata: list[dict[str, Any]] | None = None
    sparse_pool: set[int] | None = None

    def add(self, records: Sequence[Record], rng: np.random.Generator) -> None:
        dense = [r.values for r in records if r.values is not None]
        if dense:
            batch = np.vstack(dense).astype(np.float64)
            batch_mean = batch.mean(axis=0)
            batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
            if self.mean is None or self.m2 is None:
                self.mean, self.m2 = batch_mean, batch_m2
            else:
                total = self.count + len(batch)
                delta = batch_mean - self.mean
                self.mean = self.mean + delta * len(batch) / total
                self.m2 = self.m2 + batch_m2 + delta**2 * self.count * len(batch) / total
            self.count += len(batch)
        kept = self.metadata if self.metadata is not None else []
        for record in records:
            if len(kept) < METADATA_SAMPLE_LIMIT:
                kept.append(dict(record.metadata))
            else:
                slot = int(rng.integers(0, len(kept) + 1))
                if slot < len(kept):
                    kept[slot] = dict(record.metadata)
        self.metadata = kept
        pool = self.sparse_pool if self.sparse_pool is not None else set()
        for record in records:
            if record.sparse is not None and len(pool) < SPARSE_POOL_LIMIT:
                pool.update(int(i) for i in record.sparse.indices)
        self.sparse_pool = pool

    def spread(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
        if self.mean is None or self.m2 is None or self.count < 2:
            return None
        return self.mean, np.sqrt(self.m2 / (self.count - 1))


class QueryVectors:
    """Chooses each next query vector of one namespace's sweep. ``seed_records(count)``: up to ``count``
    found records not used as seeds yet, newest discoveries first."""

    def __init__(
        self, shape: IndexShape, rng: np.random.Generator, seed_records: Callable[[int], list[Record]]
    ) -> None:
        self.shape = shape
        self.dense = shape.vector_type == "dense" and shape.dimension is not None
        self.rng = rng
        self._seed_records = seed_records
        self.sample = Sample()
        self.sampled = False
        self.seeds: list[Record] = []
        self.last_random: FloatArray | None = None
        self.last_sparse: SparseValues | None = None
        self.bootstrap = 0  # block queries sent while nothing was found yet
        self.block_start = 0
        self.block_width = SPARSE_BOOTSTRAP_BLOCK
        self.block_query = False
        self.block_query_full: bool | None = None  # how the last block query came back

    def next(self, step: int, found: int) -> tuple[FloatArray | None, SparseValues | None]:
        """The dense or sparse vector of a part's query number ``step`` (from 0); ``found``: IDs so far."""
        kinds = (
            ("random", "opposite", "seed", "seed") if self.dense else ("random", "seed", "block", "opposite")
        )
        kind = kinds[step % 4]
        self.block_query = False
        if not self.dense and (kind == "block" or found == 0 or not self.sample.sparse_pool):
            return None, self._block_vector(found)
        if kind == "seed" or (kind == "opposite" and self._no_random_yet()):
            record = self._next_seed()
            if record is not None:
                if self.dense and record.values is not None:
                    return np.asarray(record.values, dtype=np.float32), None
                if not self.dense and record.sparse is not None:
                    return None, record.sparse
            kind = "random"
        if not self.dense:
            return None, self._sparse_vector(kind == "opposite")
        if kind == "opposite" and self.last_random is not None:
            return self._opposite(self.last_random), None
        self.last_random = self._random_dense(step + 1)
        return self.last_random, None

    def answered(self, full: bool) -> None:
        """How the query of the last vector came back: full (as many IDs as asked) or not."""
        if self.block_query:
            self.block_query_full = full

    def take_sample(self) -> None:
        """Fetch a sample of what was found, once: vector statistics and the metadata parts are made of."""
        if not self.sampled:
            self.sampled = True
            self._fetch_seeds(SAMPLE_RECORDS)

    def _no_random_yet(self) -> bool:
        return (self.last_random if self.dense else self.last_sparse) is None

    def _random_dense(self, step: int) -> FloatArray:
        dimension = self.shape.dimension or 0
        noise = self.rng.standard_normal(dimension)
        spread = self.sample.spread()
        if spread is None or (step % 8 < 4 and self.shape.metric != "euclidean"):
            return noise.astype(np.float32)
        mean, std = spread
        if self.shape.metric == "euclidean":
            noise *= EUCLIDEAN_SCALES[int(self.rng.integers(len(EUCLIDEAN_SCALES)))]
        return (mean + std * noise).astype(np.float32)

    def _opposite(self, vector: FloatArray) -> FloatArray:
        if self.shape.metric == "euclidean":
            spread = self.sample.spread()
            center = spread[0] if spread is not None else np.zeros(len(vector))
            return (2 * center - vector).astype(np.float32)
        return (-vector).astype(np.float32)

    def _block_vector(self, found: int) -> SparseValues:
        """Consecutive indices, from 0 up to past the largest index seen, then again: a record whose indices
        no fetched record shares is reached only this way. The block narrows while its results come back
        full and widens while they do not."""
        if self.block_query_full is not None:
            full = self.block_query_full
            self.block_width = (
                max(1, self.block_width // 2) if full else min(SPARSE_BOOTSTRAP_BLOCK, self.block_width * 2)
            )
            if not full:
                self.block_start += self.block_width
        pool = self.sample.sparse_pool
        if pool and self.block_start > max(pool) + SPARSE_BOOTSTRAP_BLOCK:
            self.block_start = 0
        if found == 0:
            self.bootstrap += 1
        self.block_query = True
        indices = np.arange(self.block_start, self.block_start + self.block_width, dtype=np.uint32)
        return SparseValues(indices=indices, values=np.ones(len(indices), dtype=np.float32))

    def _sparse_vector(self, opposite: bool) -> SparseValues:
        if opposite and self.last_sparse is not None:
            return SparseValues(indices=self.last_sparse.indices, values=-self.last_sparse.values)
        pool = self.sample.sparse_pool or {0}
        chosen = self.rng.choice(np.fromiter(pool, dtype=np.int64), size=min(SPARSE_QUERY_PAIRS, len(pool)))
        indices = np.unique(chosen).astype(np.uint32)
        values = self.rng.uniform(0.5, 1.5, size=len(indices)).astype(np.float32)
        self.last_sparse = SparseValues(indices=indices, values=values)
        return self.last_sparse

    def _next_seed(self) -> Record | None:
        if not self.seeds:
            self._fetch_seeds(SEED_BATCH)
        return self.seeds.pop() if self.seeds else None

    def _fetch_seeds(self, count: int) -> None:
        records = self._seed_records(count)
        if records:
            self.sample.add(records, self.rng)
            self.seeds.extend(reversed(records))  # popped from the end: newest discoveries first
