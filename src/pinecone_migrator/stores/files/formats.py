"""Encoding records into data files and decoding them back, for both formats.

``parquet``: Pinecone's bulk-import columns (``parquet_layout.bulk_import_schema``): dense values as
LIST<FLOAT32>, sparse values as STRUCT<indices: LIST<UINT32>, values: LIST<FLOAT32>> (only in a file where
some record has them), metadata as a JSON string (NULL when empty). ``jsonl``: one gzip-compressed JSON
object per line with ``id``, ``values``, ``sparse_values`` and ``metadata`` (null when absent); float32
values are written in their shortest exact form, so reading them back gives the same float32 bits.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import UserError
from ...records import InvalidRecord, Record, SparseValues
from .parquet_layout import SPARSE_TYPE, bulk_import_schema

JSONL_GZIP_LEVEL = 1  # level 1 is ~5x faster than the default 9 and only ~15 % larger on vectors


@dataclass(frozen=True)
class StagedRow:
    """A record in the form the staging table keeps it: raw little-endian arrays and metadata JSON."""

    id: str
    values: bytes | None
    sparse_indices: bytes | None
    sparse_values: bytes | None
    metadata: bytes | None

    def as_tuple(self) -> tuple[str, bytes | None, bytes | None, bytes | None, bytes | None]:
        return (self.id, self.values, self.sparse_indices, self.sparse_values, self.metadata)

    @classmethod
    def of(cls, record: Record) -> StagedRow:
        sparse = record.sparse
        return cls(
            id=record.id,
            values=None if record.values is None else record.values.astype("<f4", copy=False).tobytes(),
            sparse_indices=None if sparse is None else sparse.indices.astype("<u4", copy=False).tobytes(),
            sparse_values=None if sparse is None else sparse.values.astype("<f4", copy=False).tobytes(),
            metadata=orjson.dumps(record.metadata) if record.metadata else None,
        )


def _list_array(chunks: Sequence[bytes | None], dtype: str, arrow_type: pa.DataType) -> pa.Array:
    lengths = np.fromiter(
        (0 if chunk is None else len(chunk) // 4 for chunk in chunks), dtype=np.int32, count=len(chunks)
    )
    offsets = np.zeros(len(chunks) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.frombuffer(b"".join(chunk for chunk in chunks if chunk is not None), dtype=dtype)
    mask = pa.array([chunk is None for chunk in chunks]) if any(c is None for c in chunks) else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type), mask=mask)


ROW_GROUP_ROWS = 1_000  # rows per Parquet row group and per chunk read from staging: bounds memory


def _parquet_table(rows: Sequence[StagedRow], schema: pa.Schema) -> pa.Table:
    columns: dict[str, pa.Array] = {"id": pa.array([row.id for row in rows], type=pa.string())}
    if "values" in schema.names:
        columns["values"] = _list_array([row.values for row in rows], "<f4", pa.float32())
    if "sparse_values" in schema.names:
        indices = _list_array([row.sparse_indices for row in rows], "<u4", pa.uint32())
        values = _list_array([row.sparse_values for row in rows], "<f4", pa.float32())
        mask = pa.array([row.sparse_indices is None for row in rows])
        columns["sparse_values"] = pa.StructArray.from_arrays(
            [indices, values], fields=list(SPARSE_TYPE), mask=mask
        )
    columns["metadata"] = pa.array(
        [None if row.metadata is None else row.metadata.decode() for row in rows], type=pa.string()
    )
    return pa.Table.from_pydict(columns, schema=schema)


def write_parquet(chunks: Iterable[Sequence[StagedRow]], path: Path, dense: bool, sparse: bool) -> None:
    """``sparse``: whether any row has sparse values (the column is left out of a file without any)."""
    schema = bulk_import_schema(dense=dense, sparse=sparse)
    # No dictionary encoding (vectors do not repeat; it costs memory and time) and statistics only for IDs.
    options: dict[str, Any] = {"use_dictionary": False, "write_statistics": ["id"]}
    with pq.ParquetWriter(path, schema, compression="snappy", **options) as writer:
        for rows in chunks:
            writer.write_table(_parquet_table(rows, schema), row_group_size=ROW_GROUP_ROWS)


def write_jsonl(chunks: Iterable[Sequence[StagedRow]], path: Path) -> None:
    with gzip.open(path, "wb", compresslevel=JSONL_GZIP_LEVEL) as out:
        for rows in chunks:
            out.write(b"".join(_jsonl_line(row) for row in rows))


def _jsonl_line(row: StagedRow) -> bytes:
    line = {
        "id": row.id,
        "values": None if row.values is None else np.frombuffer(row.values, dtype="<f4"),
        "sparse_values": None
        if row.sparse_indices is None or row.sparse_values is None
        else {
            "indices": np.frombuffer(row.sparse_indices, dtype="<u4"),
            "values": np.frombuffer(row.sparse_values, dtype="<f4"),
        },
        "metadata": None if row.metadata is None else orjson.Fragment(row.metadata),
    }
    return orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


def write_rows(
    chunks: Iterable[Sequence[StagedRow]], path: Path, file_format: str, dense: bool, sparse: bool
) -> None:
    if file_format == "parquet":
        write_parquet(chunks, path, dense, sparse)
    else:
        write_jsonl(chunks, path)


class DecodedChunk:
    """Consecutive rows of one data file (a Parquet row group, or a whole JSON Lines file): their IDs in
    order, and each record on demand."""

    def __init__(self, first_row: int, ids: list[str], build: Any) -> None:
        self.first_row = first_row
        self.ids = ids
        self._build = build
        self.positions = {record_id: row for row, record_id in enumerate(ids)}

    def record(self, row: int) -> Record:
        """The record at ``row`` of this chunk (0-based within the chunk)."""
        record: Record = self._build(row)
        return record


def unreadable(where: str, error: Exception) -> UserError:
    return UserError(
        f"{where}: not a readable Parquet file ({error}); it is damaged or truncated: copy it again from "
        "the original, or export again."
    )


def parquet_footer(handle: IO[Any], where: str) -> pq.FileMetaData:
    """A Parquet file's footer (its schema and row groups), or a :class:`UserError` saying it is damaged."""
    try:
        return pq.ParquetFile(handle).metadata
    except (pa.ArrowException, OSError) as error:
        raise unreadable(where, error) from None


