"""Listing a collection's IDs page by page, in Chroma's own order, with a cursor that survives changes.

Chroma lists a collection in the order records were first added (an update keeps a record's place, a new
record goes last) and pages by offset; it cannot compare IDs, so there is no keyset paging and no prefix
filter: the prefix is applied here, over the raw order. A bare offset would skip records when records before
it are deleted between pages (a live source under ``sync``). A cursor therefore holds the offset *and* the
last IDs it listed (its anchors): the next page starts right after the first anchor still at or before its
old place. If every anchor was deleted, the page starts where the last one was, less the anchors: only
deletions before it that race the listing can then move a record past the cursor.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson

from ..base import IdPage

Window = Callable[[int, int], list[str]]  # (offset, size) -> up to size IDs from offset on, in Chroma order
ANCHORS = 3
PREFIX_SCAN = 1_000  # raw IDs read per request while looking for a prefix's IDs
BACKWARD_SCAN = 1_000


class BadCursor(ValueError):
    """A cursor this store did not give."""


def encode(prefix: str, offset: int, anchors: list[str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([prefix, offset, anchors])).decode()


def decode(cursor: str, prefix: str) -> tuple[int, list[str]]:
    try:
        cursor_prefix, offset, anchors = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise BadCursor("invalid pagination token: pass back the cursor unchanged") from None
    valid = (
        cursor_prefix == prefix
        and isinstance(offset, int)
        and offset >= 1
        and isinstance(anchors, list)
        and anchors
        and all(isinstance(anchor, str) for anchor in anchors)
    )
    if not valid:
        raise BadCursor("invalid pagination token: pass back the cursor unchanged (and the same prefix)")
    return offset, anchors


def page(window: Window, prefix: str, cursor: str | None, limit: int) -> IdPage:
    """One page of up to ``limit`` IDs starting with ``prefix``, after ``cursor``."""
    found: list[tuple[int, str]] = []  # (raw position, ID)
    position, ids = 0, None
    if cursor is not None:
        offset, anchors = decode(cursor, prefix)
        # The common case in one request: the cursor's last ID still where it was, and the page after it.
        read = window(offset - 1, _size(prefix, limit, found) + 1)
        if read[:1] == anchors[:1]:
            position, ids = offset, read[1:]
        else:
            position = _relocated(window, offset, anchors)
    while len(found) <= limit:
        size = _size(prefix, limit, found)
        if ids is None:
            ids = window(position, size)
        for step, record_id in enumerate(ids):
            if record_id.startswith(prefix):
                found.append((position + step, record_id))
                if len(found) > limit:
                    break
        if len(ids) < size:
            break
        position += len(ids)
        ids = None
    shown = found[:limit]
    if len(found) <= limit or not shown:
        return IdPage(ids=[record_id for _, record_id in shown], cursor=None)
    last = shown[-1][0]
    anchors = [record_id for _, record_id in shown[-ANCHORS:]][::-1]  # the last listed first
    return IdPage(ids=[record_id for _, record_id in shown], cursor=encode(prefix, last + 1, anchors))


def _size(prefix: str, limit: int, found: list[tuple[int, str]]) -> int:
    """How many raw IDs to read next: a page and one (to know whether more follow), or a scan's worth."""
    return PREFIX_SCAN if prefix else limit + 1 - len(found)


def _relocated(window: Window, offset: int, anchors: list[str]) -> int:
    """The raw position right after the cursor's last listed ID that is left, after deletions moved it."""
    wanted = set(anchors)
    end = offset  # deletions only move records to lower positions: search from the old place down
    while end > 0:
        start = max(0, end - BACKWARD_SCAN)
        ids = window(start, end - start)
        for step in range(len(ids) - 1, -1, -1):
            if ids[step] in wanted:
                # Found the latest surviving anchor; the ones listed after it were deleted.
                return start + step + 1
        end = start
    return max(0, offset - len(anchors))
