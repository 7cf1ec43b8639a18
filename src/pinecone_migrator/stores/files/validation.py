"""A check of a tree of files against every rule of Pinecone's bulk-import layout (:mod:`.parquet_layout`).

Pinecone refuses a whole import for one broken file, so :func:`validate_tree` reads everything (in batches,
so memory stays bounded) and reports every problem with its file and row before anything is uploaded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from ...errors import UserError
from .layout import Manifest, UnsafeManifest, bulk_import_problem, format_of, read_manifest
from .location import Location
from .parquet_layout import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_ID_LENGTH,
    MAX_METADATA_BYTES,
    MAX_NAMESPACES,
    MAX_SPARSE_VALUES,
    schema_problems,
)

BATCH_ROWS = 10_000
MAX_PROBLEMS_PER_RULE = 1_000  # per rule, the first ones are listed; the counts stay exact


@dataclass(frozen=True)
class Problem:
    rule: str  # a short name, e.g. "values-type", "duplicate-id"
    message: str
    file: str | None = None  # relative to the checked directory
    row: int | None = None  # 0-based, within the file

    def where(self) -> str:
        if self.file is None:
            return "(tree)"
        return self.file if self.row is None else f"{self.file} row {self.row}"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "file": self.file, "row": self.row, "message": self.message}


@dataclass
class Validation:
    root: str
    namespaces: dict[str, int] = field(default_factory=dict)  # folder -> records
    files: int = 0
    dimension: int | None = None
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # rule -> problems found (exact)

    @property
    def valid(self) -> bool:
        return not self.counts

    @property
    def records(self) -> int:
        return sum(self.namespaces.values())

    def add(self, problem: Problem) -> None:
        seen = self.counts.get(problem.rule, 0)
        self.counts[problem.rule] = seen + 1
        if seen < MAX_PROBLEMS_PER_RULE:
            self.problems.append(problem)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "valid": self.valid,
            "files": self.files,
            "records": self.records,
            "namespaces": self.namespaces,
            "dimension": self.dimension,
            "problem_counts": self.counts,
            "problems": [p.to_json() for p in self.problems],
        }


def validate_tree(root: str | Path, dimension: int | None = None) -> Validation:
    """Check an import directory (a local folder or an s3://, gs://, az:// prefix) against Pinecone's
    bulk-import rules; ``dimension`` is the target index's, when known (otherwise every file must agree
    with the first)."""
    location = Location(str(root))
    result = Validation(root=str(root), dimension=dimension)
    try:
        manifest = read_manifest(location)
    except UnsafeManifest:
        raise  # a path out of the tree: refused, as an import would refuse it
    except UserError:
        manifest = None  # someone else's manifest.json: Pinecone's bulk import does not read it either
    names = location.files()  # a symbolic link out of the tree is refused here
    _refuse_json_lines(str(root), manifest, names)
    folders: dict[str, list[str]] = {}
    for name in names:
        parts = name.split("/")
        if not name.endswith(".parquet"):
            continue  # other files (our manifest.json, a README) are not read by an import
        if len(parts) != 2:
            result.add(
                Problem(
                    "layout",
                    "a Parquet file must sit directly in a namespace folder: <dir>/<namespace>/x.parquet",
                    name,
                )
            )
            continue
        folders.setdefault(parts[0], []).append(name)
    for folder in folders:
        problem = _namespace_problem(folder)
        if problem:
            result.add(Problem("namespace-name", f"folder {folder!r}: {problem}", folder))
    for namespace, entry in (manifest.namespaces if manifest is not None else {}).items():
        problem = bulk_import_problem(namespace, entry.folder)
        if problem:
            result.add(Problem("namespace-name", problem, entry.folder))
    file_count = sum(len(files) for files in folders.values())
    if file_count == 0:
        result.add(Problem("layout", "no Parquet file in a namespace folder: nothing would be imported"))
    if len(folders) > MAX_NAMESPACES:
        result.add(
            Problem("limits", f"{len(folders):,} namespaces; one import takes at most {MAX_NAMESPACES:,}")
        )
    if file_count > MAX_FILES:
        result.add(Problem("limits", f"{file_count:,} files; one import takes at most {MAX_FILES:,}"))
    for folder, files in sorted(folders.items()):
        _NamespaceCheck(location, folder, result).run(files)
    return result


def _refuse_json_lines(root: str, manifest: Manifest | None, names: list[str]) -> None:
    """A JSON Lines export is not a bulk-import tree: say so, rather than "no Parquet file"."""
    json_lines = (
        manifest.file_format == "jsonl"
        if manifest is not None
        else (
            any(format_of(name) == "jsonl" for name in names)
            and not any(n.endswith(".parquet") for n in names)
        )
    )
    if json_lines:
        raise UserError(
            f"{root} is a JSON Lines export: validate checks Parquet files against Pinecone's bulk-import "
            "rules, and a bulk import reads Parquet only. Import it client-side (`pinecone-migrator import "
            "--from ...`, which checks every line before writing), or export the index again with --format "
            "parquet to validate and bulk-import it."
        )


def _namespace_problem(folder: str) -> str | None:
    if not folder.isascii():
        return "namespace names are ASCII"
    if len(folder) > MAX_ID_LENGTH:
        return f"namespace names are at most {MAX_ID_LENGTH} characters"
    return None


class _NamespaceCheck:
    """The files of one namespace folder, row by row in batches; duplicate IDs are found across its files."""

    def __init__(self, location: Location, folder: str, result: Validation) -> None:
        self.location = location
        self.folder = folder
        self.result = result
        self.hashes: list[np.ndarray[Any, np.dtype[np.uint64]]] = []
        self.records = 0

    def run(self, files: list[str]) -> None:
        for name in files:
            self.result.files += 1
            self._file(name)
        self.result.namespaces[self.folder] = self.records
        self._duplicates(files)

    def _file(self, name: str) -> None:
        size = self.location.size(name)
        if size > MAX_FILE_BYTES:
            self.result.add(
                Problem("limits", f"{size / 1024**3:,.1f} GB; a file may hold at most 10 GB", name)
            )
        with self.location.open(name) as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except (pa.ArrowException, OSError) as error:
                self.result.add(Problem("unreadable", f"not a readable Parquet file: {error}", name))
                return
            if not self._schema(parquet.schema_arrow, name):
                return
            row = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                self._batch(batch, name, row)
                row += batch.num_rows
        self.records += row

    def _schema(self, schema: pa.Schema, name: str) -> bool:
        """Column names and types; False when rows cannot be checked meaningfully."""
        problems = schema_problems(schema)
        for rule, message in problems:
            self.result.add(Problem(rule, message, name))
        return "id" in schema.names and not any(rule.endswith("-type") for rule, _ in problems)

    def _batch(self, batch: pa.RecordBatch, name: str, first_row: int) -> None:
        ids = batch.column("id").to_pylist()
        self.hashes.append(
            np.fromiter((xxhash.xxh3_64_intdigest(i.encode()) if i else 0 for i in ids), np.uint64, len(ids))
        )
        for offset, record_id in enumerate(ids):
            problem = _id_problem(record_id)
            if problem:
                self.result.add(Problem("id", problem, name, first_row + offset))
        names = batch.schema.names
        if "values" in names:
            self._values(batch.column("values"), name, first_row)
        if "sparse_values" in names:
            for offset, sparse in enumerate(batch.column("sparse_values").to_pylist()):
                problem = _sparse_problem(sparse)
                if problem:
                    self.result.add(Problem("sparse-values", problem, name, first_row + offset))
        if "metadata" in names:
            for offset, text in enumerate(batch.column("metadata").to_pylist()):
                problem = _metadata_problem(text)
                if problem:
                    self.result.add(Problem("metadata", problem, name, first_row + offset))

    def _values(self, column: pa.Array, name: str, first_row: int) -> None:
        """Dense values, vectorised: present in every row, one dimension throughout, finite."""
        lengths = np.asarray(pc.fill_null(pc.list_value_length(column), 0))
        for row in np.flatnonzero(lengths == 0):
            self.result.add(
                Problem(
                    "values",
                    "values are missing (a dense index needs them in every row)",
                    name,
                    first_row + int(row),
                )
            )
        present = lengths[lengths > 0]
        if self.result.dimension is None and present.size:
            self.result.dimension = int(present[0])
        for row in np.flatnonzero((lengths > 0) & (lengths != self.result.dimension)):
            self.result.add(
                Problem(
                    "dimension",
                    f"{int(lengths[row])} values; expected {self.result.dimension}",
                    name,
                    first_row + int(row),
                )
            )
        flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)  # a null value reads as NaN
        parents = np.asarray(pc.list_parent_indices(column))
        for row in np.unique(parents[~np.isfinite(flat)]):
            self.result.add(
                Problem(
                    "values",
                    "values must be finite numbers (no null, NaN or infinity)",
                    name,
                    first_row + int(row),
                )
            )

    def _duplicates(self, files: list[str]) -> None:
        if not self.hashes:
            return
        hashes = np.concatenate(self.hashes)
        self.hashes = []
        unique, counts = np.unique(hashes, return_counts=True)
        suspects = set(unique[counts > 1].tolist())
        if not suspects:
            return
        # A 64-bit hash can collide: the rows whose hash repeats are read again and their IDs compared.
        first_seen: dict[str, str] = {}
        for name in files:
            for row, record_id in _ids_with_hash(self.location, name, suspects):
                if record_id in first_seen:
                    self.result.add(
                        Problem(
                            "duplicate-id",
                            f"ID {record_id!r} appears again (first at {first_seen[record_id]})",
                            name,
                            row,
                        )
                    )
                else:
                    first_seen[record_id] = f"{name} row {row}"


def _ids_with_hash(location: Location, name: str, hashes: set[int]) -> Iterator[tuple[int, str]]:
    row = 0
    with location.open(name) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS, columns=["id"]):
            for record_id in batch.column("id").to_pylist():
                if record_id and xxhash.xxh3_64_intdigest(record_id.encode()) in hashes:
                    yield row, record_id
                row += 1


def _id_problem(record_id: str | None) -> str | None:
    if not record_id:
        return "the ID is missing or empty"
    if len(record_id) > MAX_ID_LENGTH:
        return f"the ID has {len(record_id)} characters; at most {MAX_ID_LENGTH}"
    if not record_id.isascii():
        return "the ID must be ASCII"
    return None


def _sparse_problem(sparse: dict[str, Any] | None) -> str | None:
    if sparse is None:
        return None  # a hybrid row without sparse values
    indices, values = sparse.get("indices") or [], sparse.get("values") or []
    if len(indices) != len(values):
        return f"{len(indices)} sparse indices but {len(values)} sparse values"
    if len(indices) > MAX_SPARSE_VALUES:
        return f"{len(indices)} sparse values; at most {MAX_SPARSE_VALUES}"
    if any(b <= a for a, b in itertools.pairwise(indices)):
        return "sparse indices must be sorted and unique"
    if not all(v is not None and math.isfinite(v) for v in values):
        return "sparse values must be finite numbers"
    return None


def _metadata_problem(text: str | None) -> str | None:
    if text is None:
        return None
    size = len(text.encode())
    if size > MAX_METADATA_BYTES:
        return f"metadata is {size:,} bytes; at most {MAX_METADATA_BYTES:,} (40 KB)"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return f"metadata is not valid JSON: {error}"
    if not isinstance(value, dict):
        return "metadata must be a JSON object"
    for key, item in value.items():
        if isinstance(item, list):
            if not all(isinstance(element, str) for element in item):
                return f"metadata {key!r}: a list may only hold strings"
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            return f"metadata {key!r}: {type(item).__name__} values are not allowed (no nested objects)"
    return None
