"""Records to rows and back, for one table layout.

A row holds the ID, the dense values (``vector``/``halfvec``), the sparse values (``sparsevec``) and the
metadata: each key with a column of its own goes there (typed: a string into text, a number into a numeric
column, a boolean, a list of strings into text[], anything into json/jsonb), every other key into the
``metadata`` jsonb column. A record this table cannot hold exactly is refused, naming the record and why
(the engine keeps it as a dead letter) — never stored changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ...records import Record
from .codec import FLOAT16_MAX, dense_bytes, half_bytes, jsonb_bytes, sparse_bytes
from .schema import SPARSE_MAX_NONZEROS, Column, Layout, quoted

MAX_ID_LENGTH = 512
_INTEGER_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
# COPY's binary field types for values this module encodes itself: psycopg sends the bytes as they are.
_COPY_TYPES = {"_text": "text[]", "_varchar": "varchar[]", "json": "bytea", "jsonb": "bytea"}


def written_columns(layout: Layout) -> list[tuple[str, str]]:
    """(column, COPY type) of every column a write sets, in row order. Columns of other types (read as
    their text) are not written."""
    columns = []
    if layout.namespace_column:
        columns.append((layout.namespace_column, "text"))
    columns.append((layout.id_column, "text"))
    if layout.dense_column:
        columns.append((layout.dense_column, "bytea"))
    if layout.sparse_column:
        columns.append((layout.sparse_column, "bytea"))
    if layout.json_column:
        columns.append((layout.json_column, "bytea"))
    for column in layout.columns:
        if column.kind != "other":
            columns.append((column.name, _COPY_TYPES.get(column.type_name, column.type_name)))
    return columns


def select_list(layout: Layout) -> str:
    """The columns a fetch reads, in :func:`record_of`'s order."""
    parts = [quoted(layout.id_column)]
    for name in (layout.dense_column, layout.sparse_column, layout.json_column):
        parts.append(quoted(name) if name else "NULL")
    for column in layout.columns:
        parts.append(f"{quoted(column.name)}::text" if column.kind == "other" else quoted(column.name))
    return ", ".join(parts)


def record_of(row: Sequence[Any], layout: Layout) -> Record:
    record_id, values, sparse, document = row[0], row[1], row[2], row[3]
    metadata: dict[str, Any] = {}
    if isinstance(document, dict):
        metadata.update(document)
    elif document is not None:
        metadata["metadata"] = document
    for column, value in zip(layout.columns, row[4:], strict=True):
        if value is not None:
            metadata[column.name] = float(value) if isinstance(value, Decimal) else value
    return Record(record_id, values, sparse, metadata)


def refusal(record: Record, layout: Layout, max_id_length: int | None) -> str | None:
    """Why this table cannot hold ``record`` exactly (None: it can)."""
    if not record.id or "\x00" in record.id:
        return "an ID must be non-empty text without NUL characters"
    if max_id_length is not None and len(record.id) > max_id_length:
        return f"the ID is {len(record.id)} characters long; this table takes at most {max_id_length}"
    problem = _vector_problem(record, layout)
    if problem is not None:
        return problem
    return _metadata_problem(record, layout)


def _vector_problem(record: Record, layout: Layout) -> str | None:
    values = record.values
    if layout.dense_column is None:
        if values is not None:
            return "this table holds sparse vectors only, and the record has dense values"
        if record.sparse is None:
            return "the record has no sparse values, and this table holds sparse vectors only"
    elif values is None:
        return "the record has no dense values, and this table's vector column needs them"
    elif values.size != layout.dimension:
        return f"dimension {values.size} does not match the table's {layout.dimension}"
    elif layout.dense_type == "halfvec" and not _fits_float16(values):
        return f"a value beyond {FLOAT16_MAX:g} does not fit a halfvec (16-bit floats)"
    sparse = record.sparse
    if sparse is None:
        return None
    if layout.sparse_column is None:
        return "this table has no sparsevec column for the record's sparse values"
    if len(sparse) > SPARSE_MAX_NONZEROS:
        return f"{len(sparse):,} sparse values exceed pgvector's {SPARSE_MAX_NONZEROS:,}"
    if int(sparse.indices[-1]) >= layout.sparse_dimension:
        return (
            f"sparse index {int(sparse.indices[-1]):,} is beyond the column's {layout.sparse_dimension - 1:,}"
        )
    if not sparse.values.all():
        return "a sparse value is zero, and a sparsevec drops zeros"
    return None


