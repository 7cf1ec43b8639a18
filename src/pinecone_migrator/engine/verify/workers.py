"""Verify's digest scans in worker processes.

Decoding fetched records (768 floats each, parsed from JSON) is CPU work that one interpreter does on one core
at a time, and a verify decodes every record twice (source and target). Run as processes of their own, the
scans of the two sides use the machine's other cores (measured on 2 cores: 1.8x the records/s of threads).

A worker opens its own connections to the stores (a store travels as its constructor's arguments, see
``PineconeStore.__reduce__``) and its own connection to the verify checkpoints, so saving progress works as
in-process; records fetched are reported back through a queue, and the parent's stop event is passed on.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...stores.base import Store
from ..request import MigrationRequest
from .digests import BucketDigests
from .result import VerifyOptions

# Fewer records than this are verified faster by threads than it takes to start the workers.
MIN_RECORDS_FOR_PROCESSES = 50_000
MAX_PROCESSES = 4

_worker: dict[str, WorkerContext] = {}  # in a worker process: what it was started with (stores opened once)


@dataclass
class ScanOutput:
    digests: dict[str, BucketDigests]  # per target namespace
    complete: bool
    filtered: int = 0
    unroutable: int = 0
    reused: int = 0
    continued: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScanSetup:
    """Everything a worker needs to run one scan as the verify in the parent would."""

    request: MigrationRequest
    source: Store
    target: Store
    options: VerifyOptions
    namespaces: list[str]
    checkpoints_at: tuple[Path, dict[str, Any]] | None  # the ledger file and the verify's fingerprint


def picklable(*stores: Store) -> bool:
    try:
        pickle.dumps(stores)
    except Exception:
        return False
    return True


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process was started with: the setup, the parent's stop event, the progress queue."""

    setup: ScanSetup
    stop: Any
    progress: Any


def _start_worker(setup: ScanSetup, stop: Any, progress: Any) -> None:
    _worker["context"] = WorkerContext(setup, stop, progress)


def worker_context() -> WorkerContext:
    """In a worker process, what it was started with (a scan task reads it)."""
    return _worker["context"]


ScanTask = Callable[[str, str, str], ScanOutput]


class ScanWorkers:
    """A pool of worker processes running scans; fetched-record counts come back to ``progress``.

    ``task`` runs one scan (side, namespace, prefix) in a worker: a module-level function (the pool sends
    it by name), which reads its setup from :func:`worker_context`."""

    def __init__(
        self,
        processes: int,
        setup: ScanSetup,
        task: ScanTask,
        stop: threading.Event,
        progress: Callable[[str, str, int], None],
    ) -> None:
        self._task = task
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._stop = context.Event()
        self._queue = context.Queue()
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=context,
            initializer=_start_worker,
            initargs=(setup, self._stop, self._queue),
        )
        self._closed = threading.Event()
        self._relay = threading.Thread(target=self._relay_progress, args=(progress,), daemon=True)
        self._relay.start()
        self._watch = threading.Thread(target=self._pass_on_stop, args=(stop,), daemon=True)
        self._watch.start()

    def _relay_progress(self, progress: Callable[[str, str, int], None]) -> None:
        while (item := self._queue.get()) is not None:
            progress(*item)

    def _pass_on_stop(self, stop: threading.Event) -> None:
        while not self._closed.is_set():
            if stop.wait(0.1):
                self._stop.set()
                return

    def scan(self, side: str, namespace: str, prefix: str) -> ScanOutput:
        future: Future[ScanOutput] = self._pool.submit(self._task, side, namespace, prefix)
        try:
            return future.result()
        except BaseException:
            self._stop.set()  # one scan failed: the others stop too (the failure is raised by the caller)
            raise

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._queue.put(None)  # after every worker is gone, so no count is lost behind it
        self._relay.join()
        self._watch.join()


def worker_count(options: VerifyOptions, records: int, source: Store, target: Store) -> int:
    """How many worker processes to scan with (0: threads in this process)."""
    if options.processes is not None:
        wanted = options.processes
    elif records < MIN_RECORDS_FOR_PROCESSES:
        return 0
    else:
        wanted = min(MAX_PROCESSES, os.cpu_count() or 1)
    return wanted if wanted > 1 and picklable(source, target) else 0
