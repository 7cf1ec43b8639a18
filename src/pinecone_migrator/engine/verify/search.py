"""``verify --level search N``: proof that the target *searches* like the source, not only stores the same.

N records are sampled from the source namespace (reservoir sampling over its listing, bounded by
``list_budget`` IDs; past that the sample leans towards the start of the ID order, and the result says so).
Each one's own vectors are used as a query on both sides; per query we compare the top-k IDs (overlap) and,
for IDs found on both sides, the scores. Pinecone's search is approximate, so a healthy copy may differ at
the margins: the verdict uses tolerances, and the figures are reported as measured.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from ...stores.base import Searches, Store
from ..walk import fetch_all, listing, pages

MIN_MEAN_OVERLAP = 0.95
MAX_SCORE_DIFFERENCE = 1e-4


@dataclass
class SearchComparison:
    namespace: str
    target_namespace: str
    queries: int
    top_k: int
    mean_overlap: float = 1.0
    min_overlap: float = 1.0
    max_score_difference: float = 0.0
    sample_from_prefix_only: bool = False  # the listing budget ran out before the end of the namespace
    examples: list[dict[str, object]] = field(default_factory=list)  # a few queries that differed

    @property
    def equal(self) -> bool:
        return self.mean_overlap >= MIN_MEAN_OVERLAP and self.max_score_difference <= MAX_SCORE_DIFFERENCE

    def to_json(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "target_namespace": self.target_namespace,
            "queries": self.queries,
            "top_k": self.top_k,
            "mean_overlap": round(self.mean_overlap, 6),
            "min_overlap": round(self.min_overlap, 6),
            "max_score_difference": self.max_score_difference,
            "sample_from_prefix_only": self.sample_from_prefix_only,
            "equal": self.equal,
            "examples": self.examples,
        }


def sample_ids(
    store: Store, namespace: str, count: int, rng: random.Random, list_budget: int
) -> tuple[list[str], bool]:
    """Up to ``count`` IDs drawn uniformly from the first ``list_budget`` listed; True when cut short."""
    chosen: list[str] = []
    seen = 0
    for page in pages(listing(store, namespace)):
        for record_id in page.items:
            seen += 1
            if len(chosen) < count:
                chosen.append(record_id)
            else:
                slot = rng.randrange(seen)
                if slot < count:
                    chosen[slot] = record_id
        if page.cursor is not None and seen >= list_budget:
            return chosen, True
    return chosen, False


def compare_search(
    source: Store,
    target: Store,
    namespace: str,
    target_namespace: str,
    queries: int,
    *,
    top_k: int = 10,
    seed: int = 0,
    list_budget: int = 100_000,
    stop: threading.Event | None = None,
) -> SearchComparison:
    if not isinstance(source, Searches) or not isinstance(target, Searches):
        raise TypeError("both stores must be able to search")
    ids, cut_short = sample_ids(source, namespace, queries, random.Random(seed), list_budget)
    result = SearchComparison(
        namespace=namespace,
        target_namespace=target_namespace,
        queries=0,
        top_k=top_k,
        sample_from_prefix_only=cut_short,
    )
    overlaps: list[float] = []
    for record in fetch_all(source, namespace, ids):
        if stop is not None and stop.is_set():
            break
        theirs = {m.id: m.score for m in source.query(namespace, record, top_k)}
        ours = {m.id: m.score for m in target.query(target_namespace, record, top_k)}
        expected = max(len(theirs), 1)
        overlap = len(theirs.keys() & ours.keys()) / expected
        overlaps.append(overlap)
        difference = max((abs(theirs[i] - ours[i]) for i in theirs.keys() & ours.keys()), default=0.0)
        result.max_score_difference = max(result.max_score_difference, difference)
        if (overlap < 1.0 or difference > MAX_SCORE_DIFFERENCE) and len(result.examples) < 5:
            result.examples.append(
                {
                    "query_id": record.id,
                    "only_in_source": sorted(theirs.keys() - ours.keys()),
                    "only_in_target": sorted(ours.keys() - theirs.keys()),
                    "max_score_difference": difference,
                }
            )
    result.queries = len(overlaps)
    if overlaps:
        result.mean_overlap = sum(overlaps) / len(overlaps)
        result.min_overlap = min(overlaps)
    return result
