"""How a table's columns map to records: read from the catalog for an existing table, or the DDL of one we
create.

Inferred from the table (the user's own, or one we made):

- The ID: the column ``id`` (text or varchar).
- Dense values: the column ``embedding``, or the table's only ``vector``/``halfvec`` column; its dimension is
  the column's (``vector(768)``). Sparse values: the column ``sparse``, or the only ``sparsevec`` column.
  A table may have either or both (a sparse-only table is a sparse index).
- The namespace: the column named by ``namespace_column`` (default ``namespace``); without one, every row is
  in the default namespace.
- Metadata: the ``metadata`` jsonb column (the keys without a column of their own), and every other column
  as a key of its own: text, numbers (double precision, real, integers, numeric), boolean, text[] and
  json/jsonb as such; other types are read as their text. A NULL is no key.
- The metric: the operator class of the dense column's HNSW or IVFFlat index (``vector_cosine_ops`` cosine,
  ``vector_l2_ops`` euclidean, ``vector_ip_ops`` dotproduct, ``vector_l1_ops`` manhattan), else our own
  table comment (``pinecone-migrator metric=...``, on tables we create), else the ``metric`` option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ...errors import UserError
from .options import Settings

SPARSE_MAX_DIMENSION = 1_000_000_000
SPARSE_MAX_NONZEROS = 16_000
MAX_DIMENSION = 16_000
# What an HNSW index can hold per type (beyond it a table we create has no index: the comment keeps the
# metric).
HNSW_MAX_DIMENSION = {"vector": 2_000, "halfvec": 4_000}
COMMENT_PREFIX = "pinecone-migrator"
_COMMENT_METRIC = re.compile(rf"{COMMENT_PREFIX} metric=(\w+)")

OPERATOR_CLASSES = {
    "cosine": "cosine_ops",
    "euclidean": "l2_ops",
    "dotproduct": "ip_ops",
    "manhattan": "l1_ops",
}
_METRIC_OF_CLASS = {suffix: metric for metric, suffix in OPERATOR_CLASSES.items()}

ID_TYPES = frozenset({"text", "varchar"})
NUMBER_TYPES = frozenset({"float8", "float4", "int2", "int4", "int8", "numeric"})
KINDS = {"text": "text", "varchar": "text", "bpchar": "text", "bool": "bool", "_text": "strings"}
KINDS |= {"_varchar": "strings", "jsonb": "json", "json": "json"} | {name: "number" for name in NUMBER_TYPES}


@dataclass(frozen=True)
class Column:
    """A metadata key held in a column of its own."""

    name: str
    type_name: str  # pg_type.typname: float8, int4, _text, jsonb, ...
    not_null: bool = False

    @property
    def kind(self) -> str:
        """text, number, bool, strings, json, or other (read as text, never written)."""
        return KINDS.get(self.type_name, "other")


@dataclass(frozen=True)
class Layout:
    dense_column: str | None
    dense_type: str | None  # "vector" or "halfvec"
    dimension: int | None
    sparse_column: str | None
    sparse_dimension: int  # what a sparse value written here declares (the column's, or pgvector's largest)
    namespace_column: str | None
    json_column: str | None  # jsonb: the keys without a column of their own
    columns: tuple[Column, ...]
    metric: str
    ours: bool  # made by create_like (its comment says so): finish() may index it
    dense_indexed: bool
    id_column: str = "id"

    @property
    def vector_type(self) -> str:
        return "dense" if self.dense_column else "sparse"

    def column(self, key: str) -> Column | None:
        return self._by_name.get(key)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}


def created_layout(settings: Settings, vector_type: str, metric: str, dimension: int | None) -> Layout:
    """The layout create_like makes for a source of this shape."""
    dense = vector_type == "dense"
    return Layout(
        dense_column="embedding" if dense else None,
        dense_type=settings.vector_type if dense else None,
        dimension=dimension if dense else None,
        sparse_column="sparse",
        sparse_dimension=SPARSE_MAX_DIMENSION,
        namespace_column=settings.namespace_column if settings.namespaces == "column" else None,
        json_column=None if settings.metadata == "columns" else "metadata",
        columns=(),
        metric=metric,
        ours=True,
        dense_indexed=False,
    )


def quoted(name: str) -> str:
    """An identifier, for statements sent with parameters (so ``%`` is doubled: every statement of this
    package is; COPY, which takes none, undoes it with :func:`unparametrised`)."""
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


def unparametrised(statement: str) -> str:
    return statement.replace("%%", "%")


def qualified(schema: str, table: str) -> str:
    return f"{quoted(schema)}.{quoted(table)}"


def create_statements(layout: Layout, schema: str, table: str) -> list[str]:
    """The table (IDs in bytewise order, so listing walks the primary key) and its metric comment. The
    vector index comes after the load (:func:`index_statement`): building it once is much faster than
    maintaining it through every insert."""
    columns = []
    key = [quoted(layout.id_column)]
    if layout.namespace_column:
        columns.append(f"{quoted(layout.namespace_column)} text COLLATE \"C\" NOT NULL DEFAULT ''")
        key.insert(0, quoted(layout.namespace_column))
    columns.append(f'{quoted(layout.id_column)} text COLLATE "C" NOT NULL')
    if layout.dense_column:
        columns.append(f"{quoted(layout.dense_column)} {layout.dense_type}({layout.dimension}) NOT NULL")
    if layout.sparse_column:
        not_null = "" if layout.dense_column else " NOT NULL"
        columns.append(f"{quoted(layout.sparse_column)} sparsevec{not_null}")
    if layout.json_column:
        columns.append(f"{quoted(layout.json_column)} jsonb")
    columns.append(f"PRIMARY KEY ({', '.join(key)})")
    name = qualified(schema, table)
    return [
        f"CREATE TABLE {name} ({', '.join(columns)})",
        f"COMMENT ON TABLE {name} IS '{COMMENT_PREFIX} metric={layout.metric}'",
    ]


def index_statement(layout: Layout, schema: str, table: str) -> str | None:
    """The HNSW index of the dense column by the metric's operator class; None where none can be made."""
    if not layout.dense_column or layout.dense_type is None or layout.dimension is None:
        return None
    if layout.dimension > HNSW_MAX_DIMENSION[layout.dense_type]:
        return None
    operators = f"{layout.dense_type}_{OPERATOR_CLASSES[layout.metric]}"
    return (
        f"CREATE INDEX IF NOT EXISTS {quoted(table[:50] + '_hnsw')} ON {qualified(schema, table)} "
        f"USING hnsw ({quoted(layout.dense_column)} {operators})"
    )


