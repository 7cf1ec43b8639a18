"""Record digests, pure CPU in one process: records/s at dimension 768 with ~1 KB metadata.

    .venv/bin/python -u bench/digest_speed.py [--records 50000] [--dimension 768]

Beside ours (``records.record_digest``: ID + float32 values + sparse pairs + canonical metadata), two
baselines in the same run: BLAKE2b over the dense values alone (our hash before XXH3), and the original
script's way (MD5 of ``str(values) + str(metadata)``, which ignores IDs and sparse values).
Target (issue 4): >= 200,000 records/s.
"""

from __future__ import annotations

import argparse
import hashlib
import string
import time

import numpy as np

from pinecone_migrator.records import Record, SetDigest, record_digest


def make_records(count: int, dimension: int) -> list[Record]:
    rng = np.random.default_rng(0)
    letters = np.array(list(string.ascii_letters))
    return [
        Record(
            id=f"doc-{i:08d}#chunk-{i % 7}",
            values=rng.standard_normal(dimension, dtype=np.float32),
            metadata={
                "text": "".join(rng.choice(letters, 900)),
                "year": int(rng.integers(1990, 2030)),
                "score": float(rng.random()),
                "tags": ["a", "b"],
                "published": bool(i % 2),
            },
        )
        for i in range(count)
    ]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=768)
    args = parser.parse_args()
    records = make_records(args.records, args.dimension)
    print(f"digest bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, one process")

    started = time.perf_counter()
    digest = SetDigest()
    for record in records:
        digest.add(record_digest(record))
    ours = time.perf_counter() - started

    dense_only = [Record(id=r.id, values=r.values) for r in records]
    started = time.perf_counter()
    for record in dense_only:
        digest.add(record_digest(record))
    ours_dense = time.perf_counter() - started

    started = time.perf_counter()
    for record in records:
        assert record.values is not None
        hashlib.blake2b(record.values.data, digest_size=16).digest()
    floor = time.perf_counter() - started

    started = time.perf_counter()
    for record in records:
        assert record.values is not None
        hashlib.md5(
            (str(record.values.tolist()) + str(record.metadata)).encode(), usedforsecurity=False
        ).hexdigest()
    original = time.perf_counter() - started

    rows = [
        ("ours: record_digest + set digest (whole record)", ours),
        ("ours, the same records without metadata", ours_dense),
        ("BLAKE2b of the dense values alone (the hash used before)", floor),
        ("original script: md5(str(values) + str(metadata))", original),
    ]
    print(f"{'measure':<56}{'records/s':>12}{'ours / this':>13}")
    for name, seconds in rows:
        print(f"{name:<56}{rate(args.records, seconds)}{seconds / ours:>13.2f}")
    for name, seconds in (("with ~1 KB metadata", ours), ("dense only", ours_dense)):
        verdict = "met" if args.records / seconds >= 200_000 else "NOT met"
        print(f"target >= 200,000 records/s, {name}: {args.records / seconds:,.0f} -> {verdict}")


if __name__ == "__main__":
    main()
