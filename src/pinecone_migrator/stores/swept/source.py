"""The listable view of a pod-based source: IDs from its namespaces' sweeps, everything else from the
source itself."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ...errors import ExitCode, MigratorError, UserError
from ...records import Record
from ..base import Capabilities, IdPage, IndexShape, ReportsThrottling, StoreDescription, WriteAck
from .state import SweepReport, SweepState
from .sweep import MAX_TOP_K, NamespaceSweep, SweepableStore, SweepSettings


class IncompleteSweep(MigratorError):
    """A namespace's sweep ended without proving it found every record, and a complete listing is required."""

    exit_code = ExitCode.UNJUDGED


class SweptSource:
    """A listable view of a store that cannot list: IDs come from query sweeps, everything else from the
    wrapped store. It is read only: nothing is ever written to the source by sweeping, and :meth:`write` and
    :meth:`delete` refuse (a finished sweep's listing is fixed, so what they wrote would never be listed).

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
        self.require_proven = require_proven
        self.stop = stop or threading.Event()
        self.settings = SweepSettings(
            top_k, patience, max_sweeps, partition, max(2, max_partitions), seed, self.stop
        )
        self._expected = dict(expected) if expected is not None else None
        self._description: StoreDescription | None = None
        self.state_path = Path(state_path)
        self._state = SweepState(self.state_path, self._source_name(), restart)
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
        """Sweep one namespace until it is done (see the package docstring); a finished sweep is not
        repeated. Raises :class:`SweepInterrupted` when ``stop`` is set first."""
        with self._lock_of(namespace):
            report = self._state.report(namespace)
            if report is not None and report.finished:
                return report
            shape = self.shape()
            count = partial(self.expected_count, namespace, fresh=True)
            return NamespaceSweep(
                self.source, self._state, self.settings, shape, namespace, report, count
            ).run()

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


def _reopen(source: SweepableStore, state_path: Path, require_proven: bool) -> SweptSource:
    return SweptSource(source, state_path, require_proven=require_proven)
