"""Splitting a namespace into ID-prefix shards, so that several listings run in parallel.

Listing is one request per 100 IDs, in order; against a remote index its round trips alone can cap a
migration. Shards are found by probing ``list(prefix=p, limit=1)``: the smallest ID under a prefix says
which first child exists, and one probe per larger character finds the others. IDs are ASCII without NUL
(Pinecone refuses others), so the children of a prefix cover every ID under it, except the ID equal to the
prefix itself: such a prefix is never split. The copy then checks its total against the namespace's count
and lists the whole namespace once more if the shards came up short (see :func:`copy_namespace`).
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ...stores.base import Store

ALPHABET = "".join(chr(code) for code in range(1, 128))

# The listing rate worth reaching: Pinecone's list limit (200 requests/s per index, 100 IDs each). One
# listing gets page_size IDs per round trip, so reaching it takes rate x round trip / page_size listings side
# by side: 1 next door (a few ms), 4 at 20 ms, 16 at 80 ms. Against a server next door extra listers only
# compete for the interpreter (measured: 16 % slower with 0 ms, 2.8x faster with 20 ms).
TARGET_IDS_PER_SECOND = 20_000
MAX_LISTERS = 32
# A namespace whose whole listing takes less than this is not worth the probes that find its shards: up to
# ~127 list calls per level of the IDs' common prefix, 16 at a time (IDs like doc-0001234 took ~640 probes).
# Measured on a loaded 2-core machine, 3 x 10,000 records at 80 ms (8 s of listing each): sharded 1,924
# records/s and 241 MB peak RSS, whole 2,163/s and 109 MB. At 80 ms this shards from 25,000 records.
MIN_LISTING_SECONDS = 20.0
# Kept for callers that still compare a round trip with it; the engine decides with shards_for.
SLOW_LIST_SECONDS = 0.005


def list_round_trip(store: Store, namespace: str) -> float:
    """Seconds one ``list_ids`` call takes (the smallest of two, so one slow call does not count)."""
    trips = []
    for _ in range(2):
        started = time.monotonic()
        store.list_ids(namespace, limit=1)
        trips.append(time.monotonic() - started)
    return min(trips)


def listers_needed(round_trip: float, page_size: int = 100) -> int:
    """Listings side by side that reach :data:`TARGET_IDS_PER_SECOND` at this round trip (1 to
    :data:`MAX_LISTERS`)."""
    return max(1, min(MAX_LISTERS, math.ceil(TARGET_IDS_PER_SECOND * round_trip / max(1, page_size))))


def shards_wanted(
    store: Store,
    namespace: str,
    records: int | None,
    requested: int | None,
    concurrency: int | None,
    min_records: int | None,
    page_size: int = 100,
    round_trip: float | None = None,
) -> int:
    """How many ID-prefix shards to look for in a namespace; 0 = list it whole (see :func:`shards_for`).
    ``round_trip``: the list round trip measured already (otherwise two list calls measure it, and only
    when the answer depends on it)."""
    if not store.capabilities().lists_bytewise:
        return 0  # prefixes are found from the smallest ID under each, which only a bytewise listing gives
    if shards_for(records, 3600.0, requested, concurrency, min_records, page_size) == 0:
        return 0  # not even an hour-long round trip would shard it
    trip = list_round_trip(store, namespace) if round_trip is None else round_trip
    return shards_for(records, trip, requested, concurrency, min_records, page_size)


def shards_for(
    records: int | None,
    round_trip: float,
    requested: int | None,
    concurrency: int | None,
    min_records: int | None,
    page_size: int = 100,
) -> int:
    """The shard decision for a namespace of ``records`` behind a list call of ``round_trip`` seconds.

    ``requested``: None decides: as many listings as reach the rate worth reaching (:func:`listers_needed`,
    at most ``concurrency`` when that is fixed), for a namespace whose listing alone would take
    :data:`MIN_LISTING_SECONDS` or more (or, when ``min_records`` is given, that holds at least that many
    records); 1 never shards, N looks for N."""
    if requested == 1:
        return 0
    if requested is not None:
        return requested
    if not records or records < 2 * page_size or (concurrency is not None and concurrency < 2):
        return 0
    if min_records is not None and records < min_records:
        return 0
    wanted = listers_needed(round_trip, page_size)
    if concurrency is not None:
        wanted = min(wanted, concurrency)
    if min_records is None and records / max(1, page_size) * round_trip < MIN_LISTING_SECONDS:
        return 0
    return wanted if wanted >= 2 else 0


def namespaces_side_by_side(
    namespaces: int, mean_records: float, round_trip: float, page_size: int = 100
) -> int:
    """How many namespaces to copy at once: each costs its listing (a round trip per page) and about two
    more per 1,000 records (fetch, write), so small namespaces (one per tenant) need many at once to reach
    :data:`TARGET_IDS_PER_SECOND`; at least 4 (the old fixed default: next door, each namespace's own round
    trips and ledger commits still overlap; 3 measured ~10-20 % slower with 400 x 50 records at 0 ms), at
    most :data:`MAX_LISTERS`."""
    if namespaces <= 1:
        return max(1, namespaces)
    mean = max(1.0, mean_records)
    round_trips = math.ceil(mean / max(1, page_size)) + 2 * math.ceil(mean / 1_000)
    needed = math.ceil(TARGET_IDS_PER_SECOND * round_trip * round_trips / mean)
    return min(namespaces, max(4, min(MAX_LISTERS, needed)))


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
