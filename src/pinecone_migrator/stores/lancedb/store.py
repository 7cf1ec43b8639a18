"""One LanceDB table as a store: listing by keyset over the ID column, fetching and deleting by predicate,
writing by ``merge_insert`` on (namespace, ID).

Predicates are built with LanceDB's expression builder (``col``/``lit``), never by pasting IDs into SQL text,
so IDs holding quotes, backslashes, ``%``, ``_``, NUL or any other character are matched exactly; a prefix is
the ID range [prefix, the next string after every string starting with it), which is bytewise order (UTF-8
sorts as code points), so no LIKE pattern is involved. Listing orders by the ID column (Arrow compares
strings bytewise) and the cursor is the last ID listed.

Writes and deletes of one table are serialised in this process: concurrent ``merge_insert`` commits are
retried by LanceDB itself, but two of them inserting the same new ID could both insert it. One table handle
is shared by the threads of a process (LanceDB's handles are thread-safe) and reads see every commit
(``read_consistency_interval`` 0), including those of other processes. Each write is a new table version
and a new small fragment: :meth:`LanceStore.finish` compacts them and drops the old versions once a copy
has written everything.

The store pickles without its connection (verify's worker processes reconnect).
"""

from __future__ import annotations

import heapq
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import MigratorError, RecordsRejected, RemoteError
from ...records import Record
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
from ..fidelity import Room
from .layout import SPARSE_COLUMNS, Layout, created_schema, layout_of, sparse_dots
from .options import LANCE_METRICS, LanceOptions

if TYPE_CHECKING:
    from lancedb.expr import Expr
    from lancedb.table import Table

MAX_WRITE_RECORDS = 2_000
MAX_WRITE_BYTES = 32_000_000
MAX_IDS = 1_000
MAX_LIST_PAGE = 1_000
SCAN_BATCH = 8_192
_ROW_OVERHEAD = 64


