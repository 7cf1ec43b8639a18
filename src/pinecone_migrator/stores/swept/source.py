"""A source that cannot list its IDs (a pod-based Pinecone index) made listable by sweeping it with queries.

Pod-based indexes have no ``list``; the only read that enumerates them without writing to them is a query.
:class:`SweptSource` wraps such a store and discovers its IDs with repeated ID-only queries (``top_k`` up to
10,000, no values or metadata, so that the 4 MB response limit holds and Pinecone does not cap ``top_k`` at
1,000), each with another query vector:

* random vectors (isotropic, and drawn from the mean and spread of the records sampled so far) and their
  opposites (negated for cosine and dotproduct, reflected through the mean for euclidean);
* the vectors of records already found, newest discoveries first, to reach their neighbourhoods;
* for sparse indexes, sparse vectors built from the indices of fetched records, and blocks of consecutive
  indices swept from 0 upwards (narrowed while they come back full): a record sharing no index with any
  fetched record is reached only so;
* once a query comes back full and the sampled metadata has a field that splits the records into a few
  parts (a field with few values, or a numeric field cut at its quantiles), the same queries again within
  each part, as a metadata filter: a part smaller than ``top_k`` comes back whole in one query, a part
  that stays larger is split again by another field (up to three levels). For dotproduct this is the only
  way to reach records that are never among the ``top_k`` best of any query vector.

Every ID found goes to a local SQLite file (memory stays bounded, a stopped sweep resumes). The sweep of a
namespace ends when the number of distinct IDs found equals the namespace's count from
``describe_index_stats`` (read again at that moment: the count can lag behind writes), which is the only
proof of completeness it claims; or when ``patience`` consecutive queries found nothing new, or the query
budget ran out: then the report says found/expected and ``proven`` False. :meth:`SweptSource.list_ids`
serves the IDs found, in bytewise order with a resumable cursor, only once the namespace's sweep has
finished: a listing must not grow behind a cursor the engine has already passed. By default it refuses a
namespace whose completeness was not proven (``require_proven``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import ExitCode, MigratorError, RemoteError, UserError
from ..filters import compile_filter
from ..localdb import open_db, transaction
from ..records import Record, SparseValues
from .base import (
    Capabilities,
    IdPage,
    IndexShape,
    QueriesIds,
    ReportsThrottling,
    Store,
    StoreDescription,
    WriteAck,
)

log = logging.getLogger("pinecone_migrator.swept")

__all__ = [
    "IncompleteSweep",
    "SweepInterrupted",
    "SweepReport",
    "SweepableStore",
    "SweptSource",
]

SCHEMA_VERSION = 1
MAX_TOP_K = 10_000
# Pinecone refuses query responses over 4 MB; IDs are the bulk of an ID-only response.
RESPONSE_BUDGET_BYTES = 3_500_000
MATCH_OVERHEAD_BYTES = 64  # {"id":"","score":-0.12345678,"values":[]}, per match
LONGEST_ID_BYTES = 512
SAMPLE_RECORDS = 200  # fetched once the first query comes back full: vector statistics, metadata fields
SEED_BATCH = 32
METADATA_SAMPLE_LIMIT = 1_000
SPARSE_POOL_LIMIT = 100_000
SPARSE_QUERY_PAIRS = 64
SPARSE_BOOTSTRAP_BLOCK = 1_000
SPARSE_BOOTSTRAP_QUERIES = 256
MAX_PARTITION_DEPTH = 3  # a part that stays larger than top_k is split again by another field, this deep
MAX_SCOPES = 256
PATIENCE_PER_TOP_K = 8  # a typical record is in one random query's results with odds top_k / count
EUCLIDEAN_SCALES = (0.5, 1.0, 2.0, 4.0, 16.0)  # far queries reach the rim, near ones the middle

FloatArray = npt.NDArray[np.float32]
Filter = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS found (
    ns TEXT NOT NULL,
    id TEXT NOT NULL,
    found_at INTEGER NOT NULL,
    seeded INTEGER NOT NULL DEFAULT 0,
    rnd INTEGER NOT NULL,
    PRIMARY KEY (ns, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS found_seeds ON found (ns, seeded, found_at, rnd);
CREATE TABLE IF NOT EXISTS sweeps (
    ns TEXT PRIMARY KEY,
    expected INTEGER NOT NULL,
    found INTEGER NOT NULL,
    sweeps INTEGER NOT NULL,
    seconds REAL NOT NULL,
    finished INTEGER NOT NULL,
    proven INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


class SweepInterrupted(MigratorError):
    """The sweep was stopped before it finished; what it found is kept and the next run continues it."""

    exit_code = ExitCode.INTERRUPTED


class IncompleteSweep(MigratorError):
    """A namespace's sweep ended without proving it found every record, and a complete listing is required."""

    exit_code = ExitCode.UNJUDGED