_COLUMNS_QUERY = """
SELECT a.attnum, a.attname, t.typname, a.atttypmod, a.attnotnull
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_INDEX_QUERY = """
SELECT i.indkey[0], opc.opcname
FROM pg_index i JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE i.indrelid = %s
"""


def table_oid(cursor: Any, schema: str, table: str) -> int | None:
    """The table's OID, or None when there is no such table (or view)."""
    cursor.execute(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        (schema, table),
    )
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def inferred_layout(cursor: Any, oid: int, settings: Settings) -> Layout:
    """The layout of the existing table ``oid``; a table that cannot hold records is refused, naming why."""
    cursor.execute(_COLUMNS_QUERY, (oid,))
    rows = cursor.fetchall()
    by_name = {str(row[1]): row for row in rows}
    where = f"table {settings.name}"
    id_row = by_name.get("id")
    if id_row is None or id_row[2] not in ID_TYPES:
        found = "has no column id" if id_row is None else f"has id of type {id_row[2]}"
        raise settings.problem(f"{where} {found}: records need an id column of type text (or varchar).")
    dense = _vector_column(rows, ("vector", "halfvec"), "embedding", settings)
    sparse = _vector_column(rows, ("sparsevec",), "sparse", settings)
    if dense is None and sparse is None:
        raise settings.problem(f"{where} has no vector, halfvec or sparsevec column: it holds no records.")
    namespace_column = settings.namespace_column if settings.namespace_column in by_name else None
    if settings.namespaces == "tables":
        namespace_column = None
    json_column = _json_column(by_name, settings)
    taken = {"id", namespace_column, json_column, dense and dense[1], sparse and sparse[1]}
    columns = tuple(Column(str(row[1]), str(row[2]), bool(row[4])) for row in rows if row[1] not in taken)
    if settings.metadata == "jsonb" and json_column is None:
        raise settings.problem(f"{where} has no jsonb column metadata (metadata=jsonb).")
    indexes = {int(attnum): str(name) for attnum, name in _fetch(cursor, _INDEX_QUERY, (oid,))}
    indexed = dense or sparse
    index_metric = None
    if indexed is not None and indexed[0] in indexes:
        index_metric = _METRIC_OF_CLASS.get(indexes[indexed[0]].split("_", 1)[-1])
    cursor.execute("SELECT obj_description(%s, 'pg_class')", (oid,))
    marked = _COMMENT_METRIC.search(cursor.fetchone()[0] or "")
    comment_metric = marked.group(1) if marked else None
    metric = _metric(index_metric or comment_metric, settings)
    return Layout(
        dense_column=dense[1] if dense else None,
        dense_type=dense[2] if dense else None,
        dimension=dense[3] if dense else None,
        sparse_column=sparse[1] if sparse else None,
        sparse_dimension=sparse[3] if sparse and sparse[3] else SPARSE_MAX_DIMENSION,
        namespace_column=namespace_column,
        json_column=json_column,
        columns=columns,
        metric=metric,
        ours=marked is not None,
        dense_indexed=index_metric is not None,
    )


