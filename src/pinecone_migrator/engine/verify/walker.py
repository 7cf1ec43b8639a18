"""How verify and repair walk: one :class:`~pinecone_migrator.engine.walk.Walker` per run, whose adaptive
limit halves the fetches in flight when either store answers 429 (as a migration's does), and an
enumeration of IDs already known (drawn by a sample, named by differences) for that walker to work through.

A scan in a worker process (:mod:`.workers`) has a walker of its own: the stores it reads are its
own copies, so their 429s reach the limit of that process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager

from ...stores.base import Store
from ..walk import Item, NextPage, Page, Walker, batch_ids, run_walker
from .result import VerifyOptions

log = logging.getLogger(__name__)


def verify_walker(
    source: Store, target: Store, options: VerifyOptions, stop: threading.Event
) -> AbstractContextManager[Walker]:
    """The walker of one verify (or of one worker process's scan), as ``options`` ask; its batches as
    large as memory allows for the source's dimension (up to ``fetch_size`` IDs)."""
    dimension = source.describe().shape.dimension
    return run_walker(
        (source, target),
        stop,
        concurrency=options.concurrency,
        adaptive=options.adaptive,
        on_change=log_change,
        name="verify-fetch",
        batch_size=min(options.fetch_size, batch_ids(source, dimension, options.page_size)),
        in_flight=options.batches_in_flight,
        dimension=dimension,
    )


def known_pages(items: Sequence[Item], page_size: int) -> NextPage[Item]:
    """A list already in hand as an enumeration: pages of ``page_size`` (the cursor is the next offset)."""
    size = max(1, page_size)

    def next_page(cursor: str | None) -> Page[Item]:
        start = int(cursor or 0)
        end = start + size
        return Page(list(items[start:end]), str(end) if end < len(items) else None)

    return next_page


def log_change(old: int, new: int, reason: str) -> None:
    log.info("fetches in flight %d -> %d: %s", old, new, reason)
