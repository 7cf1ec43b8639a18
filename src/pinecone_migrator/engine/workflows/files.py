"""`export`, `import`, `backup` (an export of everything) and `restore`: migrations with files on one
side. Files to read are opened through the store registry (the request's source names them); an export's
folder comes from the caller (:class:`ExportFolder`), which knows what a folder holds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from ...errors import UserError
from ...statelock import hold
from ...stores.base import Store
from ...stores.registry import Files, open_store
from ..request import MigrationRequest
from ..verify.run import VerifyResult
from .common import Confirm, Displays, MakesListable
from .migrate import MigrateOutcome, VerifyAfter, migrate


class ManifestEntry(Protocol):
    @property
    def digest(self) -> object: ...


class Manifest(Protocol):
    """What an export's manifest.json says: its format and, per namespace, the digest of its records."""

    @property
    def file_format(self) -> str: ...

    @property
    def namespaces(self) -> Mapping[str, ManifestEntry]: ...


class FileRecords(Store, Protocol):
    """Records in files (an export, a backup, a bulk-import tree), read as a store."""

    @property
    def manifest(self) -> Manifest | None: ...

    @property
    def folders(self) -> Mapping[str, object]: ...  # namespace -> its folder and files

    def check_exists(self) -> None: ...

    def check(self, *, digests: bool = False) -> None:
        """Refuse files an import could not read through; ``digests``: also against the manifest."""


OpenFiles = Callable[[str | None], FileRecords]  # the source's files, read with this metric (None: theirs)


class ExportFolder(Protocol):
    """Where an export writes: a local folder or an object-storage prefix
    (:func:`pinecone_migrator.stores.registry.export_folder` opens one)."""

    def check_usable(self) -> None:
        """Refuse a place an export could not write to, before anything is written anywhere."""

    def holds_export(self) -> bool: ...  # a manifest.json

    def holds_files(self) -> bool: ...

    def writer(self, staging: Path, *, restart: bool) -> AbstractContextManager[Store]: ...

    def reader(self) -> Store: ...


def staging_path(request: MigrationRequest) -> Path:
    """Where an export keeps what it has written so far, next to its ledger."""
    ledger = request.ledger_path()
    return ledger.with_name(ledger.name.removesuffix(".sqlite") + ".staging.sqlite")


def export(
    request: MigrationRequest,
    source: Store,
    folder: ExportFolder,
    *,
    verify: VerifyAfter = "off",
    stop: threading.Event | None = None,
    confirm: Confirm | None = None,
    displays: Displays | None = None,
    make_listable: MakesListable | None = None,
    accept_incomplete_sweep: bool = False,
    holder: str = "export",
) -> MigrateOutcome:
    """Write what ``request`` selects of ``source`` into ``folder``, resumably; verification reads the
    written files back. An export never mixes its files with files it did not write."""
    folder.check_usable()
    # From here on files are written (staging, lock, a restart's removals): one process per ledger.
    with hold(request.ledger_path(), holder):
        staging = staging_path(request)
        refuse_foreign_contents(folder, request.target.index, staging, request.restart)
        with folder.writer(staging, restart=request.restart) as target:
            return migrate(
                request,
                source,
                target,
                verify=verify,
                stop=stop,
                confirm=confirm,
                displays=displays,
                make_listable=make_listable,
                accept_incomplete_sweep=accept_incomplete_sweep,
                verify_target=folder.reader,
                holder=holder,
            )


def refuse_foreign_contents(folder: ExportFolder, url: str, staging: Path, restart: bool) -> None:
    """Files an export did not write would be read by an import too: only this ledger's export, a restart
    (which replaces it) or an empty place are accepted."""
    if restart or staging.exists():
        return
    if folder.holds_export():
        raise UserError(
            f"{url} already holds an export (manifest.json) that this ledger did not write. Choose another "
            "--to, pass --restart to replace that export, or pass the --state of the run that wrote it."
        )
    if folder.holds_files():
        raise UserError(f"{url} is not empty: export into a new or empty folder or prefix.")


def import_files(
    request: MigrationRequest,
    target: Store,
    *,
    open_files: OpenFiles | None = None,
    metric: str | None = None,
    digests: bool = False,
    before: Callable[[MigrationRequest, Store, FileRecords], None] | None = None,
    check: Callable[[VerifyResult], list[str]] | None = None,
    verify: VerifyAfter = "off",
    stop: threading.Event | None = None,
    confirm: Confirm | None = None,
    displays: Displays | None = None,
    holder: str = "import",
) -> MigrateOutcome:
    """Upsert the records of the files into ``target``, resumably. The files are read whole before anything
    is written (``digests``: each namespace against its manifest); without a manifest and a ``metric``, an
    existing target's metric is the files'. ``before`` may refuse the run once both sides are open;
    ``check`` adds problems to a verification. ``open_files`` opens the files another way than the store
    registry does with the request's source as their URI."""
    open_files = open_files or registry_files(request)
    source = open_files(metric)
    source.check_exists()
    if metric is None and source.manifest is None and target.exists():
        source = open_files(target.describe().shape.metric)
    source.check(digests=digests)
    if before is not None:
        before(request, target, source)
    return migrate(
        request,
        source,
        target,
        verify=verify,
        stop=stop,
        confirm=confirm,
        displays=displays,
        check=check,
        holder=holder,
    )


def restore(
    request: MigrationRequest,
    target: Store,
    *,
    open_files: OpenFiles | None = None,
    verify: VerifyAfter = "digest",
    stop: threading.Event | None = None,
    confirm: Confirm | None = None,
    displays: Displays | None = None,
    holder: str = "restore",
) -> MigrateOutcome:
    """Restore a backup (files with a manifest) into a new or empty index; verified, the files' digests
    must also equal those the manifest recorded at backup time (the outcome's problems say where not)."""
    open_files = open_files or registry_files(request)
    manifest = open_files(None).manifest
    if manifest is None:
        raise UserError(f"{request.source.index} has no manifest.json: it is not a backup (use import).")

    def against_manifest(result: VerifyResult) -> list[str]:
        problems = []
        for namespace in result.namespaces:
            entry = manifest.namespaces.get(namespace.namespace)
            if entry is not None and namespace.expected_digest not in (None, entry.digest):
                problems.append(
                    f"namespace {namespace.namespace!r}: the backup's files do not hold what its manifest "
                    "recorded when it was written (files changed or damaged since)"
                )
        return problems

    return import_files(
        request,
        target,
        open_files=open_files,
        digests=True,
        before=_refuse_non_empty,
        check=against_manifest,
        verify=verify,
        stop=stop,
        confirm=confirm,
        displays=displays,
        holder=holder,
    )


def registry_files(request: MigrationRequest) -> OpenFiles:
    """The request's source files, opened by the store registry."""

    def open_files(metric: str | None) -> FileRecords:
        return open_store(Files(request.source.index, metric))

    return open_files


def _refuse_non_empty(request: MigrationRequest, target: Store, source: FileRecords) -> None:
    if request.ledger_path().exists() and not request.restart:
        return  # resuming this restore
    if target.exists():
        held = sum(target.describe().namespace_counts.values())
        if held:
            raise UserError(
                f"The index {request.target.index!r} already holds {held:,} records; restore writes into a "
                "new or empty index. Choose another --target-index, or use import to add to this one."
            )
