"""Writing an export as a store: export = migrate to it.

Acknowledged records are staged durably (:mod:`.staging`); every ``rows_per_file`` waiting records of a
namespace become one data file, written locally, then published complete. :meth:`FileTarget.finish` (called
once every namespace is copied) writes the last, shorter files, removes stale copies of rewritten IDs, and
writes the manifest with each namespace's files, count and set digest. Until then the manifest says the
export is incomplete, and an import refuses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...records import Record, approx_bytes
from ..base import Capabilities, IdPage, StoreDescription, WriteAck
from .formats import StagedRow, write_rows
from .layout import FORMATS, MANIFEST, Manifest, NamespaceEntry, folder_of, read_manifest, write_manifest
from .location import Location
from .source import FileSource
from .staging import Claim, Staging

log = logging.getLogger("pinecone_migrator.files")

DEFAULT_ROWS_PER_FILE = 10_000
FINISH_WRITERS = 4


class FileTarget:
    def __init__(
        self,
        url: str,
        file_format: str,
        staging_path: Path,
        *,
        rows_per_file: int = DEFAULT_ROWS_PER_FILE,
        restart: bool = False,
    ) -> None:
        if file_format not in FORMATS:
            raise ValueError(f"unknown file format {file_format!r}")
        self.url = url
        self.file_format = file_format
        self.rows_per_file = rows_per_file
        self.location = Location(url)
        identity = {"target": url, "format": file_format, "rows_per_file": rows_per_file}
        if restart:
            discard_export(staging_path, self.location)
        self.staging = Staging(staging_path, identity)
        self._emitting = threading.Lock()
        self._dense = True
        self._reader: FileSource | None = None
        self._recover()

    def _recover(self) -> None:
        """Claims of a run that died: published files are committed, unpublished ones claimed again."""
        for namespace, name in self.staging.pending():
            if self.location.exists(f"{folder_of(namespace)}/{name}"):
                self.staging.commit(namespace, name, self.staging.plan(namespace, name))
            else:
                self.staging.release(namespace, name)

    def close(self) -> None:
        self.staging.close()

    def exists(self) -> bool:
        return self.location.exists(MANIFEST)

    def describe(self) -> StoreDescription:
        manifest = read_manifest(self.location)
        if manifest is None:
            raise FileNotFoundError(self.location.path(MANIFEST))
        self._dense = manifest.description.shape.dimension is not None
        return manifest.description

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        """An export starts with a manifest that says it is incomplete and describes the source."""
        self._dense = source.shape.dimension is not None
        write_manifest(self.location, Manifest(self.file_format, source))

    def capabilities(self) -> Capabilities:
        return Capabilities(max_write_records=1_000, max_write_bytes=32_000_000, max_list_page=1_000)

    def request_size(self, record: Record) -> int:
        return approx_bytes(record) + 64

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        self.staging.stage(namespace, records)
        # One file at a time: the thread that finds a full file's worth waiting writes it (back-pressure
        # for the copy), the others go on staging.
        if self._emitting.acquire(blocking=False):
            try:
                while self.staging.waiting(namespace) >= self.rows_per_file:
                    claim = self.staging.claim(namespace, self.rows_per_file)
                    if claim is None:
                        break
                    self._publish(claim)
            finally:
                self._emitting.release()
        return WriteAck(len(records))

    def _publish_waiting(self, namespace: str) -> None:
        while (claim := self.staging.claim(namespace, self.rows_per_file)) is not None:
            self._publish(claim)

    def _publish(self, claim: Claim) -> None:
        plan = self.staging.plan(claim.namespace, claim.name)
        if plan.ids:
            try:
                chunks = self.staging.planned_rows(claim, plan)
                self._write_file(claim.namespace, claim.name, chunks, claim.sparse)
            except BaseException:
                self.staging.release(claim.namespace, claim.name)
                raise
        self.staging.commit(claim.namespace, claim.name, plan)

    def _write_file(
        self, namespace: str, name: str, chunks: Iterable[Sequence[StagedRow]], sparse: bool
    ) -> None:
        with self.location.writing(f"{folder_of(namespace)}/{name}", self.staging.path.parent) as local:
            write_rows(chunks, local, self.file_format, dense=self._dense, sparse=sparse)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise NotImplementedError("deleting records from an export is not supported")

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        return self.reader().list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        return self.reader().fetch(namespace, ids)

    def reader(self) -> FileSource:
        """The finished export, for reading back (one reader, so decoded rows are reused between calls;
        before :meth:`finish` it refuses, as the manifest says the export is incomplete)."""
        if self._reader is None:
            self._reader = FileSource(self.url)
        return self._reader

    def finish(self) -> None:
        """Write what still waits, drop stale copies, and mark the export complete in its manifest."""
        self._reader = None  # the files change
        with self._emitting:
            # The last files of every namespace are written side by side (pyarrow and gzip release the GIL).
            with ThreadPoolExecutor(max_workers=FINISH_WRITERS, thread_name_prefix="finish") as pool:
                list(pool.map(self._publish_waiting, self.staging.namespaces_waiting()))
            for namespace, name in self.staging.stale_files():
                self._drop_stale(namespace, name)
        manifest = read_manifest(self.location)
        if manifest is None:
            raise FileNotFoundError(self.location.path(MANIFEST))
        manifest.namespaces = {
            namespace: NamespaceEntry(
                folder=folder_of(namespace),
                files=totals.files,
                records=totals.digest.count,
                digest=totals.digest,
            )
            for namespace, totals in self.staging.totals().items()
        }
        manifest.description = StoreDescription(
            **{
                **vars(manifest.description),
                "namespace_counts": {ns: e.records for ns, e in manifest.namespaces.items()},
            }
        )
        manifest.complete = True
        write_manifest(self.location, manifest)

    def _drop_stale(self, namespace: str, name: str) -> None:
        """Rewrite one file without the rows whose current copy is in a later file."""
        keep = self.staging.held_by(namespace, name)
        path = f"{folder_of(namespace)}/{name}"
        reader = FileSource(self.url)
        reader.folders = {namespace: (folder_of(namespace), [name])}
        if keep:
            sparse = reader.has_sparse_values(namespace, name)
            chunks = (
                [StagedRow.of(chunk.record(row)) for row, i in enumerate(chunk.ids) if i in keep]
                for chunk in reader.chunks(namespace)
            )
            self._write_file(namespace, name, chunks, sparse)
        else:
            self.location.remove(path)
        self.staging.rewritten(namespace, name, len(keep))
        log.info("rewrote %s without its stale rows (%d left)", path, len(keep))


def discard_export(staging_path: Path, location: Location) -> None:
    """Forget an earlier export to this place (``--restart``): its files, its manifest, its staging table."""
    doomed: set[str] = set()
    try:
        manifest = read_manifest(location)
    except UserError:
        manifest = None
    if manifest is not None:
        doomed.update(f"{e.folder}/{name}" for e in manifest.namespaces.values() for name in e.files)
    if staging_path.exists():
        staging = Staging(staging_path, {"format": "?"}, forget=True)
        try:
            doomed.update(f"{folder_of(namespace)}/{name}" for namespace, name in staging.known_files())
        finally:
            staging.close()
    for name in sorted(doomed):
        location.remove(name)
    location.remove(MANIFEST)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{staging_path}{suffix}").unlink(missing_ok=True)
