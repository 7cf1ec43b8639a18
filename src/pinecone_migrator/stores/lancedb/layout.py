"""Which column of a LanceDB table holds which part of a record, and records to and from Arrow exactly.

A table this tool creates has its layout written in its schema metadata (the metric and the metadata mode);
a table made otherwise is read by its columns' types: the ID column (a string), the namespace column if it
has one, the vector column (``fixed_size_list<float32>[d]``), the sparse pair if present, and metadata as
JSON text or as ordinary columns. Dense values travel as float32 Arrow buffers, never as text, so they come
back bit for bit (-0.0 and subnormals included); metadata numbers come back as float64 (JSON text holds
every float64 exactly), booleans as booleans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import RecordsRejected
from ...records import Record, SparseValues
from ..base import DEFAULT_NAMESPACE, IndexShape
from ..fidelity import PINECONE_METRICS, Room
from .options import LANCE_METRICS, LanceOptions

METRIC_KEY = b"pinecone_migrator.metric"
METADATA_KEY = b"pinecone_migrator.metadata"
SPARSE_COLUMNS = ("sparse_indices", "sparse_values")
JSON_COLUMN = "metadata"
STRINGS = pa.list_(pa.string())
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")


def created_schema(shape: IndexShape, options: LanceOptions) -> pa.Schema:
    """The schema of a table made for records of ``shape``: sparse columns always (nulls cost nothing, and a
    source of any metric may carry sparse values), metadata as JSON text."""
    if options.metadata == "columns":
        raise options.problem(
            "metadata=columns reads the columns of an existing table; a table created here holds metadata "
            "as JSON (leave the option out)."
        )
    fields = []
    if options.namespace_column:
        fields.append(pa.field(options.namespace_column, pa.string(), nullable=False))
    fields.append(pa.field(options.id_column, pa.string(), nullable=False))
    if shape.vector_type == "dense":
        assert shape.dimension is not None
        vector = options.vector_column or "vector"
        fields.append(pa.field(vector, pa.list_(pa.float32(), shape.dimension)))
    fields.append(pa.field(SPARSE_COLUMNS[0], pa.list_(pa.uint32())))
    fields.append(pa.field(SPARSE_COLUMNS[1], pa.list_(pa.float32())))
    fields.append(pa.field(JSON_COLUMN, pa.string()))
    return pa.schema(fields, metadata={METRIC_KEY: shape.metric.encode(), METADATA_KEY: b"json"})


@dataclass(frozen=True)
class Layout:
    """The roles of a table's columns."""

    id_column: str
    namespace_column: str | None
    vector_column: str | None
    dimension: int | None
    sparse: bool
    metadata_mode: str  # "json" or "columns"
    metadata_fields: tuple[pa.Field, ...]  # columns mode: one field per metadata key
    metric: str | None  # Pinecone's name; None: not known (the option must say)
    ours: bool  # created by this tool
    id_type: pa.DataType  # a string, or an integer type (IDs are then its decimal text)

    @property
    def integer_ids(self) -> bool:
        return bool(pa.types.is_integer(self.id_type))

    def id_key(self, record_id: str) -> Any:
        """The ID column's value for ``record_id``; None when no row can have it (an integer column and an
        ID that is not the decimal text of one of its integers)."""
        if not self.integer_ids:
            return record_id
        if not _DECIMAL.fullmatch(record_id):
            return None
        number = int(record_id)
        info = np.iinfo(self.id_type.to_pandas_dtype())
        return number if info.min <= number <= info.max else None

    @property
    def metadata_columns(self) -> list[str]:
        if self.metadata_mode == "json":
            return [JSON_COLUMN]
        return [f.name for f in self.metadata_fields]

    @property
    def read_columns(self) -> list[str]:
        columns = [self.id_column]
        if self.vector_column:
            columns.append(self.vector_column)
        if self.sparse:
            columns += SPARSE_COLUMNS
        if self.metadata_mode == "json":
            columns.append(JSON_COLUMN)
        else:
            columns += [f.name for f in self.metadata_fields]
        return columns

    def room(self) -> Room:
        lists = self.metadata_mode == "json" or any(f.type == STRINGS for f in self.metadata_fields)
        return Room(
            kind="LanceDB",
            metrics=PINECONE_METRICS,
            metric_names=dict(LANCE_METRICS),
            dense=self.vector_column is not None,
            sparse=self.sparse,
            sparse_metrics=None,
            max_dimension=None,
            max_sparse_nonzeros=None,
            max_sparse_index=2**32 - 1,
            metadata_lists=lists,
            metadata_nested=self.metadata_mode == "json",
            max_metadata_bytes=None,
            max_id_length=None,
            ascii_ids=False,
        )

    # -- records to Arrow --------------------------------------------------------------------------------

    def encode(self, namespace: str, records: Sequence[Record], schema: pa.Schema) -> pa.Table:
        """The rows of ``records`` (each checked: a record the table cannot hold refuses the batch, naming
        it, before anything is written)."""
        if self.namespace_column is None and namespace != DEFAULT_NAMESPACE:
            raise RecordsRejected(
                "upsert",
                f"the table has no namespace column: it holds only {DEFAULT_NAMESPACE!r}, not {namespace!r}",
            )
        for record in records:
            self._check(record)
        try:
            return self._rows(namespace, records, schema)
        except (pa.ArrowException, UnicodeEncodeError, OverflowError) as error:
            # Checked above record by record; what Arrow still refuses is named by the engine's bisection.
            raise RecordsRejected("upsert", f"LanceDB cannot take the batch: {error}") from None

    def _rows(self, namespace: str, records: Sequence[Record], schema: pa.Schema) -> pa.Table:
        columns: dict[str, pa.Array] = {}
        if self.namespace_column:
            columns[self.namespace_column] = pa.array([namespace] * len(records), pa.string())
        keys = [self.id_key(r.id) for r in records]
        columns[self.id_column] = pa.array(keys, schema.field(self.id_column).type)
        if self.vector_column:
            columns[self.vector_column] = _vectors(records, schema.field(self.vector_column).type)
        if self.sparse:
            indices, values = _sparse_arrays(records)
            columns[SPARSE_COLUMNS[0]] = indices.cast(schema.field(SPARSE_COLUMNS[0]).type)
            columns[SPARSE_COLUMNS[1]] = values.cast(schema.field(SPARSE_COLUMNS[1]).type)
        if self.metadata_mode == "json":
            columns[JSON_COLUMN] = pa.array([_json(r) for r in records], schema.field(JSON_COLUMN).type)
        else:
            for field in self.metadata_fields:
                kind = _kind_of(field.type)
                cells = [_cell(r.metadata.get(field.name), kind) for r in records]
                columns[field.name] = pa.array(cells, field.type)
        fields = [schema.field(name) for name in columns]
        return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))

    def _check(self, record: Record) -> None:
        reason = self._unheld(record)
        if reason:
            raise RecordsRejected("upsert", f"record {record.id!r}: {reason}")

    def _unheld(self, record: Record) -> str | None:
        if self.id_key(record.id) is None:
            return (
                f"the table's IDs are {self.id_type} integers, written as decimal digits (no leading zeros)"
            )
        if record.values is not None:
            if self.vector_column is None:
                return "the table has no vector column for dense values"
            if record.dimension != self.dimension:
                return f"dimension {record.dimension} does not match the table's {self.dimension}"
        elif record.sparse is None:
            return "the record has neither dense nor sparse values"
        elif self.vector_column is not None:
            return "the record has no dense values; the table's rows need them"
        if record.sparse is not None and not self.sparse:
            return "the table has no sparse columns for sparse values"
        if self.metadata_mode == "json":
            try:
                orjson.dumps(record.metadata)
            except TypeError as error:
                return f"metadata cannot be held as JSON: {error}"
            return None
        return _columns_problem(record.metadata, {f.name: f.type for f in self.metadata_fields})

    # -- Arrow to records --------------------------------------------------------------------------------

    def decode(self, table: pa.Table) -> list[Record]:
        count = table.num_rows
        ids = self.ids_of(table)
        vectors: list[Any] = [None] * count
        if self.vector_column:
            vectors = _vector_rows(table.column(self.vector_column))
        sparse: list[SparseValues | None] = [None] * count
        if self.sparse:
            sparse = _sparse_rows(table.column(SPARSE_COLUMNS[0]), table.column(SPARSE_COLUMNS[1]))
        metadata = self._metadata_rows(table)
        rows = zip(ids, vectors, sparse, metadata, strict=True)
        return [Record(i, values, pairs, meta) for i, values, pairs, meta in rows if i is not None]

    def ids_of(self, table: pa.Table | pa.RecordBatch) -> list[str | None]:
        ids: list[Any] = table.column(self.id_column).to_pylist()
        return [None if key is None else str(key) for key in ids] if self.integer_ids else ids

    def metadata_of(self, table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
        """Each row's metadata (from :attr:`metadata_columns`)."""
        return self._metadata_rows(table)

    def _metadata_rows(self, table: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
        count = table.num_rows
        if self.metadata_mode == "json":
            texts = table.column(JSON_COLUMN).to_pylist()
            return [orjson.loads(text) if text else {} for text in texts]
        rows: list[dict[str, Any]] = [{} for _ in range(count)]
        for field in self.metadata_fields:
            for row, value in zip(rows, table.column(field.name).to_pylist(), strict=True):
                if value is not None:
                    row[field.name] = value
        return rows


def layout_of(schema: pa.Schema, options: LanceOptions) -> Layout:
    """The layout of an existing table, from its schema (and the options, which may name columns)."""
    recorded = schema.metadata or {}
    ours = METRIC_KEY in recorded
    names = set(schema.names)
    id_type = schema.field(options.id_column).type if options.id_column in names else None
    if id_type is None or not (pa.types.is_string(id_type) or pa.types.is_integer(id_type)):
        raise options.problem(
            f"the table has no string or integer column {options.id_column!r} for record IDs "
            f"(its columns: {', '.join(schema.names)}); name it with ?id_column=."
        )
    namespace = options.namespace_column if options.namespace_column in names else None
    if namespace is not None and not pa.types.is_string(schema.field(namespace).type):
        raise options.problem(f"the namespace column {namespace!r} is not a string column.")
    vector = _vector_column(schema, options)
    dimension = schema.field(vector).type.list_size if vector else None
    sparse = all(name in names for name in SPARSE_COLUMNS)
    mode = options.metadata or (recorded.get(METADATA_KEY, b"columns").decode())
    taken = {options.id_column, namespace, vector, *(SPARSE_COLUMNS if sparse else ())}
    fields: tuple[pa.Field, ...] = ()
    if mode == "json":
        if JSON_COLUMN not in names or not pa.types.is_string(schema.field(JSON_COLUMN).type):
            raise options.problem(f"metadata=json needs a string column {JSON_COLUMN!r} holding JSON text.")
        taken.add(JSON_COLUMN)
    rest = [f for f in schema if f.name not in taken and f.name not in options.skip_columns]
    if mode == "json" and rest:
        unused = ", ".join(f.name for f in rest)
        raise options.problem(
            f"column(s) {unused} are not part of this layout: "
            "list them in ?skip_columns= to leave them alone."
        )
    if mode == "columns":
        unheld = [f"{f.name} ({f.type})" for f in rest if _kind_of(f.type) is None]
        if unheld:
            raise options.problem(
                f"column(s) {', '.join(unheld)} cannot be metadata (strings, numbers, booleans and lists of "
                "strings can): list them in ?skip_columns= to leave them alone."
            )
        fields = tuple(rest)
    metric = options.metric or (recorded[METRIC_KEY].decode() if ours else None)
    if ours and options.metric and options.metric != recorded[METRIC_KEY].decode():
        raise options.problem(
            f"the table was created with metric {recorded[METRIC_KEY].decode()}, not {options.metric}: "
            "leave ?metric= out."
        )
    return Layout(
        options.id_column, namespace, vector, dimension, sparse, mode, fields, metric, ours, id_type
    )


def created_layout(shape: IndexShape, options: LanceOptions) -> Layout:
    return layout_of(created_schema(shape, options), options)


def _vector_column(schema: pa.Schema, options: LanceOptions) -> str | None:
    def is_vector(field: pa.Field) -> bool:
        return bool(pa.types.is_fixed_size_list(field.type) and field.type.value_type == pa.float32())

    if options.vector_column:
        if options.vector_column not in schema.names or not is_vector(schema.field(options.vector_column)):
            raise options.problem(
                f"the table has no fixed_size_list<float32> column {options.vector_column!r} for vectors."
            )
        return options.vector_column
    if "vector" in schema.names and is_vector(schema.field("vector")):
        return "vector"
    candidates = [f.name for f in schema if is_vector(f) and f.name not in options.skip_columns]
    if len(candidates) > 1:
        raise options.problem(
            f"the table has several vector columns ({', '.join(candidates)}): "
            "choose one with ?vector_column=."
        )
    return candidates[0] if candidates else None


def _kind_of(data_type: pa.DataType) -> str | None:
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "string"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_floating(data_type):
        return "float"
    if pa.types.is_integer(data_type):
        return "int"
    if (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)) and (
        pa.types.is_string(data_type.value_type) or pa.types.is_large_string(data_type.value_type)
    ):
        return "strings"
    return None


def _columns_problem(metadata: dict[str, Any], types: dict[str, pa.DataType]) -> str | None:
    for key, value in metadata.items():
        data_type = types.get(key)
        if data_type is None:
            return f"the table has no column for metadata {key!r}"
        problem = _value_problem(value, data_type)
        if problem:
            return f"metadata {key!r}: {problem}"
    return None


def _value_problem(value: Any, data_type: pa.DataType) -> str | None:
    kind = _kind_of(data_type)
    if isinstance(value, bool):
        return None if kind == "bool" else f"a boolean does not fit the {data_type} column"
    if isinstance(value, str):
        return None if kind == "string" else f"a string does not fit the {data_type} column"
    if isinstance(value, (int, float)):
        if kind == "float":
            narrow = pa.types.is_float32(data_type) or pa.types.is_float16(data_type)
            dtype = np.float32 if pa.types.is_float32(data_type) else np.float16
            if narrow and float(dtype(value)) != float(value):
                return f"{value!r} is not exact in the {data_type} column"
            return None
        if kind == "int":
            info = np.iinfo(data_type.to_pandas_dtype())
            if not (float(value).is_integer() and info.min <= value <= info.max):
                return f"{value!r} is not an integer of the {data_type} column"
            return None
        return f"a number does not fit the {data_type} column"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None if kind == "strings" else f"a list of strings does not fit the {data_type} column"
    return f"{type(value).__name__} values are not held by columns"


def _json(record: Record) -> str | None:
    return orjson.dumps(record.metadata).decode() if record.metadata else None


def _vectors(records: Sequence[Record], data_type: pa.DataType) -> pa.Array:
    dimension = data_type.list_size
    valid = np.array([record.values is not None for record in records], bool)
    rows = [record.values for record in records if record.values is not None]
    held = np.stack(rows) if rows else np.zeros((0, dimension), np.float32)
    if valid.all():
        return pa.FixedSizeListArray.from_arrays(pa.array(held.ravel()), dimension)
    flat = np.zeros((len(records), dimension), np.float32)
    flat[valid] = held
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), dimension, mask=pa.array(~valid))


