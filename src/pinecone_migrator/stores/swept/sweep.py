"""One namespace's sweep: query after query, each with another vector (:mod:`.vectors`), within parts of
the namespace once queries come back full (:mod:`.partitions`), every ID found kept in the state file
(:mod:`.state`), until the IDs found equal the namespace's count or queries stop finding new ones."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from ...errors import ExitCode, MigratorError, RemoteError
from ...filters import compile_filter
from ...records import Record
from ..base import IndexShape, QueriesIds, Store
from .partitions import Filter, choose_partitions, conditions
from .state import SweepReport, SweepState
from .vectors import QueryVectors

log = logging.getLogger("pinecone_migrator.swept")

MAX_TOP_K = 10_000
# Pinecone refuses query responses over 4 MB; IDs are the bulk of an ID-only response.
RESPONSE_BUDGET_BYTES = 3_500_000
MATCH_OVERHEAD_BYTES = 64  # {"id":"","score":-0.12345678,"values":[]}, per match
LONGEST_ID_BYTES = 512
SPARSE_BOOTSTRAP_QUERIES = 256
MAX_PARTITION_DEPTH = 3  # a part that stays larger than top_k is split again by another field, this deep
MAX_SCOPES = 256
PATIENCE_PER_TOP_K = 8  # a typical record is in one random query's results with odds top_k / count


class SweepInterrupted(MigratorError):
    """The sweep was stopped before it finished; what it found is kept and the next run continues it."""

    exit_code = ExitCode.INTERRUPTED


@runtime_checkable
class SweepableStore(Store, QueriesIds, Protocol):
    """A store that can be queried for IDs (such as :class:`~..pinecone.PineconeStore`)."""


@dataclass(frozen=True)
class SweepSettings:
    """How every namespace is swept (see :class:`~.source.SweptSource` for each)."""

    top_k: int
    patience: int
    max_sweeps: int | None
    partition: bool
    max_partitions: int
    seed: int | None
    stop: threading.Event


@dataclass
class _Scope:
    """A part of the namespace that queries are confined to (None: all of it)."""

    metadata_filter: Filter | None
    depth: int = 0
    step: int = 0
    full: int = 0  # queries of this part that came back full (it holds more than top_k records)
    refined: bool = False


class NamespaceSweep:
    """One namespace's sweep: chooses query vectors, sends them, records what they find. ``count()``: the
    namespace's record count read again (it can lag behind writes)."""

    def __init__(
        self,
        store: SweepableStore,
        state: SweepState,
        settings: SweepSettings,
        shape: IndexShape,
        namespace: str,
        earlier: SweepReport | None,
        count: Callable[[], int],
    ) -> None:
        self.store = store
        self.state = state
        self.settings = settings
        self.namespace = namespace
        self.count = count
        expected = count()
        self.report = earlier or SweepReport(namespace, expected, 0, 0, 0.0, False, False, "sweeping")
        self.report = replace(self.report, expected=expected, finished=False, reason="sweeping")
        seed = settings.seed if settings.seed is None else settings.seed + sum(namespace.encode())
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.vectors = QueryVectors(shape, rng, self._seed_records)
        self.dense = self.vectors.dense
        self.top_k = min(settings.top_k, _top_k_for(LONGEST_ID_BYTES))
        self.longest_id = 0
        self.scopes = [_Scope(None)]
        self.turn = 0
        self.idle = 0

    def run(self) -> SweepReport:
        started = time.monotonic() - self.report.seconds
        while True:
            self.report = replace(self.report, seconds=time.monotonic() - started)
            ending = self._ending()
            if ending is not None:
                return self._finish(*ending)
            if self.settings.stop.is_set():
                self.state.save(self.report)
                raise SweepInterrupted(
                    f"Sweeping namespace {self.namespace!r} stopped after {self.report.sweeps} queries with "
                    f"{self.report.found:,} of {self.report.expected:,} IDs found; the next sweep continues."
                )
            scope = self.scopes[self.turn % len(self.scopes)]
            self.turn += 1
            ids, asked = self._query(scope)
            self.report = replace(self.report, sweeps=self.report.sweeps + 1)
            new = self.state.add(self.report, ids, self.rng)
            self.report = replace(self.report, found=self.report.found + new)
            if new or (not self.dense and self.report.found == 0):
                self.idle = 0
            else:
                self.idle += 1
            self.longest_id = max([self.longest_id, *(len(i.encode()) for i in ids)])
            full = len(ids) >= asked
            self.vectors.answered(full)
            if self.dense and not full and scope.metadata_filter is not None:
                # The whole part came back: nothing more to find in it.
                self.scopes = [s for s in self.scopes if s is not scope]
            if full:
                scope.full += 1
                self.vectors.take_sample()
                if self.settings.partition and not scope.refined and scope.full >= 1 + scope.depth:
                    self._refine(scope)
            self.top_k = min(self.settings.top_k, _top_k_for(2 * max(self.longest_id, 1)))
            if self.report.sweeps % 50 == 0:
                log.info(
                    "sweeping %r: %d queries, %d of %d IDs",
                    self.namespace,
                    self.report.sweeps,
                    self.report.found,
                    self.report.expected,
                )

    def _ending(self) -> tuple[bool, str] | None:
        """(proven, reason) when the sweep should end now, else None."""
        report = self.report
        if report.found >= report.expected:
            expected = self.count()
            self.report = report = replace(report, expected=expected)
            if report.found == expected:
                return True, f"found all {expected:,} records the index counts"
            if report.found > expected:
                return False, (
                    f"found {report.found:,} IDs but the index counts {expected:,}: "
                    "it changed during the sweep"
                )
        patience = max(
            self.settings.patience,
            2 * len(self.scopes),
            PATIENCE_PER_TOP_K * math.ceil(report.expected / max(self.top_k, 1)),
        )
        if self.idle >= patience:
            return False, f"{self.idle} consecutive queries found nothing new"
        max_sweeps = self.settings.max_sweeps
        if max_sweeps is not None and report.sweeps >= max_sweeps:
            return False, f"the budget of {max_sweeps} queries ran out"
        if not self.dense and report.found == 0 and self.vectors.bootstrap >= SPARSE_BOOTSTRAP_QUERIES:
            return False, "no query found any record"
        return None

    def _finish(self, proven: bool, reason: str) -> SweepReport:
        self.report = replace(self.report, finished=True, proven=proven, reason=reason)
        self.state.save(self.report)
        level = logging.INFO if proven else logging.WARNING
        log.log(
            level,
            "sweep of %r done: %d of %d IDs in %d queries (%s)",
            self.namespace,
            self.report.found,
            self.report.expected,
            self.report.sweeps,
            reason,
        )
        return self.report

    def _query(self, scope: _Scope) -> tuple[list[str], int]:
        """The IDs one query of ``scope`` returns, and the top_k it asked for."""
        vector, sparse = self.vectors.next(scope.step, self.report.found)
        scope.step += 1
        while True:
            try:
                ids = self.store.query_ids(
                    self.namespace,
                    top_k=self.top_k,
                    vector=vector,
                    sparse=sparse,
                    metadata_filter=scope.metadata_filter,
                )
                return ids, self.top_k
            except RemoteError as error:
                if not _too_large(error) or self.top_k == 1:
                    raise
                self.top_k = max(1, self.top_k // 2)
                log.info("query response too large: top_k lowered to %d", self.top_k)

    def _seed_records(self, count: int) -> list[Record]:
        ids = self.state.take_seeds(self.namespace, count)
        return self.store.fetch(self.namespace, ids) if ids else []

    def _refine(self, scope: _Scope) -> None:
        """Split a part that holds more than top_k records into smaller ones by a metadata field of the
        sample (a field not used above it); the records sampled within the part decide which field."""
        scope.refined = True
        sample = self.vectors.sample.metadata or []
        if scope.depth >= MAX_PARTITION_DEPTH or len(self.scopes) >= MAX_SCOPES or not sample:
            return
        joined = conditions(scope.metadata_filter)
        used = {name for condition in joined for name in condition}
        within = [m for m in sample if compile_filter(scope.metadata_filter)(m)]
        estimate = self.report.expected * len(within) // max(len(sample), 1)
        parts = choose_partitions(
            [{k: v for k, v in m.items() if k not in used} for m in within],
            estimate,
            self.top_k,
            min(self.settings.max_partitions, MAX_SCOPES - len(self.scopes)),
        )
        if not parts:
            return
        log.info(
            "sweeping %r: %s split into %d parts", self.namespace, scope.metadata_filter or "all", len(parts)
        )
        children = [
            _Scope(part if not joined else {"$and": [*joined, part]}, depth=scope.depth + 1) for part in parts
        ]
        if scope.depth > 0:  # its parts cover it; the whole namespace keeps its own queries
            self.scopes = [s for s in self.scopes if s is not scope]
        self.scopes += children


def _top_k_for(id_bytes: int) -> int:
    return max(1, min(MAX_TOP_K, RESPONSE_BUDGET_BYTES // (id_bytes + MATCH_OVERHEAD_BYTES)))


def _too_large(error: RemoteError) -> bool:
    text = error.message.lower()
    return error.status in (400, 413, 422) and ("mb" in text or "size" in text or "too large" in text)
