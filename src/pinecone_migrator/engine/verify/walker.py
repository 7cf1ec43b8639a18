"""How verify and repair walk: one :class:`~pinecone_migrator.engine.walk.Walker` per run, whose adaptive
limit halves the fetches in flight when either store answers 429 (as a migration's does), and an
enumeration of IDs already known (drawn by a sample, named by differences) for that walker to work through.

A scan in a worker process (:mod:`.workers`) has a walker of its own: the stores it reads are its
own copies, so their 429s reach the limit of that process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager

from ...stores.base import Store
from ..pacing import AdaptiveLimit
from ..walk import Item, NextPage, Page, Walker, slowed_by_throttling
from .result import VerifyOptions

log = logging.getLogger(__name__)


@contextmanager
def run_walker(
    source: Store,
    target: Store,
    stop: threading.Event,
    *,
    concurrency: int,
    batch_size: int,
    in_flight: int | None = None,
    adaptive: bool = True,
    name: str = "verify-fetch",
) -> Iterator[Walker]:
    """A walker for one run: ``concurrency`` threads, and as many batches in flight across its walks until
    a 429 from ``source`` or ``target`` halves that (not with ``adaptive`` False)."""
    concurrency = max(1, concurrency)
    limit = AdaptiveLimit(concurrency, on_change=_log_change)
    with (
        slowed_by_throttling(limit, source, target, adaptive=adaptive),
        ThreadPoolExecutor(concurrency, thread_name_prefix=name) as pool,
    ):
        yield Walker(pool, limit=limit, stop=stop, in_flight=in_flight, batch_size=batch_size)


def verify_walker(
    source: Store, target: Store, options: VerifyOptions, stop: threading.Event
) -> AbstractContextManager[Walker]:
    """The walker of one verify (or of one worker process's scan), as ``options`` ask."""
    return run_walker(
        source,
        target,
        stop,
        concurrency=options.concurrency,
        batch_size=options.fetch_size,
        in_flight=options.batches_in_flight,
        adaptive=options.adaptive,
    )


def known_pages(items: Sequence[Item], page_size: int) -> NextPage[Item]:
    """A list already in hand as an enumeration: pages of ``page_size`` (the cursor is the next offset)."""
    size = max(1, page_size)

    def next_page(cursor: str | None) -> Page[Item]:
        start = int(cursor or 0)
        end = start + size
        return Page(list(items[start:end]), str(end) if end < len(items) else None)

    return next_page


def _log_change(old: int, new: int, reason: str) -> None:
    log.info("fetches in flight %d -> %d: %s", old, new, reason)