def _sparse_arrays(records: Iterable[Record]) -> tuple[pa.Array, pa.Array]:
    indices = [None if r.sparse is None else r.sparse.indices for r in records]
    values = [None if r.sparse is None else r.sparse.values for r in records]
    return pa.array(indices, pa.list_(pa.uint32())), pa.array(values, pa.list_(pa.float32()))


def _vector_rows(column: pa.ChunkedArray) -> list[Any]:
    array = column.combine_chunks()
    dimension = array.type.list_size
    valid = np.asarray(array.is_valid())
    flat = np.asarray(pc.list_flatten(array).cast(pa.float32()))
    rows: list[Any] = [None] * len(array)
    positions = np.flatnonzero(valid)
    matrix = flat.reshape(len(positions), dimension) if len(positions) else flat.reshape(0, dimension)
    for row, position in enumerate(positions):
        rows[position] = matrix[row]
    return rows


def _sparse_rows(indices: pa.ChunkedArray, values: pa.ChunkedArray) -> list[SparseValues | None]:
    index_array, value_array = indices.combine_chunks(), values.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(index_array), 0).to_numpy()
    value_lengths = pc.fill_null(pc.list_value_length(value_array), 0).to_numpy()
    flat_indices = np.asarray(pc.list_flatten(index_array).cast(pa.uint32()))
    flat_values = np.asarray(pc.list_flatten(value_array).cast(pa.float32()))
    if not np.array_equal(lengths, value_lengths):
        raise ValueError("sparse indices and values differ in length in some rows")
    ends = np.cumsum(lengths)
    rows: list[SparseValues | None] = []
    for end, length in zip(ends.tolist(), lengths.tolist(), strict=True):
        rows.append(
            SparseValues(flat_indices[end - length : end], flat_values[end - length : end])
            if length
            else None
        )
    return rows


def _cell(value: Any, kind: str | None) -> Any:
    """A metadata value as its column's Python type (a float64 number into an integer column: an int)."""
    if value is None or isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, (int, float)):
        return int(value)
    if kind == "float" and isinstance(value, (int, float)):
        return float(value)
    return value


def sparse_dots(query: SparseValues, rows: pa.Table) -> np.ndarray:
    """Each row's sparse dot product with ``query`` (0 for a row without sparse values), in float64."""
    dots = np.zeros(rows.num_rows)
    for n, pairs in enumerate(_sparse_rows(rows.column(SPARSE_COLUMNS[0]), rows.column(SPARSE_COLUMNS[1]))):
        if pairs is not None:
            _, mine, theirs = np.intersect1d(
                query.indices, pairs.indices, assume_unique=True, return_indices=True
            )
            dots[n] = float(
                np.dot(query.values[mine].astype(np.float64), pairs.values[theirs].astype(np.float64))
            )
    return dots
