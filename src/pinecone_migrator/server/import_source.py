"""What a bulk import reads: Pinecone's Parquet layout under a local path, a ``file://`` URI or ``s3://``.

Local trees are checked as a whole by :func:`~pinecone_migrator.stores.files.validation.validate_tree`
before anything is written, so an ``abort`` import of a broken local tree writes nothing. Object storage is
not read twice: its files are checked as they are read. Either way, every row is converted by the data
plane's own upsert validation (:func:`~pinecone_migrator.server.validation.upsert_records`), so an import
accepts exactly what an upsert would.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..stores.files.parquet_layout import SPARSE_TYPE
from ..stores.files.validation import Problem, validate_tree
from .catalog import IndexDefinition
from .errors import ApiError, invalid_argument
from .store import StoredRecord
from .validation import MAX_UPSERT_RECORDS, namespace_name, upsert_records

SCHEMES = ("", "file", "s3")
BATCH_ROWS = MAX_UPSERT_RECORDS  # one upsert per batch
_STRINGS = (pa.string(), pa.large_string())
COLUMN_TYPES: dict[str, tuple[pa.DataType, ...]] = {
    "id": _STRINGS,
    "values": (pa.list_(pa.float32()), pa.large_list(pa.float32())),
    "sparse_values": (SPARSE_TYPE,),
    "metadata": _STRINGS,
}


class SourceError(Exception):
    """The source cannot be imported at all: the import fails whatever its error mode."""


class FileRejected(Exception):
    """One file cannot be imported (unreadable, wrong columns)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def check_uri(uri: Any) -> str:
    """The URI of a start request, refused at once (400) when no import could ever read it."""
    if not isinstance(uri, str) or not uri:
        raise invalid_argument("uri must be a non-empty string.")
    if len(uri) > 1500:
        raise invalid_argument("uri must be at most 1500 characters.")
    scheme = urlparse(uri).scheme
    if scheme not in SCHEMES:
        raise invalid_argument(
            f"This server imports from local paths, file:// and s3:// URIs (s3:// through an endpoint "
            f"configured for it, AWS_ENDPOINT_URL), not {scheme}://: it never contacts cloud storage itself."
        )
    return uri


@dataclass(frozen=True)
class SourceFile:
    namespace: str  # the folder name: "__default__" is the default namespace, as the store names it
    name: str  # "<folder>/<file>.parquet", as problems name it
    path: str  # what the filesystem opens
    rows: int


@dataclass
class Source:
    uri: str
    files: list[SourceFile]
    problems: list[Problem] = field(default_factory=list)  # found before anything is written
    problem_count: int = 0  # exact, while ``problems`` may list only the first ones of each rule
    filesystem: Any = None  # an fsspec filesystem for object storage, None for local files

    @property
    def namespaces(self) -> list[str]:
        return sorted({f.namespace for f in self.files})

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.files)

    def open(self, file: SourceFile) -> pq.ParquetFile:
        if self.filesystem is None:
            return pq.ParquetFile(file.path)
        return pq.ParquetFile(self.filesystem.open(file.path, "rb"))


