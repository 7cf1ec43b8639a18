"""Reading an export (or any tree in Pinecone's bulk-import layout) as a store: import = migrate from it.

IDs are listed file by file, row by row; a cursor is ``<file number>:<row>``. Records are fetched from the
files just listed, which stay decoded in a small cache, so list-then-fetch reads each file once.

Before an import writes anything, :meth:`FileSource.check` reads what the import will read, so that a bad
tree is refused (exit 2) with nothing written: every path stays inside the tree, every listed file exists,
every Parquet footer and schema is read, and every JSON Lines line is decoded (a JSON Lines file has no
footer, so a bad line near the end of a large file is found only by reading it all: it is refused before
the import, not turned into a dead letter after the rest was written — one more read of the files, cheap
next to the upserts). Row counts must equal the manifest's, and a restore also compares every namespace's
set digest with the one its manifest recorded.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from ...errors import UserError
from ...records import Record, SetDigest, approx_bytes, record_digest
from ..base import Capabilities, IdPage, IndexShape, StoreDescription, WriteAck
from ..fidelity import FILES, Room
from .formats import (
    DecodedChunk,
    parquet_footer,
    parquet_row_groups,
    parquet_schema_names,
    read_jsonl,
    read_parquet,
)
from .layout import Manifest, format_of, read_manifest
from .location import Location
from .parquet_layout import schema_problems

# Decoded rows kept for fetches that follow a listing: ~60 MB at dimension 768, whatever the file size.
CACHED_ROWS = 20_000


class FileSource:
    def __init__(self, url: str, metric: str | None = None) -> None:
        self.url = url
        self.metric = metric  # for a tree without a manifest, which cannot say
        self.location = Location(url)
        self._cache: OrderedDict[tuple[str, str, int], DecodedChunk] = OrderedDict()
        self._cached_rows = 0
        self._rows: dict[tuple[str, str], list[int]] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (FileSource, (self.url, self.metric))

    @cached_property
    def manifest(self) -> Manifest | None:
        manifest = read_manifest(self.location)
        if manifest is not None and not manifest.complete:
            raise UserError(
                f"The export at {self.url} is not finished (its manifest says so): run the export again "
                "with the same options to complete it, then import."
            )
        return manifest

    @cached_property
    def folders(self) -> dict[str, tuple[str, list[str]]]:
        """Namespace -> (folder, data files in order)."""
        if self.manifest is not None:
            return {ns: (e.folder, list(e.files)) for ns, e in self.manifest.namespaces.items()}
        found: dict[str, tuple[str, list[str]]] = {}
        for name in self.location.files():
            parts = name.split("/")
            if len(parts) == 2 and format_of(parts[1]) is not None:
                found.setdefault(parts[0], (parts[0], []))[1].append(parts[1])
        return found

    def exists(self) -> bool:
        return self.location.exists() and (self.manifest is not None or bool(self.folders))

    def check(self, *, digests: bool = False) -> None:
        """Refuse (UserError) a tree an import could not read through, before anything is written (see the
        module); ``digests``: also read every record and compare each namespace's digest with the
        manifest's (a restore)."""
        self.check_exists()
        if not self.folders:
            raise UserError(
                f"{self.url} holds no data files in namespace folders (<root>/<namespace>/*.parquet or "
                "*.jsonl.gz): nothing to import. Give the folder that holds the export."
            )
        for namespace, (_, files) in self.folders.items():
            digest = SetDigest() if digests else None
            rows = sum(self._check_file(namespace, name, digest) for name in files)
            self._check_against_manifest(namespace, rows, digest)

    def check_exists(self) -> None:
        if self.location.is_local and not self.location.exists():
            raise UserError(f"{self.url} does not exist: give the folder that holds the export.")
        if self.location.is_file():
            raise UserError(
                f"{self.url} is a file: give the folder that holds the export (and its manifest)."
            )
        if not self.location.is_local and self.manifest is None and not self.folders:
            raise UserError(f"{self.url} holds nothing: give the prefix that holds the export.")

    def _check_file(self, namespace: str, name: str, digest: SetDigest | None) -> int:
        """Read a data file as the import will (a Parquet file: its footer and schema); its row count."""
        path = f"{self.folders[namespace][0]}/{name}"
        where = self.location.path(path)
        if not self.location.exists(path):
            raise UserError(
                f"{where} is listed in the manifest but missing: the export is incomplete or damaged; copy "
                "it again from the original, or export again."
            )
        if format_of(name) == "parquet":
            with self.location.open(path) as handle:
                footer = parquet_footer(handle, where)
            problems = schema_problems(footer.schema.to_arrow_schema())
            if problems:
                raise UserError(
                    f"{where}: not in Pinecone's bulk-import layout: "
                    + "; ".join(message for _, message in problems)
                    + ". Fix the file (`pinecone-migrator validate` lists every problem), or export again."
                )
            groups = [footer.row_group(group).num_rows for group in range(footer.num_row_groups)]
            with self._lock:
                self._rows[(namespace, name)] = groups
        if digest is not None or format_of(name) != "parquet":
            # Every record is decoded: a bad row or line is found now (and its digest taken, if asked).
            for chunk in self._file_chunks(namespace, name):
                for row in range(len(chunk.ids)):
                    record = chunk.record(row)
                    if digest is not None:
                        digest.add(record_digest(record))
        return sum(self._chunk_rows(namespace, name))

    def _file_chunks(self, namespace: str, name: str) -> Iterator[DecodedChunk]:
        for number in range(len(self._chunk_rows(namespace, name))):
            chunk = self._chunk(namespace, name, number)
            if chunk is not None:
                yield chunk

    def _check_against_manifest(self, namespace: str, rows: int, digest: SetDigest | None) -> None:
        if self.manifest is None:
            return
        entry = self.manifest.namespaces[namespace]
        if rows != entry.records:
            raise UserError(
                f"{self.url}: namespace {namespace!r} has {rows:,} rows in its files, but the manifest "
                f"records {entry.records:,}: the export is damaged or was changed. Copy it again from the "
                "original, or export again."
            )
        if digest is not None and digest != entry.digest:
            raise UserError(
                f"{self.url}: the files of namespace {namespace!r} do not hold what the manifest recorded "
                "when they were written (changed or damaged since); nothing was written. Copy the backup "
                "again from the original."
            )

    def room(self) -> Room:
        """Files hold Pinecone's records without Pinecone's limits."""
        return FILES

    def describe(self) -> StoreDescription:
        if self.manifest is not None:
            return self.manifest.description
        return self._inferred_description

    @cached_property
    def _inferred_description(self) -> StoreDescription:
        """Without a manifest, shape and counts come from the files (every footer, or every JSON Lines
        file, is read): once, since the files do not change while they are read."""
        return StoreDescription(
            name=self.url,
            shape=self._inferred_shape(),
            namespace_counts={ns: self._count(ns) for ns in self.folders},
            deployment_type="files",
        )

    def _inferred_shape(self) -> IndexShape:
        for namespace, (_, files) in self.folders.items():
            for name in files:
                first = self._chunk(namespace, name, 0)
                if first is None or not first.ids:
                    continue
                record = first.record(0)
                dense = record.values is not None
                metric = self.metric or ("dotproduct" if not dense else None)
                if metric is None:
                    raise UserError(
                        f"{self.url} has no manifest.json, so its metric is unknown: pass --metric "
                        "(cosine, euclidean or dotproduct), or import into an existing index."
                    )
                return IndexShape("dense" if dense else "sparse", metric, record.dimension or None)
        raise UserError(f"{self.url} holds no records in a namespace folder (<root>/<namespace>/<file>).")

    def _count(self, namespace: str) -> int:
        return sum(sum(self._chunk_rows(namespace, name)) for name in self.folders[namespace][1])

    def capabilities(self) -> Capabilities:
        return Capabilities(
            lists_bytewise=False,
            max_list_page=1_000,
            max_fetch_ids=10_000,
            max_write_records=0,
            max_delete_ids=0,
        )

    def _chunk_rows(self, namespace: str, name: str) -> list[int]:
        """Rows per chunk of a file: Parquet row groups, or one chunk for a JSON Lines file."""
        key = (namespace, name)
        with self._lock:
            known = self._rows.get(key)
        if known is None:
            if format_of(name) == "parquet":
                path = f"{self.folders[namespace][0]}/{name}"
                with self.location.open(path) as handle:
                    known = parquet_row_groups(handle, self.location.path(path))
            else:
                chunk = self._chunk(namespace, name, 0)
                known = [0 if chunk is None else len(chunk.ids)]
            with self._lock:
                self._rows[key] = known
        return known

    def _chunk(self, namespace: str, name: str, number: int) -> DecodedChunk | None:
        """Chunk ``number`` of a file, decoded (from the cache when it was read lately)."""
        key = (namespace, name, number)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        path = f"{self.folders[namespace][0]}/{name}"
        where = self.location.path(path)
        with self.location.open(path) as handle:
            if format_of(name) == "parquet":
                groups = self._chunk_rows(namespace, name)
                if number >= len(groups):
                    return None
                decoded = read_parquet(handle, where, number, sum(groups[:number]))
            elif number > 0:
                return None
            else:
                decoded = read_jsonl(handle, where, compressed=name.endswith(".gz"))
        with self._lock:
            self._cache[key] = decoded
            self._cached_rows += len(decoded.ids)
            while self._cached_rows > CACHED_ROWS and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._cached_rows -= len(dropped.ids)
        return decoded

    def _chunk_at(self, namespace: str, name: str, row: int) -> DecodedChunk | None:
        """The chunk of a file that holds ``row`` (None past the end)."""
        first = 0
        for number, rows in enumerate(self._chunk_rows(namespace, name)):
            if row < first + rows:
                return self._chunk(namespace, name, number)
            first += rows
        return None

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        if namespace not in self.folders:
            return IdPage([], None)
        files = self.folders[namespace][1]
        file_number, row = self._position(cursor) if cursor else (0, 0)
        ids: list[str] = []
        while file_number < len(files):
            chunk = self._chunk_at(namespace, files[file_number], row)
            if chunk is None:
                file_number, row = file_number + 1, 0
                continue
            for record_id in chunk.ids[row - chunk.first_row :]:
                if len(ids) == limit:
                    return IdPage(ids, f"{file_number}:{row}")
                row += 1
                if record_id.startswith(prefix):
                    ids.append(record_id)
        return IdPage(ids, None)

    def _position(self, cursor: str) -> tuple[int, int]:
        """A cursor this source gave: ``<file number>:<row>``."""
        try:
            file_number, row = (int(part) for part in cursor.split(":"))
        except ValueError:
            raise UserError(
                f"{cursor!r} is not a listing position of {self.url} (<file number>:<row>): was the ledger "
                "written for another source?"
            ) from None
        return file_number, row

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        if namespace not in self.folders:
            return []
        wanted = set(ids)
        found: dict[str, Record] = {}
        with self._lock:
            recent = [chunk for key, chunk in reversed(self._cache.items()) if key[0] == namespace]
        for chunk in itertools.chain(recent, self.chunks(namespace)):
            for record_id in wanted & chunk.positions.keys():
                found[record_id] = chunk.record(chunk.positions[record_id])
            wanted -= found.keys()
            if not wanted:
                break
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def has_sparse_values(self, namespace: str, name: str) -> bool:
        """Whether a data file has sparse values (a Parquet file: whether it has the column)."""
        path = f"{self.folders[namespace][0]}/{name}"
        if format_of(name) == "parquet":
            with self.location.open(path) as handle:
                return "sparse_values" in parquet_schema_names(handle, self.location.path(path))
        chunk = self._chunk(namespace, name, 0)
        return chunk is not None and any(chunk.record(r).sparse is not None for r in range(len(chunk.ids)))

    def chunks(self, namespace: str) -> Iterator[DecodedChunk]:
        """Every chunk of the namespace in turn (the slow path of fetch, for IDs not read lately)."""
        for name in self.folders[namespace][1]:
            yield from self._file_chunks(namespace, name)

    def request_size(self, record: Record) -> int:
        return approx_bytes(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        raise UserError(f"{self.url} is read here; it cannot be written to.")

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise UserError(f"{self.url} is read here; records cannot be deleted from it.")