class LanceStore:
    def __init__(self, options: LanceOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._table: Table | None = None
        self._layout: Layout | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"])  # type: ignore[misc]

    # -- opening ---------------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        import lancedb

        return lancedb.connect(self.options.path, read_consistency_interval=timedelta(0))

    def _opened(self) -> tuple[Table, Layout] | None:
        """The table and its layout, or None when the folder or the table is not there (nothing created)."""
        with self._lock:
            if self._table is not None and self._layout is not None:
                return self._table, self._layout
            if not os.path.isdir(self.options.path):
                return None  # connecting would create the folder
            with self._calling("open"):
                try:
                    table = self._connect().open_table(self.options.table)
                except ValueError as error:
                    if "not found" in str(error):
                        return None
                    raise
                layout = layout_of(table.schema, self.options)
            self._table, self._layout = table, layout
            return table, layout

    def _open(self) -> tuple[Table, Layout]:
        opened = self._opened()
        if opened is None:
            raise self.options.problem(
                f"there is no table {self.options.table!r} in the LanceDB folder {self.options.path}."
            )
        return opened

    @contextmanager
    def _calling(self, operation: str) -> Iterator[None]:
        """LanceDB's failures as the library's: a folder it may not read is bad input; an I/O failure may
        pass (retried by the engine); anything else is reported as it is, not retried."""
        try:
            yield
        except MigratorError:
            raise
        except PermissionError as error:
            raise self.options.problem(f"no permission to use the LanceDB folder: {error}") from None
        except (OSError, RuntimeError) as error:
            raise RemoteError(operation, self._said(error), retryable=True) from None
        except ValueError as error:
            raise RemoteError(operation, self._said(error), retryable=False) from None

    def _said(self, error: BaseException) -> str:
        return f"LanceDB table {self.options.table!r} in {self.options.path}: {_first_line(error)}"

    # -- the store protocol ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._opened() is not None

    def room(self) -> Room:
        opened = self._opened()
        if opened is not None:
            return opened[1].room()
        like = replace(self.options, metadata=None)
        return layout_of(created_schema(IndexShape("dense", "cosine", 1), like), like).room()

    def describe(self) -> StoreDescription:
        table, layout = self._open()
        metric = self.describe_metric(layout)
        if layout.vector_column is None and not layout.sparse:
            raise self.options.problem(
                "the table has neither a vector column (fixed_size_list<float32>) nor sparse columns "
                "(sparse_indices, sparse_values)."
            )
        vector_type = "dense" if layout.vector_column else "sparse"
        shape = IndexShape(vector_type, metric, layout.dimension)
        return StoreDescription(
            name=self.options.table,
            shape=shape,
            namespace_counts=self._counts(table, layout),
            deployment_type="lancedb",
            location=self.options.location,
        )

    def _counts(self, table: Table, layout: Layout) -> dict[str, int]:
        with self._calling("describe"):
            if layout.namespace_column is None:
                rows = _query(table, _listable(layout), [layout.id_column]).num_rows
                return {DEFAULT_NAMESPACE: rows} if rows else {}
            column = _query(table, _listable(layout), [layout.namespace_column]).column(0)
            counts = pc.value_counts(column).to_pylist()
        return {c["values"]: c["counts"] for c in counts if c["values"] is not None}

    def capabilities(self) -> Capabilities:
        layout = self._layout
        if layout is None:
            opened = self._opened()
            layout = opened[1] if opened is not None else None
        return Capabilities(
            can_list=True,
            can_fetch_by_metadata=True,
            # Integer IDs list in numeric order: stable, not bytewise.
            lists_bytewise=layout is None or not layout.integer_ids,
            max_write_records=MAX_WRITE_RECORDS,
            max_write_bytes=MAX_WRITE_BYTES,
            max_delete_ids=MAX_IDS,
            max_fetch_ids=MAX_IDS,
            max_list_page=MAX_LIST_PAGE,
        )

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        if not 1 <= limit <= MAX_LIST_PAGE:
            raise RemoteError("list", f"limit must lie in 1..{MAX_LIST_PAGE}, got {limit}", retryable=False)
        table, layout = self._open()
        where = _in_namespace(layout, namespace)
        if where is None:
            return IdPage(ids=[], cursor=None)
        if prefix:
            where = where & _prefixed(_id_text(layout), prefix)
        if cursor is not None:
            after = layout.id_key(cursor)
            if after is None:
                raise RemoteError("list", f"{cursor!r} is not a cursor of this table", retryable=False)
            where = where & (_col(layout.id_column) > _lit(after))
        with self._calling("list"):
            from lancedb.query import ColumnOrdering

            query = table.search().where(where).select([layout.id_column])
            query = query.order_by([ColumnOrdering(column_name=layout.id_column)]).limit(limit + 1)
            ids = [str(key) for key in query.to_arrow().column(0).to_pylist()]
        more = len(ids) > limit
        ids = ids[:limit]
        return IdPage(ids=ids, cursor=ids[-1] if more else None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        if len(ids) > MAX_IDS:
            raise RemoteError("fetch", f"at most {MAX_IDS} IDs per fetch, got {len(ids)}", retryable=False)
        table, layout = self._open()
        where = _in_namespace(layout, namespace)
        keys = _keys(layout, ids)
        if where is None or not keys:
            return []
        where = where & _col(layout.id_column).isin(keys)
        with self._calling("fetch"):
            rows = _query(table, where, layout.read_columns)
            records = layout.decode(rows)
        return list({record.id: record for record in records}.values())

    def request_size(self, record: Record) -> int:
        size = _ROW_OVERHEAD + len(record.id.encode()) + 4 * record.dimension
        if record.sparse is not None:
            size += 8 * len(record.sparse)
        if record.metadata:
            import orjson

            size += len(orjson.dumps(record.metadata, default=str))
        return size

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        if len(records) > MAX_WRITE_RECORDS:
            raise RecordsRejected("upsert", f"{len(records)} records exceed {MAX_WRITE_RECORDS} per write")
        if not records:
            return WriteAck(count=0)
        table, layout = self._open()
        latest = list({record.id: record for record in records}.values())  # one row per ID: the last
        rows = layout.encode(namespace, latest, table.schema)
        keys = (
            [layout.id_column]
            if layout.namespace_column is None
            else [layout.namespace_column, layout.id_column]
        )
        with self._write_lock, self._calling("upsert"):
            table.merge_insert(keys).when_matched_update_all().when_not_matched_insert_all().execute(rows)
        return WriteAck(count=len(records))

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if len(ids) > MAX_IDS:
            raise RemoteError("delete", f"at most {MAX_IDS} IDs per delete, got {len(ids)}", retryable=False)
        table, layout = self._open()
        where = _in_namespace(layout, namespace)
        keys = _keys(layout, ids)
        if where is not None and keys:
            where = where & _col(layout.id_column).isin(keys)
            with self._write_lock, self._calling("delete"):
                table.delete(where)
        return WriteAck(count=len(ids))

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> RecordPage:
        """Records whose metadata matches, in ID order from after ``cursor`` (the last ID returned).

        LanceDB cannot evaluate a Pinecone filter over JSON text, so the namespace's IDs and metadata (not
        its vectors) are scanned in one stream and the filter applied here; only the matches are fetched
        whole. One scan per call: a sync's ``--updated-field`` pass usually needs one."""
        from ...filters import FilterError, compile_filter

        if not 1 <= limit <= MAX_IDS:
            raise RemoteError("fetch by metadata", f"limit must lie in 1..{MAX_IDS}", retryable=False)
        try:
            matches = compile_filter(metadata_filter)
        except FilterError as error:
            raise RemoteError("fetch by metadata", str(error), retryable=False) from None
        table, layout = self._open()
        where = _in_namespace(layout, namespace)
        if where is None:
            return RecordPage(records=[], cursor=None)
        if cursor is not None:
            after = layout.id_key(cursor)
            if after is None:
                raise RemoteError("fetch by metadata", f"{cursor!r} is not a cursor here", retryable=False)
            where = where & (_col(layout.id_column) > _lit(after))
        order = (lambda i: int(i)) if layout.integer_ids else (lambda i: i)
        found: list[Any] = []  # the limit + 1 first matching keys in listing order
        with self._calling("fetch by metadata"):
            query = table.search().where(where).select([layout.id_column, *layout.metadata_columns])
            for batch in query.limit(None).to_batches(SCAN_BATCH):
                ids = layout.ids_of(batch)
                for record_id, metadata in zip(ids, layout.metadata_of(batch), strict=True):
                    if record_id is not None and matches(metadata):
                        found.append(order(record_id))
                found = heapq.nsmallest(limit + 1, found)
        more = len(found) > limit
        page = [str(key) for key in found[:limit]]
        fetched = {record.id: record for record in self.fetch(namespace, page)}
        records = [fetched[record_id] for record_id in page if record_id in fetched]
        return RecordPage(records=records, cursor=page[-1] if more else None)

    def query(self, namespace: str, record: Record, top_k: int) -> list[Match]:
        """The ``top_k`` best matches of ``record``'s own vectors, scored as Pinecone scores: cosine
        similarity, dot product, squared euclidean distance (lower is better); for dotproduct, a record's
        sparse values add their dot product (hybrid). LanceDB has no sparse search, so a hybrid query scores
        every row of the namespace (dense by LanceDB, sparse here): exact, and as slow as a scan."""
        table, layout = self._open()
        metric = self.describe_metric(layout)
        where = _in_namespace(layout, namespace)
        if where is None:
            return []
        hybrid = layout.sparse and record.sparse is not None and metric == "dotproduct"
        dense = layout.vector_column is not None and record.values is not None
        if not dense and not hybrid:
            return []
        columns = [layout.id_column, *(SPARSE_COLUMNS if hybrid else ())]
        with self._calling("query"):
            if dense:
                rows_wanted = _query(table, where, [layout.id_column]).num_rows if hybrid else top_k
                search: Any = table.search(record.values, vector_column_name=layout.vector_column)
                search = search.distance_type(LANCE_METRICS[metric]).where(where, prefilter=True)
                rows = search.select([*columns, "_distance"]).limit(max(rows_wanted, 1)).to_arrow()
                distance = rows.column("_distance").to_numpy().astype(np.float64)
                scores = distance if metric == "euclidean" else 1.0 - distance
            else:
                rows = _query(table, where, columns)
                scores = np.zeros(rows.num_rows)
            if hybrid:
                assert record.sparse is not None
                scores = scores + sparse_dots(record.sparse, rows)
        ids = layout.ids_of(rows)
        order = np.argsort(scores if metric == "euclidean" else -scores, kind="stable")[:top_k]
        return [Match(str(ids[n]), float(scores[n])) for n in order if ids[n] is not None]

    def describe_metric(self, layout: Layout) -> str:
        if layout.metric is None:
            raise self.options.problem(
                "LanceDB keeps no metric with a table this tool did not create: say which one its vectors "
                "are compared by with ?metric=cosine, ?metric=euclidean or ?metric=dotproduct."
            )
        return layout.metric

    # -- abilities -------------------------------------------------------------------------------------------

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        given = placement_options_given(cloud, region, deletion_protection, read_capacity)
        if given:
            raise self.options.problem(
                f"{', '.join(given)} mean nothing for a LanceDB table (a folder on this machine): leave "
                "those options out."
            )
        schema = created_schema(source.shape, self.options)
        if os.path.exists(self.options.path) and not os.path.isdir(self.options.path):
            raise self.options.problem(f"{self.options.path} is a file, not a LanceDB folder.")
        if self._opened() is not None:
            raise self.options.problem(f"the table {self.options.table!r} exists already.")
        with self._calling("create"):
            os.makedirs(self.options.path, exist_ok=True)
            self._connect().create_table(self.options.table, schema=schema)

    def finish(self) -> None:
        """Compact the small fragments writes made and drop the versions they superseded."""
        opened = self._opened()
        if opened is None:
            return
        # The copy's own writers are done by now; LanceDB warns that a reader of an older version elsewhere
        # would fail, which is what dropping them means (the warning would only repeat this docstring).
        with self._write_lock, self._calling("compact"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="optimize.cleanup_older_than", category=UserWarning)
            opened[0].optimize(cleanup_older_than=timedelta(0))


# -- predicates --------------------------------------------------------------------------------------------


def _col(name: str) -> Expr:
    from lancedb.expr import col

    return col(name)


def _lit(value: Any) -> Expr:
    from lancedb.expr import lit

    return lit(value)


def _listable(layout: Layout) -> Expr:
    """Rows with an ID (a null is not equal to itself)."""
    return _col(layout.id_column) == _col(layout.id_column)


def _id_text(layout: Layout) -> Expr:
    """The ID as text (what a prefix applies to)."""
    column = _col(layout.id_column)
    return column.cast("string") if layout.integer_ids else column


def _keys(layout: Layout, ids: Sequence[str]) -> list[Any]:
    """The ID column's values for ``ids``, once each, leaving out IDs no row can have."""
    keys = (layout.id_key(record_id) for record_id in dict.fromkeys(ids))
    return [key for key in keys if key is not None]


def _in_namespace(layout: Layout, namespace: str) -> Expr | None:
    """Rows of ``namespace`` with an ID; None when the table cannot hold that namespace."""
    if layout.namespace_column is None:
        return _listable(layout) if namespace == DEFAULT_NAMESPACE else None
    return (_col(layout.namespace_column) == _lit(namespace)) & _listable(layout)


def _prefixed(text: Expr, prefix: str) -> Expr:
    """IDs starting with ``prefix``: those from ``prefix`` up to (not including) the first string after all
    of them."""
    start = text >= _lit(prefix)
    end = after_all_with(prefix)
    return start if end is None else start & (text < _lit(end))


def after_all_with(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: there is none)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip to the next code point
        following = 0xE000
    return stripped[:-1] + chr(following)


def _query(table: Table, where: Expr, columns: list[str]) -> pa.Table:
    result: pa.Table = table.search().where(where).select(columns).limit(None).to_arrow()
    return result


def _first_line(error: BaseException) -> str:
    """The cause in one line, without the Rust source locations LanceDB appends."""
    text = (str(error).strip() or type(error).__name__).splitlines()[0]
    return re.sub(r",? /rustc/\S+", "", text)[:500]


__all__ = ["LanceStore", "after_all_with"]
