"""fetch_by_metadata on PostgreSQL returns exactly what Pinecone's filter semantics (filters.py, evaluated on
the records themselves) select: random filters over records with every kind of value, in jsonb metadata and
in typed columns of a user's table."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import psycopg
import pytest

from pinecone_migrator.filters import compile_filter
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, Store, StoreDescription
from pinecone_migrator.stores.pgvector import open_uri
from pinecone_migrator.stores.uri import parse

from .conftest import new_table
from .server import PostgresServer

KEYS = ("s", "n", "b", "tags", "odd key'%\\")
STRINGS = ("a", "b", "O'Hara", "é", "1", "true", "")
NUMBERS = (0, 1, 1.0, -2.5, 0.1, 3, 2.0**53 + 2, 1e300)
OPERAND_NUMBERS = (*NUMBERS, -0.0, 2**53 + 1)


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind == 2:
        return rng.random() < 0.5
    if kind == 3:
        return rng.sample(STRINGS, rng.randrange(0, 3))
    return None  # the key is missing


def _records(rng: random.Random, count: int) -> list[Record]:
    records = []
    for n in range(count):
        metadata = {key: _value(rng) for key in KEYS}
        records.append(Record(f"r{n:03d}", np.full(2, n, np.float32), metadata=metadata))
    return records


def _operand(rng: random.Random) -> Any:
    return rng.choice([*STRINGS, *OPERAND_NUMBERS, True, False])


def _condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and rng.random() < 0.25:
        return {rng.choice(["$and", "$or"]): [_condition(rng, depth + 1) for _ in range(rng.randrange(1, 3))]}
    key = rng.choice(KEYS)
    op = rng.choice(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "bare"])
    if op == "bare":
        return {key: _operand(rng)}
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return {key: {op: rng.choice(OPERAND_NUMBERS)}}
    if op in ("$in", "$nin"):
        return {key: {op: [_operand(rng) for _ in range(rng.randrange(0, 4))]}}
    if op == "$exists":
        return {key: {op: rng.random() < 0.5}}
    return {key: {op: _operand(rng)}}


def _matching(store: Store, metadata_filter: dict[str, Any]) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = store.fetch_by_metadata(DEFAULT_NAMESPACE, metadata_filter, cursor=cursor, limit=40)  # type: ignore[attr-defined]
        found += [record.id for record in page.records]
        if (cursor := page.cursor) is None:
            return found


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return _records(random.Random(15), 120)


def _jsonb_store(postgres: PostgresServer, records: list[Record]) -> Store:
    store = open_uri(parse(postgres.uri(new_table("filtered")), side="target"))
    store.create_like(StoreDescription("s", IndexShape("dense", "cosine", 2), {}))  # type: ignore[attr-defined]
    store.write(DEFAULT_NAMESPACE, records)
    return store


def _typed_store(postgres: PostgresServer, records: list[Record]) -> tuple[Store, list[Record]]:
    """A user's table: numbers in a real column (read as float32 values), text, boolean, text[]; lists of
    strings only where the column is text[]."""
    table = new_table("typed_filtered")
    with psycopg.connect(postgres.dsn(), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute(
            f"CREATE TABLE {table} (id text PRIMARY KEY, embedding vector(2), s text, n real, b boolean, "
            f'tags text[], "odd key\'%\\" numeric)'
        )
    store = open_uri(parse(postgres.uri(table, metric="cosine"), side="target"))
    typed = []
    for record in records:
        metadata = dict(record.metadata)
        for key, fits in (("s", str), ("b", bool), ("tags", list)):
            if key in metadata and not isinstance(metadata[key], fits):
                del metadata[key]
        for key in ("n", "odd key'%\\"):
            value = metadata.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                metadata.pop(key, None)
            elif key == "n":
                metadata[key] = float(np.float32(value)) if abs(value) < 1e38 else 1.0
        typed.append(Record(record.id, record.values, metadata=metadata))
    store.write(DEFAULT_NAMESPACE, typed)
    return store, typed


def test_random_filters_select_what_pinecone_would(postgres: PostgresServer, records: list[Record]) -> None:
    jsonb = _jsonb_store(postgres, records)
    typed, typed_records = _typed_store(postgres, records)
    assert typed.fetch(DEFAULT_NAMESPACE, [r.id for r in typed_records[:5]]) == typed_records[:5]
    rng = random.Random(7)
    for _ in range(250):
        metadata_filter = _condition(rng)
        for store, held in ((jsonb, records), (typed, typed_records)):
            matches = compile_filter(metadata_filter)
            wanted = sorted(r.id for r in held if matches(r.metadata))
            assert _matching(store, metadata_filter) == wanted, metadata_filter