def open_source(uri: str, definition: IndexDefinition) -> Source:
    """List (and, for local trees, validate) what ``uri`` holds. Blocking: run it in a thread."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return _object_store_source(uri, f"{parsed.netloc}{parsed.path}".rstrip("/"))
    root = Path(url2pathname(parsed.path)) if parsed.scheme == "file" else Path(uri)
    if not root.is_dir():
        raise SourceError(f"{uri} is not a directory this server can read.")
    validation = validate_tree(root, definition.dimension)
    files = [
        SourceFile(
            path.parent.name, f"{path.parent.name}/{path.name}", str(path), _rows(pq.ParquetFile, str(path))
        )
        for path in sorted(root.glob("*/*.parquet"))
        if path.is_file()
    ]
    return Source(uri, files, validation.problems, sum(validation.counts.values()))


S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
# botocore's credential providers that ask a well-known address of the machine it runs on (the EC2
# instance-metadata address 169.254.169.254, an ECS container endpoint) rather than a host the user named.
_PROBING_PROVIDERS = ("iam-role", "container-role")


def s3_endpoint(environ: Mapping[str, str] = os.environ) -> str | None:
    """The S3 endpoint configured for this server (a local emulator such as moto, MinIO), if any."""
    for name in S3_ENDPOINT_VARIABLES:
        if environ.get(name):
            return environ[name]
    return None


def _s3_filesystem(uri: str) -> Any:
    """An s3fs filesystem that reaches only the configured endpoint; SourceError when there is none.

    A local server must not read a real bucket (a test suite written for Pinecone's cloud names public
    buckets), and botocore looking for credentials must not probe the instance-metadata address."""
    endpoint = s3_endpoint()
    if endpoint is None:
        raise SourceError(
            f"{uri}: this local server reads s3:// only through an endpoint configured for it (set "
            "AWS_ENDPOINT_URL to a local S3 emulator such as moto or MinIO before starting the server); it "
            "never contacts Amazon S3 itself. Or import from a local directory or file:// URI."
        )
    try:
        # Optional dependencies (the s3 extra), only needed here.
        fsspec = importlib.import_module("fsspec")
        session = importlib.import_module("aiobotocore.session").get_session()
    except ImportError:
        raise SourceError(
            "Importing from s3:// needs fsspec and s3fs: pip install 'pinecone-migrator[s3]'."
        ) from None
    resolver = session.get_component("credential_provider")
    for provider in _PROBING_PROVIDERS:
        with contextlib.suppress(ValueError):  # absent in this botocore version
            resolver.remove(provider)
    client_kwargs = {"endpoint_url": endpoint}
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        client_kwargs["region_name"] = "us-east-1"  # an emulator ignores it; botocore must not look it up
    return fsspec.filesystem("s3", session=session, client_kwargs=client_kwargs, skip_instance_cache=True)


def _object_store_source(uri: str, root: str) -> Source:
    filesystem = _s3_filesystem(uri)
    if not filesystem.isdir(root):
        raise SourceError(f"{uri} is not a directory this server can read.")
    files: list[SourceFile] = []
    problems: list[Problem] = []

    def opener(path: str) -> pq.ParquetFile:
        return pq.ParquetFile(filesystem.open(path, "rb"))

    for path in sorted(filesystem.find(root)):
        relative = str(path)[len(root) + 1 :]
        if not relative.endswith(".parquet"):
            continue
        parts = relative.split("/")
        if len(parts) != 2:
            problems.append(
                Problem("layout", "a Parquet file must sit directly in a namespace folder", relative)
            )
            continue
        files.append(SourceFile(parts[0], relative, str(path), _rows(opener, str(path))))
    for folder in sorted({f.namespace for f in files}):
        try:
            namespace_name(folder)
        except ApiError as error:
            problems.append(Problem("namespace-name", error.message, folder))
    if not files:
        raise SourceError(f"{uri} holds no Parquet file in a namespace folder: nothing to import.")
    return Source(uri, files, problems, len(problems), filesystem)


def _rows(opener: Callable[[str], pq.ParquetFile], path: str) -> int:
    """Rows a file declares (0 when unreadable: reading it later reports why)."""
    try:
        with opener(path) as parquet:
            return int(parquet.metadata.num_rows)
    except (pa.ArrowException, OSError):
        return 0


def schema_problem(schema: pa.Schema, definition: IndexDefinition) -> str | None:
    names = schema.names
    extra = [name for name in names if name not in COLUMN_TYPES]
    if extra:
        return f"columns {extra} are not allowed (only {list(COLUMN_TYPES)})"
    for column, types in COLUMN_TYPES.items():
        if column in names and not any(schema.field(column).type.equals(t) for t in types):
            return f"{column} is {schema.field(column).type}, must be {types[0]}"
    if "id" not in names:
        return "the id column is required"
    needed = "sparse_values" if definition.vector_type == "sparse" else "values"
    if needed not in names:
        return f"the {needed} column is required in a {definition.vector_type} index"
    return None


@dataclass
class Batch:
    rows: int  # rows read, skipped ones included
    records: list[StoredRecord]
    problems: list[Problem]


def read_batches(
    source: Source, file: SourceFile, definition: IndexDefinition, skip_rows: set[int]
) -> Generator[Batch, None, None]:
    """The records of one file, batch by batch; rows in ``skip_rows`` (0-based) are left out.

    Raises :class:`FileRejected` before the first batch when the file cannot be imported at all.
    """
    try:
        parquet = source.open(file)
    except (pa.ArrowException, OSError) as error:
        raise FileRejected(
            Problem("unreadable", f"not a readable Parquet file: {error}", file.name)
        ) from None
    with parquet:
        problem = schema_problem(parquet.schema_arrow, definition)
        if problem:
            raise FileRejected(Problem("schema", problem, file.name))
        first_row = 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            records, problems = _convert(batch, first_row, file.name, definition, skip_rows)
            yield Batch(batch.num_rows, records, problems)
            first_row += batch.num_rows


def _convert(
    batch: pa.RecordBatch, first_row: int, name: str, definition: IndexDefinition, skip_rows: set[int]
) -> tuple[list[StoredRecord], list[Problem]]:
    columns = batch.schema.names
    count = batch.num_rows
    ids = batch.column("id").to_pylist()
    packed_all = None
    if "values" in columns and definition.dimension is not None:
        packed_all = _packed_dense(batch.column("values"), definition.dimension)
    values = (
        batch.column("values").to_pylist() if "values" in columns and packed_all is None else [None] * count
    )
    sparse = batch.column("sparse_values").to_pylist() if "sparse_values" in columns else [None] * count
    metadata = batch.column("metadata").to_pylist() if "metadata" in columns else [None] * count
    problems: list[Problem] = []
    rows: list[int] = []
    vectors: list[dict[str, Any]] = []
    packed: list[bytes] = []
    for offset in range(count):
        row = first_row + offset
        if row in skip_rows:
            continue
        vector: dict[str, Any] = {"id": ids[offset]}
        if values[offset] is not None:
            vector["values"] = values[offset]
        if sparse[offset] is not None:
            vector["sparseValues"] = sparse[offset]
        text = metadata[offset]
        if text is not None:
            try:
                vector["metadata"] = orjson.loads(text)
            except orjson.JSONDecodeError as error:
                problems.append(Problem("metadata", f"metadata is not valid JSON: {error}", name, row))
                continue
        rows.append(row)
        vectors.append(vector)
        if packed_all is not None:
            packed.append(packed_all[offset])
    try:
        return _records(vectors, packed if packed_all is not None else None, definition), problems
    except ApiError:
        pass  # some row is invalid: convert one by one to know which
    records: list[StoredRecord] = []
    for position, (row, vector) in enumerate(zip(rows, vectors, strict=True)):
        try:
            one = [packed[position]] if packed_all is not None else None
            records.extend(_records([vector], one, definition))
        except ApiError as error:
            problems.append(Problem("record", error.message, name, row))
    problems.sort(key=lambda p: p.row or 0)
    return records, problems


def _records(
    vectors: list[dict[str, Any]], packed: list[bytes] | None, definition: IndexDefinition
) -> list[StoredRecord]:
    if not vectors:
        return []
    return upsert_records(
        {"vectors": vectors}, definition.vector_type, definition.dimension, definition.metric, False, packed
    )


def _packed_dense(column: pa.Array, dimension: int) -> list[bytes] | None:
    """Dense values straight from Arrow's float32 buffer when every row is complete; None otherwise."""
    if column.null_count or len(column) == 0:
        return None
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(column)
    if not (lengths == dimension).all() or flat.null_count:
        return None
    matrix = flat.to_numpy(zero_copy_only=False).reshape(len(column), dimension)
    if not np.isfinite(matrix).all():
        return None
    return [row.tobytes() for row in matrix]