@runtime_checkable
class SweepableStore(Store, QueriesIds, Protocol):
    """A store that can be queried for IDs (such as :class:`~.pinecone.PineconeStore`)."""


@dataclass(frozen=True)
class SweepReport:
    """How completely one namespace was enumerated."""

    namespace: str
    expected: int  # the namespace's record count (describe_index_stats, or as the caller said)
    found: int  # distinct IDs discovered
    sweeps: int  # queries sent
    seconds: float
    finished: bool  # False: never started, or stopped part-way (the next sweep continues)
    proven: bool  # found == expected when the sweep ended
    reason: str  # why the sweep ended, in words

    def to_json(self) -> dict[str, object]:
        return {**vars(self), "seconds": round(self.seconds, 3)}


class _State:
    """The SQLite file: IDs found per namespace and each namespace's sweep report."""

    def __init__(self, path: Path, source_name: str, restart: bool) -> None:
        self._db = open_db(path)
        self._lock = threading.Lock()
        self._db.executescript(_SCHEMA)
        with self._transaction():
            if restart:
                self._db.execute("DELETE FROM found")
                self._db.execute("DELETE FROM sweeps")
                self._db.execute("DELETE FROM meta")
            known = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if known and known.get("source") != source_name:
                raise UserError(
                    f"The sweep state {str(path)!r} belongs to source {known.get('source')!r}, not "
                    f"{source_name!r}. Give another state path, or restart to discard it."
                )
            if known and known.get("schema") != str(SCHEMA_VERSION):
                raise UserError(
                    f"The sweep state {str(path)!r} was written by another version (schema "
                    f"{known.get('schema')}); restart to discard it."
                )
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('source', ?)", (source_name,))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, transaction(self._db):
            yield

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def report(self, namespace: str) -> SweepReport | None:
        with self._lock:
            row = self._db.execute(
                "SELECT expected, found, sweeps, seconds, finished, proven, reason FROM sweeps WHERE ns = ?",
                (namespace,),
            ).fetchone()
        if row is None:
            return None
        expected, found, sweeps, seconds, finished, proven, reason = row
        return SweepReport(namespace, expected, found, sweeps, seconds, bool(finished), bool(proven), reason)

    def reports(self) -> list[SweepReport]:
        with self._lock:
            names = [ns for (ns,) in self._db.execute("SELECT ns FROM sweeps ORDER BY ns")]
        return [r for r in map(self.report, names) if r is not None]

    def save(self, report: SweepReport) -> None:
        with self._transaction():
            self._save(report)

    def _save(self, report: SweepReport) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.namespace,
                report.expected,
                report.found,
                report.sweeps,
                report.seconds,
                int(report.finished),
                int(report.proven),
                report.reason,
            ),
        )

    def add(self, report: SweepReport, ids: Sequence[str], rng: np.random.Generator) -> int:
        """Record the IDs one query returned and the report after it, at once; how many were new."""
        randoms = rng.integers(0, 2**62, size=len(ids)).tolist()
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO found (ns, id, found_at, rnd) VALUES (?, ?, ?, ?)",
                [(report.namespace, i, report.sweeps, r) for i, r in zip(ids, randoms, strict=True)],
            )
            new = self._db.total_changes - before
            self._save(replace(report, found=report.found + new))
        return new

    def take_seeds(self, namespace: str, count: int) -> list[str]:
        """Up to ``count`` IDs not used as query seeds yet, the most recently discovered first (the
        frontier of what has been explored); they are marked used."""
        with self._transaction():
            ids = [
                i
                for (i,) in self._db.execute(
                    "SELECT id FROM found WHERE ns = ? AND seeded = 0 ORDER BY found_at DESC, rnd LIMIT ?",
                    (namespace, count),
                )
            ]
            self._db.executemany(
                "UPDATE found SET seeded = 1 WHERE ns = ? AND id = ?", [(namespace, i) for i in ids]
            )
        return ids

    def page(self, namespace: str, prefix: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` + 1 IDs starting with ``prefix``, in bytewise order, after ``after``."""
        if after is not None and after >= prefix:
            sql, bound = "SELECT id FROM found WHERE ns = ? AND id > ? ORDER BY id LIMIT ?", after
        else:
            sql, bound = "SELECT id FROM found WHERE ns = ? AND id >= ? ORDER BY id LIMIT ?", prefix
        with self._lock:
            rows = self._db.execute(sql, (namespace, bound, limit + 1)).fetchall()
        page: list[str] = []
        for (record_id,) in rows:
            if not record_id.startswith(prefix):
                break  # IDs with one prefix are contiguous in sorted order: the rest lie beyond it
            page.append(record_id)
        return page


@dataclass
class _Scope:
    """A part of the namespace that queries are confined to (None: all of it)."""

    metadata_filter: Filter | None
    depth: int = 0
    step: int = 0
    full: int = 0  # queries of this part that came back full (it holds more than top_k records)
    refined: bool = False


@dataclass
class _Sample:
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


class SweptSource:
    """A listable view of a store that cannot list: IDs come from query sweeps, everything else from the
    wrapped store. Nothing is ever written to the source by sweeping; :meth:`write` and :meth:`delete` only
    delegate, for completeness of the store protocol.

    ``state_path``: the SQLite file of IDs found (created; reused to resume; ``restart`` discards it).
    ``top_k``: results per query (≤ 10,000; lowered further for long IDs to keep responses under 4 MB).
    ``patience``: consecutive queries that find nothing new before a sweep gives up (at least two rounds of
    every part being swept, and 8 × expected / top_k, the odds of a random query reaching a given record).
    ``max_sweeps``: a query budget per namespace (None: none).
    ``expected``: record counts per namespace to sweep for, instead of ``describe_index_stats``.
    ``require_proven``: :meth:`list_ids` refuses a namespace whose sweep did not find ``expected`` IDs.
    ``partition``: confine queries to metadata-defined parts when the sample shows a suitable field;
    ``max_partitions``: at most this many parts per split.
    ``stop``: set it to stop a sweep between queries (:class:`SweepInterrupted`; the next call resumes).
    """

    def __init__(
        self,
        source: SweepableStore,
        state_path: Path | str,
        *,
        top_k: int = MAX_TOP_K,
        patience: int = 32,
        max_sweeps: int | None = None,
        expected: Mapping[str, int] | None = None,
        require_proven: bool = True,
        partition: bool = True,
        max_partitions: int = 64,
        seed: int | None = None,
        stop: threading.Event | None = None,
        restart: bool = False,
    ) -> None:
        if not 1 <= top_k <= MAX_TOP_K:
            raise UserError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}.")
        if patience < 1:
            raise UserError(f"patience must be at least 1, got {patience}.")
        self.source = source
        self.top_k = top_k
        self.patience = patience
        self.max_sweeps = max_sweeps
        self.require_proven = require_proven
        self.partition = partition
        self.max_partitions = max(2, max_partitions)
        self.stop = stop or threading.Event()
        self._expected = dict(expected) if expected is not None else None
        self._seed = seed
        self._description: StoreDescription | None = None
        self.state_path = Path(state_path)
        self._state = _State(self.state_path, self._source_name(), restart)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        """Another process (a verify's scan worker) reopens the same state: finished sweeps are reused."""
        return (_reopen, (self.source, self.state_path, self.require_proven))

    def _source_name(self) -> str:
        return str(getattr(self.source, "index_name", None) or self.source.describe().name)

    def close(self) -> None:
        self._state.close()

    def __enter__(self) -> SweptSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- sweeping ------------------------------------------------------------------------------------------

    def sweep(self, namespace: str) -> SweepReport:
        """Sweep one namespace until it is done (see the module docstring); a finished sweep is not
        repeated. Raises :class:`SweepInterrupted` when ``stop`` is set first."""
        with self._lock_of(namespace):
            report = self._state.report(namespace)
            if report is not None and report.finished:
                return report
            return _NamespaceSweep(self, namespace, report).run()

    def sweep_all(self, namespaces: Sequence[str] | None = None) -> list[SweepReport]:
        """Sweep every namespace of the source (or the ones given), one after another."""
        chosen = list(namespaces) if namespaces is not None else sorted(self.describe().namespace_counts)
        return [self.sweep(namespace) for namespace in chosen]

    def completeness(self, namespace: str) -> SweepReport:
        """The namespace's sweep report as it stands (not started: zero sweeps, ``finished`` False)."""
        report = self._state.report(namespace)
        if report is not None:
            return report
        return SweepReport(
            namespace, self.expected_count(namespace), 0, 0, 0.0, False, False, "not swept yet"
        )

    def reports(self) -> list[SweepReport]:
        """The reports of every namespace swept so far (finished or not)."""
        return self._state.reports()

    def expected_count(self, namespace: str, fresh: bool = False) -> int:
        """The namespace's record count: as the caller gave it, else from ``describe_index_stats``."""
        if self._expected is not None:
            return self._expected.get(namespace, 0)
        if fresh or self._description is None:
            self._description = self.source.describe()
        return self._description.namespace_counts.get(namespace, 0)

    def shape(self) -> IndexShape:
        if self._description is None:
            self._description = self.source.describe()
        return self._description.shape

    def _lock_of(self, namespace: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(namespace, threading.Lock())

    # -- the store protocol --------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.source.exists()

    def describe(self) -> StoreDescription:
        self._description = self.source.describe()
        return self._description

    def capabilities(self) -> Capabilities:
        # Read only: a finished sweep's listing is fixed, so records written through it would never be listed.
        return replace(
            self.source.capabilities(),
            can_list=True,
            can_fetch_by_metadata=False,
            lists_bytewise=True,
            max_write_records=0,
            max_delete_ids=0,
        )

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        """The IDs found by the namespace's sweep (run now if it has not finished), bytewise, ``limit`` at a
        time; the cursor is the last ID of the page."""
        report = self.sweep(namespace)
        if self.require_proven and not report.proven:
            raise IncompleteSweep(
                f"Sweeping namespace {namespace!r} found {report.found:,} of the {report.expected:,} records "
                f"the index counts ({report.reason}); a copy from it would be incomplete. Copy what was "
                "found with require_proven=False, or sweep again with more patience or a larger budget "
                "(restart the sweep state)."
            )
        ids = self._state.page(namespace, prefix, cursor, limit)
        if len(ids) > limit:
            return IdPage(ids=ids[:limit], cursor=ids[limit - 1])
        return IdPage(ids=ids, cursor=None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        return self.source.fetch(namespace, ids)

    def request_size(self, record: Record) -> int:
        return self.source.request_size(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        raise UserError("A swept pod-based index is read here; it cannot be written to through its sweep.")

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise UserError("A swept pod-based index is read here; records cannot be deleted through its sweep.")

    def set_throttle_listener(self, listener: Any) -> None:
        if isinstance(self.source, ReportsThrottling):
            self.source.set_throttle_listener(listener)


class _NamespaceSweep:
    """One namespace's sweep: chooses query vectors, sends them, records what they find."""

    def __init__(self, owner: SweptSource, namespace: str, earlier: SweepReport | None) -> None:
        self.owner = owner
        self.namespace = namespace
        self.shape = owner.shape()
        self.dense = self.shape.vector_type == "dense" and self.shape.dimension is not None
        expected = owner.expected_count(namespace, fresh=True)
        self.report = earlier or SweepReport(namespace, expected, 0, 0, 0.0, False, False, "sweeping")
        self.report = replace(self.report, expected=expected, finished=False, reason="sweeping")
        seed = owner._seed if owner._seed is None else owner._seed + sum(namespace.encode())
        self.rng = np.random.default_rng(seed)
        self.top_k = min(owner.top_k, _top_k_for(LONGEST_ID_BYTES))
        self.longest_id = 0
        self.sample = _Sample()
        self.sampled = False
        self.seeds: list[Record] = []
        self.last_random: FloatArray | None = None
        self.last_sparse: SparseValues | None = None
        self.scopes = [_Scope(None)]
        self.turn = 0
        self.idle = 0
        self.bootstrap = 0
        self.block_start = 0
        self.block_width = SPARSE_BOOTSTRAP_BLOCK
        self.block_query = False
        self.block_query_full: bool | None = None  # how the last block query came back

    def run(self) -> SweepReport:
        owner = self.owner
        started = time.monotonic() - self.report.seconds
        while True:
            self.report = replace(self.report, seconds=time.monotonic() - started)
            ending = self._ending()
            if ending is not None:
                return self._finish(*ending)
            if owner.stop.is_set():
                owner._state.save(self.report)
                raise SweepInterrupted(
                    f"Sweeping namespace {self.namespace!r} stopped after {self.report.sweeps} queries with "
                    f"{self.report.found:,} of {self.report.expected:,} IDs found; the next sweep continues."
                )
            scope = self.scopes[self.turn % len(self.scopes)]
            self.turn += 1
            ids, asked = self._query(scope)
            self.report = replace(self.report, sweeps=self.report.sweeps + 1)
            new = owner._state.add(self.report, ids, self.rng)
            self.report = replace(self.report, found=self.report.found + new)
            if new or (not self.dense and self.report.found == 0):
                self.idle = 0
            else:
                self.idle += 1
            self.longest_id = max([self.longest_id, *(len(i.encode()) for i in ids)])
            full = len(ids) >= asked
            if self.block_query:
                self.block_query_full = full
            if self.dense and not full and scope.metadata_filter is not None:
                # The whole part came back: nothing more to find in it.
                self.scopes = [s for s in self.scopes if s is not scope]
            if full:
                scope.full += 1
                if not self.sampled:
                    self._take_sample()
                if self.owner.partition and not scope.refined and scope.full >= 1 + scope.depth:
                    self._refine(scope)
            self.top_k = min(owner.top_k, _top_k_for(2 * max(self.longest_id, 1)))
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
            expected = self.owner.expected_count(self.namespace, fresh=True)
            self.report = report = replace(report, expected=expected)
            if report.found == expected:
                return True, f"found all {expected:,} records the index counts"
            if report.found > expected:
                return False, (
                    f"found {report.found:,} IDs but the index counts {expected:,}: "
                    "it changed during the sweep"
                )
        patience = max(
            self.owner.patience,
            2 * len(self.scopes),
            PATIENCE_PER_TOP_K * math.ceil(report.expected / max(self.top_k, 1)),
        )
        if self.idle >= patience:
            return False, f"{self.idle} consecutive queries found nothing new"
        if self.owner.max_sweeps is not None and report.sweeps >= self.owner.max_sweeps:
            return False, f"the budget of {self.owner.max_sweeps} queries ran out"
        if not self.dense and report.found == 0 and self.bootstrap >= SPARSE_BOOTSTRAP_QUERIES:
            return False, "no query found any record"
        return None

    def _finish(self, proven: bool, reason: str) -> SweepReport:
        self.report = replace(self.report, finished=True, proven=proven, reason=reason)
        self.owner._state.save(self.report)
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

    # -- queries ---------------------------------------------------------------------------------------------

    def _query(self, scope: _Scope) -> tuple[list[str], int]:
        """The IDs one query of ``scope`` returns, and the top_k it asked for."""
        vector, sparse = self._next_vector(scope)
        while True:
            try:
                ids = self.owner.source.query_ids(
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

    def _next_vector(self, scope: _Scope) -> tuple[FloatArray | None, SparseValues | None]:
        kinds = (
            ("random", "opposite", "seed", "seed") if self.dense else ("random", "seed", "block", "opposite")
        )
        kind = kinds[scope.step % 4]
        scope.step += 1
        self.block_query = False
        if not self.dense and (kind == "block" or self.report.found == 0 or not self.sample.sparse_pool):
            return None, self._block_vector()
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
        self.last_random = self._random_dense(scope.step)
        return self.last_random, None

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

    def _block_vector(self) -> SparseValues:
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
        if self.report.found == 0:
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
        ids = self.owner._state.take_seeds(self.namespace, count)
        if ids:
            records = self.owner.source.fetch(self.namespace, ids)
            self.sample.add(records, self.rng)
            self.seeds.extend(reversed(records))  # popped from the end: newest discoveries first

    def _take_sample(self) -> None:
        self.sampled = True
        self._fetch_seeds(SAMPLE_RECORDS)

    def _refine(self, scope: _Scope) -> None:
        """Split a part that holds more than top_k records into smaller ones by a metadata field of the
        sample (a field not used above it); the records sampled within the part decide which field."""
        scope.refined = True
        sample = self.sample.metadata or []
        if scope.depth >= MAX_PARTITION_DEPTH or len(self.scopes) >= MAX_SCOPES or not sample:
            return
        conditions = _conditions(scope.metadata_filter)
        used = {name for condition in conditions for name in condition}
        within = [m for m in sample if compile_filter(scope.metadata_filter)(m)]
        estimate = self.report.expected * len(within) // max(len(sample), 1)
        parts = choose_partitions(
            [{k: v for k, v in m.items() if k not in used} for m in within],
            estimate,
            self.top_k,
            min(self.owner.max_partitions, MAX_SCOPES - len(self.scopes)),
        )
        if not parts:
            return
        log.info(
            "sweeping %r: %s split into %d parts", self.namespace, scope.metadata_filter or "all", len(parts)
        )
        children = [
            _Scope(part if not conditions else {"$and": [*conditions, part]}, depth=scope.depth + 1)
            for part in parts
        ]
        if scope.depth > 0:  # its parts cover it; the whole namespace keeps its own queries
            self.scopes = [s for s in self.scopes if s is not scope]
        self.scopes += children


def _conditions(metadata_filter: Filter | None) -> list[Filter]:
    if not metadata_filter:
        return []
    if list(metadata_filter) == ["$and"]:
        return list(metadata_filter["$and"])
    return [metadata_filter]


def _top_k_for(id_bytes: int) -> int:
    return max(1, min(MAX_TOP_K, RESPONSE_BUDGET_BYTES // (id_bytes + MATCH_OVERHEAD_BYTES)))


def _too_large(error: RemoteError) -> bool:
    text = error.message.lower()
    return error.status in (400, 413, 422) and ("mb" in text or "size" in text or "too large" in text)


def choose_partitions(
    sample: Sequence[Mapping[str, Any]], expected: int, top_k: int, max_parts: int
) -> list[Filter]:
    """Metadata filters that split the namespace into parts (together covering every record), from the
    field of the sampled metadata that promises the smallest largest part; [] when no field helps.

    A field with a few distinct values gives one part per value plus one for every other value and for
    records without the field; a numeric field with many values is cut at its sample quantiles, plus a
    part for records without it (a record whose value is not a number falls in no part, which only costs
    reach: the unfiltered queries still cover it)."""
    if len(sample) < 2:
        return []
    best: tuple[float, list[Filter]] | None = None
    fields = sorted({key for metadata in sample for key in metadata})
    for name in fields:
        values = [m.get(name) for m in sample]
        present = [v for v in values if v is not None]
        kinds = {_kind(v) for v in present}
        if len(present) < 2 or len(kinds) != 1 or None in kinds:
            continue
        candidate = _categorical(name, present, len(sample), max_parts)
        if candidate is None and kinds == {"number"}:
            candidate = _ranges(name, present, len(sample), expected, top_k, max_parts)
        if candidate is not None and (best is None or candidate[0] < best[0]):
            best = candidate
    if best is None or best[0] > 0.75:
        return []
    return best[1]


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, int | float) and math.isfinite(value):
        return "number"
    return None  # lists and anything else: not a partition key


def _categorical(
    name: str, present: list[Any], sampled: int, max_parts: int
) -> tuple[float, list[Filter]] | None:
    counts: dict[Any, int] = {}
    for value in present:
        counts[value] = counts.get(value, 0) + 1
    if not 2 <= len(counts) <= max_parts - 1 or len(counts) > len(present) / 4:
        return None
    distinct = sorted(counts, key=repr)
    rest = sampled - len(present)
    parts: list[Filter] = [{name: {"$eq": value}} for value in distinct]
    parts.append({name: {"$nin": distinct}})
    parts.append({name: {"$exists": False}})  # $nin does not match a missing field (Pinecone since 2024)
    return max([*counts.values(), rest]) / sampled, parts


def _ranges(
    name: str, present: list[Any], sampled: int, expected: int, top_k: int, max_parts: int
) -> tuple[float, list[Filter]] | None:
    wanted = min(max_parts - 1, max(2, math.ceil(2 * expected / max(top_k, 1))))
    numbers = np.sort(np.asarray(present, dtype=np.float64))
    cuts = sorted({float(q) for q in np.quantile(numbers, np.linspace(0, 1, wanted + 1)[1:-1])})
    if not cuts:
        return None
    parts: list[Filter] = [{name: {"$lt": cuts[0]}}]
    parts += [{name: {"$gte": low, "$lt": high}} for low, high in pairwise(cuts)]
    parts.append({name: {"$gte": cuts[-1]}})
    parts.append({name: {"$exists": False}})
    bounds = [-math.inf, *cuts, math.inf]
    sizes = [int(np.count_nonzero((numbers >= low) & (numbers < high))) for low, high in pairwise(bounds)]
    return max([*sizes, sampled - len(present)]) / sampled, parts


def _reopen(source: SweepableStore, state_path: Path, require_proven: bool) -> SweptSource:
    return SweptSource(source, state_path, require_proven=require_proven)
