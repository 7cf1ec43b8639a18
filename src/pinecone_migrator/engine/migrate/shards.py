"""Splitting a namespace into ID-prefix shards, so that several listings run in parallel.

Listing is one request per 100 IDs, in order; against a remote index its round trips alone can cap a
migration. Shards are found by probing ``list(prefix=p, limit=1)``: the smallest ID under a prefix says
which first child exists, and one probe per larger character finds the others. IDs are ASCII without NUL
(Pinecone refuses others), so the children of a prefix cover every ID under it, except the ID equal to the
prefix itself: such a prefix is never split. The copy then checks its total against the namespace's count
and lists the whole namespace once more if the shards came up short (see :func:`copy_namespace`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ...stores.base import Store

ALPHABET = "".join(chr(code) for code in range(1, 128))

# Automatic sharding pays off when listing waits on the network; against a server next door the extra
# lister threads only compete for the interpreter (measured: 16 % slower with 0 ms, 2.8x faster with 20 ms).
SLOW_LIST_SECONDS = 0.005


def shards_wanted(
    store: Store,
    namespace: str,
    records: int | None,
    requested: int | None,
    concurrency: int,
    min_records: int,
) -> int:
    """How many ID-prefix shards to look for in a namespace; 0 = list it whole.

    ``requested``: None decides automatically (a namespace of at least ``min_records`` whose list round trip
    is slow gets ``concurrency`` shards), 1 never shards, N looks for N."""
    if requested == 1:
        return 0
    if requested is not None:
        return requested
    if (records or 0) < min_records or concurrency < 2:
        return 0
    started = time.monotonic()
    store.list_ids(namespace, limit=1)
    return concurrency if time.monotonic() - started >= SLOW_LIST_SECONDS else 0


def discover_prefixes(
    source: Store,
    namespace: str,
    wanted: int,
    *,
    stop: threading.Event | None = None,
    workers: int = 16,
    max_probes: int = 2_000,
    max_depth: int = 8,
) -> list[str]:
    """Non-empty ID prefixes that together cover the namespace, at least ``wanted`` when the IDs allow.

    An empty list means "do not shard" (an empty namespace, or one that cannot be split).
    """

    def smallest(prefix: str) -> str | None:
        page = source.list_ids(namespace, prefix=prefix, limit=1)
        return page.ids[0] if page.ids else None

    first = smallest("")
    if first is None:
        return []
    frontier: list[tuple[str, str]] = [("", first)]  # (prefix, the smallest ID under it)
    probes = 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while len(frontier) < wanted and not (stop is not None and stop.is_set()):
            expanded: list[tuple[str, str]] = []
            grew = False
            for prefix, first_id in frontier:
                splittable = first_id != prefix and len(prefix) < max_depth
                start = first_id[len(prefix)] if splittable else ""
                candidates = [prefix + c for c in ALPHABET if c > start]
                if not splittable or probes + len(candidates) > max_probes:
                    expanded.append((prefix, first_id))
                    continue
                probes += len(candidates)
                expanded.append((prefix + start, first_id))
                found = pool.map(smallest, candidates)
                expanded += [(c, s) for c, s in zip(candidates, found, strict=True) if s is not None]
                grew = True
            frontier = expanded
            if not grew:
                break
    return [prefix for prefix, _ in frontier] if len(frontier) > 1 else []