def _fits_float16(values: npt.NDArray[np.float32]) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.isfinite(values.astype(np.float16)).all())


def _metadata_problem(record: Record, layout: Layout) -> str | None:
    if not layout.columns and layout.json_column is not None:
        # Everything goes to jsonb, which refuses only NUL characters and keeps no -0.0: neither can hide
        # from the JSON text (orjson writes them as \u0000 and -0.0), so most records need no walk.
        text = orjson.dumps(record.metadata)
        if b"\\u0000" not in text and b"-0.0" not in text:
            return None
    for key, value in record.metadata.items():
        column = layout.column(key)
        if column is None:
            if layout.json_column is None:
                return (
                    f"metadata {key!r} has no column of its own in this table, and it has no jsonb metadata"
                )
            column = Column(layout.json_column, "jsonb")
        problem = _value_problem(value, column)
        if problem is not None:
            return f"metadata {key!r}: {problem}"
    return None


def _value_problem(value: Any, column: Column) -> str | None:
    kind = column.kind
    if kind == "json":
        return _json_problem(value)
    if kind == "text":
        return _text_problem(value)
    if kind == "bool":
        return None if isinstance(value, bool) else f"column {column.name} holds booleans"
    if kind == "strings":
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            return f"column {column.name} holds lists of strings"
        return next(filter(None, map(_text_problem, value)), None)
    if kind == "number":
        return _number_problem(value, column)
    return f"column {column.name} is of type {column.type_name}, which pinecone-migrator does not write"


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "the column holds strings"
    return "PostgreSQL text cannot hold NUL characters" if "\x00" in value else None


def _json_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
        return "jsonb holds -0.0 as 0"
    if isinstance(value, list):
        return next(filter(None, map(_json_problem, value)), None)
    if isinstance(value, dict):
        return next(filter(None, map(_json_problem, [*value.keys(), *value.values()])), None)
    return None


def _number_problem(value: Any, column: Column) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"column {column.name} holds numbers"
    name = column.type_name
    if name == "float4" and float(np.float32(value)) != value:
        return f"column {column.name} is real (32 bits): {value!r} would be rounded"
    limit = _INTEGER_RANGES.get(name)
    if limit is not None and not (float(value).is_integer() and -limit <= value < limit):
        return f"column {column.name} is an integer column: {value!r} does not fit"
    return None


def row_of(record: Record, namespace_value: str | None, layout: Layout) -> list[Any]:
    """The row :func:`written_columns` describes (the record was checked by :func:`refusal`)."""
    row: list[Any] = []
    if layout.namespace_column:
        row.append(namespace_value)
    row.append(record.id)
    if layout.dense_column:
        values = record.values
        if values is None:
            row.append(None)
        else:
            row.append(half_bytes(values) if layout.dense_type == "halfvec" else dense_bytes(values))
    if layout.sparse_column:
        sparse = record.sparse
        row.append(None if sparse is None else sparse_bytes(sparse, layout.sparse_dimension))
    metadata = record.metadata
    if layout.json_column:
        rest = {key: value for key, value in metadata.items() if layout.column(key) is None}
        row.append(jsonb_bytes(rest) if rest else None)
    for column in layout.columns:
        if column.kind != "other":
            row.append(_column_value(metadata.get(column.name), column))
    return row


def _column_value(value: Any, column: Column) -> Any:
    if value is None:
        return None
    if column.type_name == "jsonb":
        return jsonb_bytes(value)
    if column.type_name == "json":
        return orjson.dumps(value)
    if column.kind == "number":
        if column.type_name in _INTEGER_RANGES:
            return int(value)
        if column.type_name == "numeric":
            return Decimal(repr(float(value)))
        return float(value)
    return value