def parquet_row_groups(handle: IO[Any], where: str) -> list[int]:
    """The number of rows of each row group of a Parquet file."""
    metadata = parquet_footer(handle, where)
    return [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]


def parquet_schema_names(handle: IO[Any], where: str) -> list[str]:
    names: list[str] = parquet_footer(handle, where).schema.to_arrow_schema().names
    return names


def read_parquet(handle: IO[Any], where: str, group: int, first_row: int) -> DecodedChunk:
    try:
        table = pq.ParquetFile(handle).read_row_group(group)
    except (pa.ArrowException, OSError) as error:
        raise unreadable(where, error) from None
    names = set(table.column_names)
    if "id" not in names:
        raise UserError(f"{where}: no 'id' column; this is not a file in Pinecone's bulk-import layout.")
    ids = table.column("id").to_pylist()
    values = _offsets_and_flat(table.column("values")) if "values" in names else None
    sparse = table.column("sparse_values").combine_chunks() if "sparse_values" in names else None
    sparse_parts = None
    if sparse is not None:
        sparse_parts = (
            _offsets_and_flat(sparse.field("indices")),
            _offsets_and_flat(sparse.field("values")),
            sparse.is_null().to_numpy(zero_copy_only=False),
        )
    metadata = table.column("metadata").to_pylist() if "metadata" in names else None

    def build(row: int) -> Record:
        dense = None
        if values is not None and values[2][row]:
            offsets, flat, _ = values
            dense = flat[offsets[row] : offsets[row + 1]]
        sparse_values = None
        if sparse_parts is not None and not sparse_parts[2][row]:
            (i_off, i_flat, _), (v_off, v_flat, _), _ = sparse_parts
            sparse_values = SparseValues(
                i_flat[i_off[row] : i_off[row + 1]], v_flat[v_off[row] : v_off[row + 1]]
            )
        text = None if metadata is None else metadata[row]
        try:
            return Record(ids[row], dense, sparse_values, orjson.loads(text) if text else {})
        except (InvalidRecord, orjson.JSONDecodeError) as error:
            raise UserError(f"{where}, row {first_row + row}: {error}") from None

    return DecodedChunk(first_row, ids, build)


def _offsets_and_flat(column: Any) -> tuple[Any, Any, Any]:
    """A list column as (offsets, flat values, row is valid) numpy arrays."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = (~np.asarray(array.is_null().to_numpy(zero_copy_only=False))).astype(bool)
    offsets = array.offsets.to_numpy()
    flat = array.values.to_numpy(zero_copy_only=False)
    return offsets, flat, valid


def read_jsonl(handle: IO[Any], where: str, compressed: bool) -> DecodedChunk:
    records: list[Record] = []
    try:
        with gzip.open(handle, "rb") if compressed else contextlib.nullcontext(handle) as stream:
            for number, line in enumerate(stream):
                if not line.strip():
                    continue
                try:
                    records.append(Record.from_json(orjson.loads(line)))
                except (InvalidRecord, orjson.JSONDecodeError) as error:
                    raise UserError(
                        f"{where}, line {number + 1}: not a record ({error}). Fix or remove that line, or "
                        "export again."
                    ) from None
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(
            f"{where}: cannot be read ({error}); it is damaged or truncated: copy it again from the "
            "original, or export again."
        ) from None
    return DecodedChunk(0, [record.id for record in records], records.__getitem__)
