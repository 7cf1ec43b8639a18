"""What the long-running operations (bulk imports, backups, restore jobs) share: timestamps, listing pages
with opaque tokens, a persisted JSON file, and the pause between the batches they write."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from .errors import invalid_argument
from .faults import FaultSettings
from .validation import integer

# Write at most this often while a job progresses; state transitions are written at once.
PROGRESS_SAVE_SECONDS = 1.0


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Listed(Protocol):
    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=Listed)


def page(
    items: Sequence[T], query: Mapping[str, str], kind: str, default_limit: int, max_limit: int = 100
) -> tuple[list[T], dict[str, str] | None]:
    """One page of ``items`` (in listing order, ``seq`` ascending) and the ``pagination`` object, if more.

    The token names the last ``seq`` shown, so items created or deleted between pages shift nothing, and
    carries the page size: SDK 10 sends no ``limit`` along with a token.
    """
    after, limit = 0, default_limit
    token = query.get("paginationToken")
    if token:
        after, limit = _decode(token, kind)
    if query.get("limit") is not None:
        limit = integer(query["limit"], "limit", 1, max_limit)
    rest = [item for item in items if item.seq > after]
    shown = rest[:limit]
    if len(rest) > limit:
        return shown, {"next": _encode(kind, shown[-1].seq, limit)}
    return shown, None


def _encode(kind: str, after: int, limit: int) -> str:
    payload = orjson.dumps({"k": kind, "after": after, "limit": limit})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode(token: str, kind: str) -> tuple[int, int]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("k") != kind
        or type(payload.get("after")) is not int
        or type(payload.get("limit")) is not int
    ):
        raise invalid_argument("Invalid pagination token: pass back pagination.next unchanged.")
    return int(payload["after"]), int(payload["limit"])


class JsonFile:
    """A JSON document in the data directory, replaced atomically; ``path=None`` keeps nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        loaded = orjson.loads(self.path.read_bytes())
        return loaded if isinstance(loaded, dict) else {}

    def save(self, document: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


async def pause_between_batches(faults: FaultSettings) -> None:
    """Let requests in between two batches, plus the configured delay (tests use it to catch a job)."""
    await asyncio.sleep(faults.background_batch_delay_ms / 1000.0)
