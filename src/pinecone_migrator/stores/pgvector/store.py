"""A PostgreSQL table with pgvector columns as a store (the package's docstring has the URI and options)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import orjson

from ...errors import RecordsRejected, RemoteError, UserError
from ...records import Record
from .. import fidelity
from ..base import (
    DEFAULT_NAMESPACE,
    Capabilities,
    IdPage,
    IndexShape,
    Match,
    RecordPage,
    StoreDescription,
    WriteAck,
    placement_options_given,
)
from .connections import AlreadyExists, Conflict, Connections, MissingTable
from .mapping import MAX_ID_LENGTH, record_of, refusal, row_of, select_list, written_columns
from .options import MAX_IDENTIFIER_BYTES, METRICS, Settings
from .schema import (
    MAX_DIMENSION,
    SPARSE_MAX_NONZEROS,
    Layout,
    create_statements,
    created_layout,
    index_statement,
    inferred_layout,
    qualified,
    quoted,
    table_oid,
    unparametrised,
)

CURSOR_PREFIX = "pg1:"
# Larger writes amortise each transaction (one COPY, one commit): 4,000 records per write are ~20 % faster
# than 1,000 at dimension 768; the byte budget bounds them at larger dimensions.
LIMITS = Capabilities(
    can_fetch_by_metadata=True,
    max_write_records=4_000,
    max_write_bytes=16_000_000,
    max_delete_ids=1_000,
    max_fetch_ids=1_000,
    max_list_page=1_000,
)
# What a row adds to a write besides its parts (COPY's field lengths, tuple header, the namespace).
ROW_OVERHEAD = 40
# HNSW builds many times faster while its graph fits in memory (PostgreSQL's default is 64 MB: 20,000
# vectors of dimension 768 do not fit); this is a ceiling, used as the graph grows.
INDEX_MEMORY = "SET LOCAL maintenance_work_mem = '1GB'"
# Metric -> (pgvector's distance operator, Pinecone's score from that distance, whether lower is better).
_METRIC_SQL = {
    "cosine": ("<=>", "(1 - ({}))", False),
    "dotproduct": ("<#>", "(-({}))", False),
    "euclidean": ("<->", "(({}) ^ 2)", True),
    "manhattan": ("<+>", "({})", True),
}
METRIC_NAMES = {"euclidean": "l2", "dotproduct": "inner product"}


class PgvectorStore:
    """One table (or, with ``namespaces=tables``, one table per namespace). Connects on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connections = Connections(settings)
        self._layout: Layout | None = None
        self._layout_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        """Settings only (no secret: the password stays in the environment); connections are per process."""
        return (PgvectorStore, (self.settings,))

    def close(self) -> None:
        self._connections.close()

    # -- the table -------------------------------------------------------------------------------------------

    def _read_layout(self) -> Layout | None:
        settings = self.settings
        with self._connections.cursor("describe table") as cursor:
            oid = table_oid(cursor, settings.schema, settings.table)
            return None if oid is None else inferred_layout(cursor, oid, settings)

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            with self._layout_lock:
                if self._layout is None:
                    layout = self._read_layout()
                    if layout is None:
                        raise self._missing()
                    self._layout = layout
        return self._layout

    def _missing(self) -> UserError:
        settings = self.settings
        return settings.problem(
            f"table {settings.name} does not exist in database {settings.database or '(default)'} at "
            f"{settings.host or 'localhost'}:{settings.port}. Check the table option and the database."
        )

    def _table_of(self, namespace: str) -> tuple[str, str | None] | None:
        """(table, the namespace column's value or None) where ``namespace``'s rows live; None when this
        table cannot hold that namespace (no namespace column, or a table name beyond PostgreSQL's)."""
        settings, layout = self.settings, self.layout
        if settings.namespaces == "tables":
            if namespace == DEFAULT_NAMESPACE:
                return settings.table, None
            name = f"{settings.table}__{namespace}"
            return (name, None) if len(name.encode()) <= MAX_IDENTIFIER_BYTES and "\x00" not in name else None
        if layout.namespace_column is None:
            return (settings.table, None) if namespace == DEFAULT_NAMESPACE else None
        return settings.table, ("" if namespace == DEFAULT_NAMESPACE else namespace)

    def _where(self, namespace_value: str | None) -> tuple[str, list[Any]]:
        """The namespace's condition (with a trailing AND) and its parameters."""
        column = self.layout.namespace_column
        if column is None or namespace_value is None:
            return "", []
        return f"{quoted(column)} = %s AND ", [namespace_value]

    # -- the store protocol ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        layout = self._read_layout()
        if layout is not None:
            self._layout = layout
        return layout is not None

    def describe(self) -> StoreDescription:
        layout = self.layout
        return StoreDescription(
            name=self.settings.name,
            shape=IndexShape(
                vector_type=layout.vector_type,
                metric=layout.metric,
                dimension=layout.dimension if layout.dense_column else None,
            ),
            namespace_counts=self._counts(),
            deployment_type="pgvector",
            location=self.settings.location,
        )

    def _counts(self) -> dict[str, int]:
        settings, layout = self.settings, self.layout
        counts: dict[str, int] = {}
        with self._connections.cursor("count records") as cursor:
            if settings.namespaces == "tables":
                for table, namespace in self._namespace_tables(cursor):
                    cursor.execute(f"SELECT count(*) FROM {qualified(settings.schema, table)}", [])
                    counts[namespace] = int(cursor.fetchone()[0])
            elif layout.namespace_column is None:
                cursor.execute(f"SELECT count(*) FROM {qualified(settings.schema, settings.table)}", [])
                counts[DEFAULT_NAMESPACE] = int(cursor.fetchone()[0])
            else:
                column = quoted(layout.namespace_column)
                cursor.execute(
                    f"SELECT {column}, count(*) FROM {qualified(settings.schema, settings.table)} "
                    f"GROUP BY {column}",
                    [],
                )
                for value, count in cursor.fetchall():
                    counts[value or DEFAULT_NAMESPACE] = counts.get(value or DEFAULT_NAMESPACE, 0) + int(
                        count
                    )
        return {namespace: count for namespace, count in counts.items() if count}

    def _namespace_tables(self, cursor: Any) -> list[tuple[str, str]]:
        """(table, namespace) of the table and of each ``<table>__<namespace>`` beside it."""
        settings = self.settings
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') "
            "AND (c.relname = %s OR starts_with(c.relname, %s))",
            (settings.schema, settings.table, f"{settings.table}__"),
        )
        found = []
        for (name,) in cursor.fetchall():
            namespace = DEFAULT_NAMESPACE if name == settings.table else name[len(settings.table) + 2 :]
            if namespace:
                found.append((str(name), namespace))
        return found

    def capabilities(self) -> Capabilities:
        return LIMITS

    def room(self) -> fidelity.Room:
        """What this table holds exactly (for a table not made yet: what :meth:`create_like` makes)."""
        if self._layout is None and not self.exists():
            layout = created_layout(self.settings, "dense", "cosine", None)
        else:
            layout = self.layout
        held = {column.kind for column in layout.columns}
        json = layout.json_column is not None or "json" in held
        return fidelity.Room(
            kind="pgvector",
            metrics=frozenset(METRICS),
            metric_names=dict(METRIC_NAMES),
            dense=layout.dense_column is not None,
            sparse=layout.sparse_column is not None,
            sparse_metrics=None,
            max_dimension=MAX_DIMENSION,
            max_sparse_nonzeros=SPARSE_MAX_NONZEROS,
            max_sparse_index=layout.sparse_dimension - 1,
            sparse_zeros=False,
            float16=layout.dense_type == "halfvec",
            metadata_lists=json or "strings" in held,
            metadata_nested=json,
            max_metadata_bytes=None,
            max_id_length=MAX_ID_LENGTH if layout.ours else None,
            ascii_ids=False,
        )

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        place = self._table_of(namespace)
        if place is None:
            return IdPage(ids=[], cursor=None)
        table, namespace_value = place
        where, parameters = self._where(namespace_value)
        id_column = f'{quoted(self.layout.id_column)} COLLATE "C"'
        conditions = []
        after = _position(cursor) if cursor is not None else None
        if after is not None:
            conditions.append(f"{id_column} > %s")
            parameters.append(after)
        if prefix:
            conditions.append(f"{id_column} >= %s")
            parameters.append(prefix)
            upper = _after_prefix(prefix)
            if upper is not None:
                conditions.append(f"{id_column} < %s")
                parameters.append(upper)
        limit = max(1, min(limit, LIMITS.max_list_page))
        condition = where + (" AND ".join(conditions) or "TRUE")
        query = (
            f"SELECT {quoted(self.layout.id_column)} FROM {qualified(self.settings.schema, table)} "
            f"WHERE {condition} ORDER BY {id_column} LIMIT {limit + 1}"
        )
        try:
            with self._connections.cursor("list") as db:
                db.execute(query, parameters)
                ids = [str(row[0]) for row in db.fetchall()]
        except MissingTable:
            return IdPage(ids=[], cursor=None)
        if len(ids) <= limit:
            return IdPage(ids=ids, cursor=None)
        ids = ids[:limit]
        return IdPage(ids=ids, cursor=_cursor_after(ids[-1]))

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        place = self._table_of(namespace)
        if place is None or not ids:
            return []
        table, namespace_value = place
        layout = self.layout
        where, parameters = self._where(namespace_value)
        query = (
            f"SELECT {select_list(layout)} FROM {qualified(self.settings.schema, table)} "
            f"WHERE {where}{quoted(layout.id_column)} = ANY(%s)"
        )
        try:
            with self._connections.cursor("fetch") as db:
                db.execute(query, [*parameters, list(dict.fromkeys(ids))])
                rows = db.fetchall()
        except MissingTable:
            return []
        return [record_of(row, layout) for row in rows]

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> RecordPage:
        """The records matching a Pinecone filter, evaluated by PostgreSQL (see :mod:`.filters_sql`), a page
        at a time in bytewise ID order."""
        from ...filters import FilterError
        from .filters_sql import translated

        layout = self.layout
        try:
            condition, filter_parameters = translated(metadata_filter, layout)
        except FilterError as error:
            raise self.settings.problem(f"fetch by metadata: {error}") from None
        place = self._table_of(namespace)
        if place is None:
            return RecordPage(records=[], cursor=None)
        table, namespace_value = place
        where, parameters = self._where(namespace_value)
        id_column = f'{quoted(layout.id_column)} COLLATE "C"'
        if cursor is not None:
            where += f"{id_column} > %s AND "
            parameters.append(_position(cursor))
        limit = max(1, min(limit, LIMITS.max_fetch_ids))
        query = (
            f"SELECT {select_list(layout)} FROM {qualified(self.settings.schema, table)} "
            f"WHERE {where}{condition} ORDER BY {id_column} LIMIT {limit + 1}"
        )
        try:
            with self._connections.cursor("fetch by metadata") as db:
                db.execute(query, [*parameters, *filter_parameters])
                rows = db.fetchall()
        except MissingTable:
            return RecordPage(records=[], cursor=None)
        records = [record_of(row, layout) for row in rows[:limit]]
        more = len(rows) > limit
        return RecordPage(records=records, cursor=_cursor_after(records[-1].id) if more else None)

    def query(self, namespace: str, record: Record, top_k: int) -> list[Match]:
        """The ``top_k`` nearest records to ``record``'s vectors, scored as Pinecone scores (cosine
        similarity, dot product — dense plus sparse —, squared euclidean distance). A dense-only query orders
        by the operator itself, so that an HNSW index serves it (approximate, as Pinecone is); a query with
        sparse values is exact."""
        place = self._table_of(namespace)
        layout = self.layout
        if place is None or top_k < 1:
            return []
        table, namespace_value = place
        where, where_parameters = self._where(namespace_value)
        operator, score, ascending = _METRIC_SQL[layout.metric]
        name = qualified(self.settings.schema, table)
        dense = record.values is not None and layout.dense_column is not None
        sparse = record.sparse is not None and layout.sparse_column is not None
        vector = f"{quoted(layout.dense_column or '')} {operator} %s::{layout.dense_type or 'vector'}"
        vector_text = (
            "[" + ",".join(map(repr, record.values.tolist())) + "]" if record.values is not None else ""
        )
        if dense and not sparse:
            query = (
                f"SELECT {quoted(layout.id_column)}, {score.format(vector)} FROM {name} "
                f"WHERE {where}TRUE ORDER BY {vector} LIMIT {int(top_k)}"
            )
            parameters = [vector_text, *where_parameters, vector_text]
        elif sparse:
            assert record.sparse is not None
            pairs = zip(record.sparse.indices.tolist(), record.sparse.values.tolist(), strict=True)
            sparse_text = "{" + ",".join(f"{i + 1}:{v!r}" for i, v in pairs) + f"}}/{layout.sparse_dimension}"
            # A record without sparse values adds nothing (its column is NULL).
            terms = [f"(-coalesce({quoted(layout.sparse_column or '')} <#> %s::sparsevec, 0))"]
            parameters = [sparse_text]
            if dense:
                terms.insert(0, score.format(vector))
                parameters.insert(0, vector_text)
            # A sparse index finds only records that share a dimension with the query.
            overlap = "" if layout.dense_column else "WHERE score <> 0 "
            query = (
                f"SELECT id, score FROM (SELECT {quoted(layout.id_column)} AS id, "
                f"{' + '.join(terms)} AS score FROM {name} WHERE {where}TRUE) AS scored {overlap}"
                f'ORDER BY score {"ASC" if ascending else "DESC"}, id COLLATE "C" LIMIT {int(top_k)}'
            )
            parameters += where_parameters
        else:
            return []
        try:
            with self._connections.cursor("query") as db:
                db.execute(query, parameters)
                rows = db.fetchall()
        except MissingTable:
            return []
        return [Match(id=str(row_id), score=float(value)) for row_id, value in rows]

    def request_size(self, record: Record) -> int:
        size = ROW_OVERHEAD + len(record.id.encode()) + 4 * record.dimension
        if record.sparse is not None:
            size += 8 * len(record.sparse)
        if record.metadata:
            size += len(orjson.dumps(record.metadata))
        return size

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        if not records:
            return WriteAck(count=0)
        place = self._table_of(namespace)
        if place is None:
            raise self._no_place(namespace)
        table, namespace_value = place
        layout = self.layout
        max_id_length = MAX_ID_LENGTH if layout.ours else None
        latest: dict[str, Record] = {}
        for record in records:
            reason = refusal(record, layout, max_id_length)
            if reason is not None:
                raise RecordsRejected("upsert", f"record {record.id!r}: {reason}")
            latest[record.id] = record  # one row per ID: the last written wins, as in an upsert one by one
        rows = [row_of(record, namespace_value, layout) for record in latest.values()]
        try:
            self._upsert(table, namespace_value, list(latest), rows)
        except MissingTable:
            self._create_namespace_table(table)
            self._upsert(table, namespace_value, list(latest), rows)
        return WriteAck(count=len(records))

    def _no_place(self, namespace: str) -> UserError:
        settings = self.settings
        if settings.namespaces == "tables":
            return settings.problem(
                f"namespace {namespace!r} makes a table name longer than PostgreSQL's 63 bytes "
                f"({settings.table}__{namespace}): map it to a shorter one, or use namespaces=column."
            )
        return settings.problem(
            f"table {settings.name} has no column {settings.namespace_column} for namespaces, so it holds "
            f"the default namespace only, not {namespace!r}: add the column, map the namespaces to the "
            "default one, or use namespaces=tables."
        )

    def _upsert(self, table: str, namespace_value: str | None, ids: list[str], rows: list[list[Any]]) -> None:
        """Write the rows in one transaction, so that a refused row writes nothing of the batch. When none of
        the IDs is there yet (a copy into a new table: the common case), a binary COPY straight into the
        table; otherwise (or when a concurrent writer got there first) COPY into this session's staging table
        and upsert from it in one statement."""
        layout = self.layout
        columns = written_columns(layout)
        names = ", ".join(quoted(name) for name, _ in columns)
        target = qualified(self.settings.schema, table)
        where, parameters = self._where(namespace_value)
        try:
            with self._connections.cursor("upsert", transaction=True, refusable=True) as db:
                taken = f"SELECT 1 FROM {target} WHERE {where}{quoted(layout.id_column)} = ANY(%s)"
                db.execute(f"SELECT EXISTS ({taken})", [*parameters, ids])
                if not db.fetchone()[0]:
                    self._copy(db, target, names, columns, rows)
                    return
        except Conflict:
            pass  # written meanwhile by another writer: replaced below
        key = [quoted(layout.id_column)]
        if layout.namespace_column:
            key.insert(0, quoted(layout.namespace_column))
        updates = ", ".join(f"{quoted(name)} = EXCLUDED.{quoted(name)}" for name, _ in columns[len(key) :])
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        stage = quoted("pm_stage_" + hashlib.sha1(target.encode()).hexdigest()[:16])
        try:
            with self._connections.cursor("upsert", transaction=True, refusable=True) as db:
                db.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                           f"SELECT {names} FROM {target} WITH NO DATA", [])  # fmt: skip
                self._copy(db, stage, names, columns, rows)
                db.execute(
                    f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} "
                    f"ON CONFLICT ({', '.join(key)}) {action}",
                    [],
                )
        except Conflict as conflict:  # another unique index of the user's table refuses a row
            raise RecordsRejected("upsert", str(conflict)) from None

    @staticmethod
    def _copy(db: Any, table: str, names: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
        with db.copy(unparametrised(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)")) as copy:
            copy.set_types([copy_type for _, copy_type in columns])
            for row in rows:
                copy.write_row(row)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if not ids:
            return WriteAck(count=0)
        place = self._table_of(namespace)
        if place is None:
            return WriteAck(count=len(ids))
        table, namespace_value = place
        where, parameters = self._where(namespace_value)
        query = (
            f"DELETE FROM {qualified(self.settings.schema, table)} "
            f"WHERE {where}{quoted(self.layout.id_column)} = ANY(%s)"
        )
        try:
            with self._connections.cursor("delete", transaction=True) as db:
                db.execute(query, [*parameters, list(ids)])
        except MissingTable:
            pass
        return WriteAck(count=len(ids))

    # -- creating and finishing a target ---------------------------------------------------------------------

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        """The table for the source's shape: IDs (and namespaces) as the primary key, the dense column of the
        source's dimension (``vector`` or ``halfvec``), a sparse column, jsonb metadata, the metric in the
        table's comment. The vector index is built by :meth:`finish`, after the load."""
        settings = self.settings
        given = placement_options_given(cloud, region, deletion_protection, read_capacity)
        if given:
            raise settings.problem(
                f"{', '.join(given)} mean nothing for a PostgreSQL table: drop the option(s) for this target."
            )
        shape = source.shape
        if settings.metadata == "columns":
            raise settings.problem(
                "metadata=columns needs a table with a column per metadata key: create it yourself "
                "(id text primary key, embedding vector(n), one column per key), then copy into it."
            )
        if shape.vector_type == "dense" and (shape.dimension or 0) > MAX_DIMENSION:
            raise settings.problem(f"dimension {shape.dimension} is beyond pgvector's {MAX_DIMENSION:,}.")
        layout = created_layout(settings, shape.vector_type, shape.metric, shape.dimension)
        self._create(settings.table, layout)
        self._layout = None

    def _create(self, table: str, layout: Layout) -> None:
        self._ensure_extension()
        try:
            with self._connections.cursor("create table", transaction=True) as db:
                for statement in create_statements(layout, self.settings.schema, table):
                    db.execute(statement, [])
        except AlreadyExists:
            pass  # made meanwhile by another thread or run: used like any existing table

    def _ensure_extension(self) -> None:
        with self._connections.cursor("create table") as db:
            db.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            if db.fetchone() is not None:
                return
        settings = self.settings
        try:
            with self._connections.cursor("create extension") as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except AlreadyExists:
            pass
        except (UserError, RemoteError) as error:
            if isinstance(error, RemoteError) and error.retryable:
                raise
            raise settings.problem(
                f"database {settings.database or '(default)'} has no pgvector extension, and creating it "
                f"failed ({error}). Ask an administrator to install pgvector and run CREATE EXTENSION vector "
                "there."
            ) from None
        self._connections.forget_all()  # reconnect: the new types need their loaders

    def _create_namespace_table(self, table: str) -> None:
        base = self.layout
        self._create(table, base)

    def finish(self) -> None:
        """Index the dense column of each table we created, by the metric's operator class (HNSW; a table
        beyond HNSW's dimensions keeps no index, its comment keeps the metric)."""
        if self._layout is None and not self.exists():
            return
        layout, settings = self.layout, self.settings
        if not layout.ours or layout.dense_indexed or settings.index == "none":
            return
        with self._connections.cursor("index table") as db:
            tables = (
                [table for table, _ in self._namespace_tables(db)]
                if settings.namespaces == "tables"
                else [settings.table]
            )
        for table in tables:
            statement = index_statement(layout, settings.schema, table)
            if statement is not None:
                with self._connections.cursor("index table", transaction=True) as db:
                    db.execute(INDEX_MEMORY, [])
                    db.execute(statement, [])
        self._layout = None


def _cursor_after(record_id: str) -> str:
    return CURSOR_PREFIX + base64.urlsafe_b64encode(record_id.encode()).decode()


def _position(cursor: str) -> str:
    """The last ID a page listed, from the cursor that page gave."""
    if cursor.startswith(CURSOR_PREFIX):
        try:
            return base64.b64decode(cursor[len(CURSOR_PREFIX) :], altchars=b"-_", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    raise UserError(
        f"the list cursor {cursor[:40]!r} was not given by a PostgreSQL store: start the listing again."
    )


def _after_prefix(prefix: str) -> str | None:
    """The smallest string after every string that starts with ``prefix`` (UTF-8 order is code point order);
    None when there is none."""
    characters = list(prefix)
    while characters:
        point = ord(characters[-1]) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000
        if point <= 0x10FFFF:
            characters[-1] = chr(point)
            return "".join(characters)
        characters.pop()
    return None
