"""Small helpers shared by tests: create indexes through the SDK, build records, compare them exactly."""

from __future__ import annotations

import random
import string
from typing import Any

import numpy as np
from pinecone import Pinecone, ServerlessSpec

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def dense_index(pc: Pinecone, name: str, dimension: int = 8, metric: str = "cosine") -> Any:
    pc.create_index(name=name, dimension=dimension, metric=metric, spec=SPEC)
    return pc.index(host=pc.describe_index(name).host)


def sparse_index(pc: Pinecone, name: str) -> Any:
    pc.create_index(name=name, metric="dotproduct", vector_type="sparse", spec=SPEC)
    return pc.index(host=pc.describe_index(name).host)


def f32(values: list[float]) -> list[float]:
    """What an index stores for these values: float32, read back as Python floats."""
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def random_records(
    count: int, dimension: int, rng: random.Random, sparse: bool = False, prefix: str = "rec-"
) -> list[dict[str, Any]]:
    records = []
    for i in range(count):
        record: dict[str, Any] = {
            "id": f"{prefix}{i:05d}",
            "values": [rng.uniform(-1, 1) for _ in range(dimension)],
            "metadata": {
                "title": "".join(rng.choices(string.ascii_letters, k=12)),
                "year": rng.randint(1990, 2030),
                "score": rng.random(),
                "published": rng.random() < 0.5,
                "tags": rng.sample(["a", "b", "c", "d", "e"], k=rng.randint(0, 3)),
            },
        }
        if sparse:
            indices = sorted(rng.sample(range(10_000), k=rng.randint(1, 6)))
            record["sparse_values"] = {"indices": indices, "values": [rng.uniform(0, 1) for _ in indices]}
        records.append(record)
    return records


def as_plain(vector: Any) -> dict[str, Any]:
    """An SDK Vector as a plain dict comparable with :func:`expected` (values compared as float32)."""
    plain: dict[str, Any] = {"id": vector.id, "values": f32(list(vector.values or []))}
    if vector.sparse_values is not None:
        plain["sparse_values"] = {
            "indices": list(vector.sparse_values.indices),
            "values": f32(list(vector.sparse_values.values)),
        }
    if vector.metadata:
        plain["metadata"] = dict(vector.metadata)
    return plain


def expected(record: dict[str, Any]) -> dict[str, Any]:
    """What the index must give back for an upserted record (float32 values, nulls dropped)."""
    plain: dict[str, Any] = {"id": record["id"], "values": f32(record.get("values") or [])}
    sparse = record.get("sparse_values")
    if sparse and sparse["indices"]:
        plain["sparse_values"] = {"indices": list(sparse["indices"]), "values": f32(sparse["values"])}
    metadata = {k: v for k, v in (record.get("metadata") or {}).items() if v is not None}
    if metadata:
        plain["metadata"] = metadata
    return plain


def all_ids(
    index: Any, namespace: str = "", prefix: str | None = None, limit: int | None = None
) -> list[str]:
    return [
        item.id
        for page in index.list(namespace=namespace, prefix=prefix, limit=limit)
        for item in page.vectors
    ]


def namespace_digest(store: Any, namespace: str) -> Any:
    """The set digest of everything a store holds in one namespace (the demo's own check)."""
    from pinecone_migrator.demo import namespace_digest as scan

    return scan(store, namespace)
