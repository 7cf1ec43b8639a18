"""Writing an export as a store: export = migrate to it.

Acknowledged records are staged durably (:mod:`.staging`); every ``rows_per_file`` waiting records of a
namespace become one data file, written locally, then published complete. :meth:`FileTarget.finish` (called
once every namespace is copied) writes the last, shorter files, removes stale copies of rewritten IDs, and
writes the manifest with each namespace's files, count and set digest. Until then the manifest says the
export is incomplete, and an import refuses it.

The files in the tree are the export's own, and only those: temporary files are named after the export's
run token, so a resumed run removes what a killed one left half-written; ``--restart`` removes the earlier
export's files but refuses, before removing anything, a tree that also holds files it did not write
(removing those would lose someone's data, keeping them would leave a tree its manifest does not describe).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...errors import RecordsRejected, UserError
from ...records import Record, approx_bytes
from ..base import Capabilities, IdPage, StoreDescription, WriteAck
from ..fidelity import FILES, Room
from .formats import StagedRow, write_rows
from .layout import (
    FOLDER_NAMING,
    FORMATS,
    MANIFEST,
    Manifest,
    NamespaceEntry,
    folder_of,
    read_manifest,
    write_manifest,
)
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
        self.naming = _folder_naming(self.location)
        self._emitting = threading.Lock()
        self._dense = True
        self._dimension: int | None = None  # known once created or described; records must have it
        self._reader: FileSource | None = None
        remove_leftovers(self.location, staging_path, self.staging.run_token)
        self._recover()

    @property
    def tag(self) -> str:
        """Marks this export's temporary files (see :func:`remove_leftovers`)."""
        return self.staging.run_token

    def folder(self, namespace: str) -> str:
        return folder_of(namespace, self.naming)

    def _recover(self) -> None:
        """Claims of a run that died: published files are committed, unpublished ones claimed again."""
        for namespace, name in self.staging.pending():
            if self.location.exists(f"{self.folder(namespace)}/{name}"):
                self.staging.commit(namespace, name, self.staging.plan(namespace, name))
            else:
                self.staging.release(namespace, name)

    def close(self) -> None:
        self.staging.close()

    def exists(self) -> bool:
        return self.location.exists(MANIFEST)

    def room(self) -> Room:
        """Files hold Pinecone's records without Pinecone's limits."""
        return FILES

    def describe(self) -> StoreDescription:
        manifest = read_manifest(self.location)
        if manifest is None:
            raise UserError(f"{self.url} holds no export (no {MANIFEST}): check the path, or export to it.")
        self._dense = manifest.description.shape.dimension is not None
        self._dimension = manifest.description.shape.dimension
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
        self._dimension = source.shape.dimension
        manifest = Manifest(self.file_format, source, folder_naming=self.naming)
        write_manifest(self.location, manifest, self.tag)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            lists_bytewise=False,
            max_write_records=1_000,
            max_write_bytes=32_000_000,
            max_delete_ids=0,
            max_list_page=1_000,
        )

    def request_size(self, record: Record) -> int:
        return approx_bytes(record) + 64

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        # Written, a misfit would make an export that Pinecone's import refuses; refused, it is a dead letter.
        expected = self._dimension
        for record in records:
            if expected is not None and record.values is not None and record.dimension != expected:
                reason = f"record {record.id!r} has dimension {record.dimension}, the export {expected}"
                raise RecordsRejected("export", reason)
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
        path = f"{self.folder(namespace)}/{name}"
        with self.location.writing(path, self.staging.path.parent, self.tag) as local:
            write_rows(chunks, local, self.file_format, dense=self._dense, sparse=sparse)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        raise UserError(f"{self.url} is an export: records cannot be deleted from it.")

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
                folder=self.folder(namespace),
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
        write_manifest(self.location, manifest, self.tag)

    def _drop_stale(self, namespace: str, name: str) -> None:
        """Rewrite one file without the rows whose current copy is in a later file."""
        keep = self.staging.held_by(namespace, name)
        path = f"{self.folder(namespace)}/{name}"
        reader = FileSource(self.url)
        reader.folders = {namespace: (self.folder(namespace), [name])}
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


def check_destination(location: Location) -> None:
    """Refuse, before anything is written anywhere, a place an export could not write to."""
    if location.is_local:
        _check_local_folder(Path(location.root), location.url)
        return
    bucket = location.root.split("/", 1)[0]
    try:
        with location.remote_errors():
            location.fs.ls(bucket)  # an authenticated call: no credentials, no access or no bucket fail here
    except FileNotFoundError:
        raise UserError(
            f"{location.url}: the bucket or container {bucket!r} does not exist (or these credentials cannot "
            "see it): create it first, or check the name and the credentials."
        ) from None


def _check_local_folder(root: Path, url: str) -> None:
    if root.exists() and not root.is_dir():
        raise UserError(f"{url} is a file: give a folder (new or empty) for the export.")
    folder = root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{url} cannot be created: {folder} is a file. Give a folder path.")
    try:
        tempfile.TemporaryFile(dir=folder).close()  # tried for real: permission bits say nothing to root
    except OSError as error:
        raise UserError(
            f"{url} cannot be written: {folder} does not accept new files ({error.strerror}). Choose "
            "another --to, or fix that folder's permissions."
        ) from None


def _folder_naming(location: Location) -> int:
    """How this export names escaped folders: as its manifest says (an export begun by an older version
    goes on as it began), or the current way for a new one."""
    try:
        manifest = read_manifest(location)
    except UserError:
        manifest = None
    return FOLDER_NAMING if manifest is None else manifest.folder_naming


def remove_leftovers(location: Location, staging_path: Path, tag: str) -> None:
    """Temporary files a killed run of this export left: half-written files in the tree, upload folders
    beside the staging file. Only names carrying this export's run token are touched."""
    if not tag:
        return
    for name in location.partials(tag) if location.is_local else []:
        location.remove(name)
        log.info("removed %s, left half-written by an earlier run of this export", location.path(name))
    for folder in staging_path.parent.glob(f".{tag}-upload-*"):
        shutil.rmtree(folder, ignore_errors=True)


def discard_export(staging_path: Path, location: Location) -> None:
    """Forget an earlier export to this place (``--restart``): its files, its manifest, its staging table.

    Refused, before anything is removed, when the tree holds files that are neither listed in the earlier
    export's manifest nor known to its staging table (see the module)."""
    doomed: set[str] = {MANIFEST}
    tag = ""
    try:
        manifest = read_manifest(location)
    except UserError:
        manifest = None
    if manifest is not None:
        doomed.update(f"{e.folder}/{name}" for e in manifest.namespaces.values() for name in e.files)
    naming = FOLDER_NAMING if manifest is None else manifest.folder_naming
    if staging_path.exists():
        staging = Staging(staging_path, {"format": "?"}, forget=True)
        try:
            doomed.update(f"{folder_of(ns, naming)}/{name}" for ns, name in staging.known_files())
            tag = staging.run_token
        finally:
            staging.close()
    refuse_foreign_files(location, doomed)
    remove_leftovers(location, staging_path, tag)
    for name in sorted(doomed):
        location.remove(name)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{staging_path}{suffix}").unlink(missing_ok=True)


def refuse_foreign_files(location: Location, own: set[str]) -> None:
    foreign = [name for name in location.files() if name not in own]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5:,} more" if len(foreign) > 5 else "")
        raise UserError(
            f"--restart: {location.url} holds {len(foreign):,} file(s) this export did not write ({shown}); "
            "nothing was removed. Move them elsewhere, or export to another --to."
        )
