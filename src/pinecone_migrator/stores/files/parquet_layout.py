"""Pinecone's bulk-import Parquet layout.

Under an import directory, one folder per namespace (``__default__`` for the default one), and in each
folder Parquet files with the columns ``id`` STRING, ``values`` LIST<FLOAT32> (dense and hybrid indexes),
``sparse_values`` STRUCT<indices: LIST<UINT32>, values: LIST<FLOAT32>> (sparse indexes; optional in hybrid
ones), ``metadata`` STRING (JSON; NULL where a record has none) — and no other column. An import takes at
most 10,000 namespaces and 100,000 files of at most 10 GB each. :mod:`.validation` checks a tree against
every rule.
"""

from __future__ import annotations

import pyarrow as pa

MAX_NAMESPACES = 10_000
MAX_FILES = 100_000
MAX_FILE_BYTES = 10 * 1024**3
MAX_ID_LENGTH = 512
MAX_METADATA_BYTES = 40 * 1024
MAX_SPARSE_VALUES = 2_048
COLUMNS = ("id", "values", "sparse_values", "metadata")

SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])


def bulk_import_schema(dense: bool, sparse: bool) -> pa.Schema:
    """The exact schema of a file for an index with dense values, sparse values, or both."""
    fields = [pa.field("id", pa.string(), nullable=False)]
    if dense:
        fields.append(pa.field("values", pa.list_(pa.float32())))
    if sparse:
        fields.append(pa.field("sparse_values", SPARSE_TYPE))
    fields.append(pa.field("metadata", pa.string()))
    return pa.schema(fields)


_EXPECTED_TYPES = {
    "id": (pa.string(), pa.large_string()),
    "values": (pa.list_(pa.float32()), pa.large_list(pa.float32())),
    "sparse_values": (SPARSE_TYPE,),
    "metadata": (pa.string(), pa.large_string()),
}


def schema_problems(schema: pa.Schema) -> list[tuple[str, str]]:
    """(rule, message) for each way a file's columns break the layout: extra or missing columns, types."""
    names = schema.names
    problems = []
    extra = [n for n in names if n not in COLUMNS]
    if extra:
        problems.append(("extra-column", f"columns {extra} are not allowed (only {list(COLUMNS)})"))
    if "id" not in names:
        problems.append(("missing-column", "the id column is required"))
    if "values" not in names and "sparse_values" not in names:
        problems.append(("missing-column", "a values or a sparse_values column is required"))
    for column, types in _EXPECTED_TYPES.items():
        if column not in names:
            continue
        actual = schema.field(column).type
        if not any(actual.equals(t) for t in types):
            hint = ""
            if column == "values" and pa.types.is_list(actual) and pa.types.is_float64(actual.value_type):
                hint = " (float64: cast the values to float32)"
            problems.append(
                (f"{column.replace('_', '-')}-type", f"{column} is {actual}, must be {types[0]}{hint}")
            )
    return problems
