"""Metadata filters that split a namespace into parts a query can return whole: a part smaller than
``top_k`` comes back complete in one query, which for dotproduct is the only way to reach records that are
never among the best ``top_k`` of any query vector."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

Filter = dict[str, Any]


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


def conditions(metadata_filter: Filter | None) -> list[Filter]:
    """The conditions a part's filter joins (a part within a part is their ``$and``)."""
    if not metadata_filter:
        return []
    if list(metadata_filter) == ["$and"]:
        return list(metadata_filter["$and"])
    return [metadata_filter]


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