def _fetch(cursor: Any, query: str, parameters: tuple[Any, ...]) -> list[Any]:
    cursor.execute(query, parameters)
    return list(cursor.fetchall())


def _vector_column(
    rows: list[Any], types: tuple[str, ...], preferred: str, settings: Settings
) -> tuple[int, str, str, int | None] | None:
    """(attnum, name, type, dimension) of the column of one of ``types``: ``preferred`` by name, else the
    only one."""
    found = [row for row in rows if row[2] in types]
    named = [row for row in found if row[1] == preferred]
    if named:
        found = named
    if not found:
        return None
    if len(found) > 1:
        names = ", ".join(str(row[1]) for row in found)
        raise settings.problem(
            f"table {settings.name} has several {'/'.join(types)} columns ({names}) and none is named "
            f"{preferred}: rename the one that holds the records' vectors to {preferred}."
        )
    attnum, name, type_name, typmod, _ = found[0]
    dimension = int(typmod) if typmod is not None and typmod > 0 else None
    if dimension is None and type_name != "sparsevec":
        raise settings.problem(
            f"column {name} of table {settings.name} has no dimension ({type_name} without (n)): declare "
            f"it, e.g. ALTER TABLE ... ALTER COLUMN {name} TYPE {type_name}(768)."
        )
    return int(attnum), str(name), str(type_name), dimension


def _json_column(by_name: dict[str, Any], settings: Settings) -> str | None:
    if settings.metadata == "columns":
        return None
    row = by_name.get("metadata")
    return "metadata" if row is not None and row[2] == "jsonb" else None


def _metric(found: str | None, settings: Settings) -> str:
    given = settings.metric
    if found is not None and given is not None and found != given:
        raise settings.problem(
            f"metric={given}, but table {settings.name} is indexed by {found}: drop the option or fix it."
        )
    metric = found or given
    if metric is None:
        raise UserError(
            f"{settings.flag} {settings.uri_text}: cannot tell the metric of table {settings.name} (its "
            "vector column has no HNSW or IVFFlat index): add ?metric=cosine, euclidean, dotproduct or "
            "manhattan."
        )
    return metric
