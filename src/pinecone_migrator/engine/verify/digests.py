"""Verify's bucket digests: what a scan of one side of a namespace reduces its records to.

Buckets: every record ID falls in one of B buckets by a 64-bit hash of the ID alone (not its contents), so
the same ID lands in the same bucket on both sides; per (target namespace, bucket) both sides keep a count
and a sum of record digests (a :class:`~pinecone_migrator.records.SetDigest` split B ways).
"""

from __future__ import annotations

import xxhash

from ...records import SetDigest

_MOD = 1 << 128


def bucket_of(record_id: str, buckets: int) -> int:
    """The bucket of an ID: XXH3-64 of its UTF-8 bytes, modulo the number of buckets."""
    return xxhash.xxh3_64_intdigest(record_id.encode("utf-8")) % buckets


class BucketDigests:
    """Per bucket, how many records and the (unreduced) sum of their digests."""

    __slots__ = ("counts", "totals")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.totals = [0] * buckets

    def add_all(self, buckets: list[int], digests: list[int]) -> None:
        counts, totals = self.counts, self.totals
        for bucket, digest in zip(buckets, digests, strict=True):
            counts[bucket] += 1
            totals[bucket] += digest

    def merge(self, other: BucketDigests) -> None:
        for bucket, count in enumerate(other.counts):
            if count:
                self.counts[bucket] += count
                self.totals[bucket] += other.totals[bucket]

    def total(self) -> SetDigest:
        return SetDigest(count=sum(self.counts), total=sum(self.totals) % _MOD)

    def differing(self, other: BucketDigests) -> list[int]:
        """Buckets whose count or digest differs from ``other``'s."""
        return [
            b
            for b, (mine, theirs) in enumerate(zip(self.counts, other.counts, strict=True))
            if mine != theirs or (self.totals[b] - other.totals[b]) % _MOD
        ]
