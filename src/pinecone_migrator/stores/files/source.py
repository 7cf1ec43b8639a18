"""Reading an export (or any tree in Pinecone's bulk-import layout) as a store: import = migrate from it.

IDs are listed file by file, row by row; a cursor is ``<file number>:<row>``. Records are fetched from the
files just listed, which stay decoded in a small cache, so list-then-fetch reads each file once.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import pyarrow.parquet as pq

from ...errors import UserError
from ...records import Record, approx_bytes
from ..base import Capabilities, IdPage, IndexShape, StoreDescription, WriteAck
from .formats import DecodedFile, read_jsonl, read_parquet
from .layout import Manifest, format_of, read_manifest
from .location import Location

CACHED_FILES = 6


class FileSource:
    def __init__(self, url: str, metric: str | None = None) -> None:
        self.url = url
        self.metric = metric  # for a tree without a manifest, which cannot say
        self.location = Location(url)
        self._cache: OrderedDict[tuple[str, str], DecodedFile] = OrderedDict()
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

    def describe(self) -> StoreDescription:
        if self.manifest is not None:
            return self.manifest.description
        return StoreDescription(
            name=self.url,
            shape=self._inferred_shape(),
            namespace_counts={ns: self._count(ns) for ns in self.folders},
            deployment_type="files",
        )

    def _inferred_shape(self) -> IndexShape:
        for namespace, (_, files) in self.folders.items():
            if files:
                first = self._decoded(namespace, files[0])
                if first.ids:
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
        folder, files = self.folders[namespace]
        total = 0
        for name in files:
            if name.endswith(".parquet"):
                with self.location.open(f"{folder}/{name}") as handle:
                    total += pq.ParquetFile(handle).metadata.num_rows
            else:
                total += len(self._decoded(namespace, name).ids)
        return total

    def capabilities(self) -> Capabilities:
        return Capabilities(max_list_page=1_000, max_fetch_ids=10_000, max_write_records=0)

    def _decoded(self, namespace: str, name: str) -> DecodedFile:
        key = (namespace, name)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            folder = self.folders[namespace][0]
            where = self.location.path(f"{folder}/{name}")
            file_format = format_of(name)
            with self.location.open(f"{folder}/{name}") as handle:
                if file_format == "parquet":
                    decoded = read_parquet(handle, where)
                else:
                    decoded = read_jsonl(handle, where, compressed=name.endswith(".gz"))
            self._cache[key] = decoded
            while len(self._cache) > CACHED_FILES:
                self._cache.popitem(last=False)
            return decoded

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        if namespace not in self.folders:
            return IdPage([], None)
        files = self.folders[namespace][1]
        file_number, row = (int(part) for part in cursor.split(":")) if cursor else (0, 0)
        ids: list[str] = []
        while file_number < len(files):
            decoded = self._decoded(namespace, files[file_number])
            while row < len(decoded.ids):
                if len(ids) == limit:
                    return IdPage(ids, f"{file_number}:{row}")
                record_id = decoded.ids[row]
                row += 1
                if record_id.startswith(prefix):
                    ids.append(record_id)
            file_number, row = file_number + 1, 0
        return IdPage(ids, None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        if namespace not in self.folders:
            return []
        wanted = set(ids)
        found: dict[str, Record] = {}
        with self._lock:
            recent = [decoded for key, decoded in reversed(self._cache.items()) if key[0] == namespace]
        for decoded in itertools.chain(recent, self._every_file(namespace)):
            for record_id in wanted & decoded.positions.keys():
                found[record_id] = decoded.record(decoded.positions[record_id])
            wanted -= found.keys()
            if not wanted:
                break
        return [found[i] for i in ids if i in found]

    def _every_file(self, namespace: str) -> Iterator[DecodedFile]:
        """The slow path, for IDs not in a file read lately: every file of the namespace in turn."""
        for name in self.folders[namespace][1]:
            yield self._decoded(namespace, name)

    def request_size(self, record: Record) -> int:
        return approx_bytes(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        raise UserError(f"{self.url} is read here; it cannot be written to.")

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise UserError(f"{self.url} is read here; records cannot be deleted from it.")
