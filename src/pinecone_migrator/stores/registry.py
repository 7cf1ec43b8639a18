"""Open a store from a reference: the one place that knows which class serves which kind of store.

How to open each kind (the class it gives, for readers of code that constructed it directly):

- A Pinecone index (``PineconeStore``)::

      open_store(PineconeIndex("products", "http://127.0.0.1:5080", key_variable="SRC_KEY", side="source"))

  ``host`` is the control-plane URL (None: Pinecone's cloud). The API key is read from the environment
  variable ``key_variable`` when the store is opened, unless the reference carries it (``api_key=``: a key
  found elsewhere, such as a config file's secret). ``side`` makes errors name the command's options
  (``--source-host``, ``--source-api-key-env``); None where there is no such option.
- Files to read: an export, a backup or a folder to import (``FileSource``)::

      open_store(Files("s3://bucket/exports/products", metric="cosine"))

  ``metric`` stands in for a tree without a manifest, which cannot say (None: from the manifest).
- An export to write (``FileTarget``)::

      open_store(FileExport("s3://bucket/exports/products", "parquet", Path("export.staging.sqlite")))

  with ``rows_per_file`` (None: the store's default) and ``restart`` (start the staging again).
- The folder an export writes to, as the export workflow asks about it (``ExportFolderAt``)::

      export_folder("s3://bucket/exports/products", "parquet")

- A table or collection of another vector database, by URI (``PgvectorStore``, ``QdrantStore``,
  ``ChromaStore``, ``MilvusStore``, ``LanceStore``; see :mod:`pinecone_migrator.stores.uri`)::

      open_store(Database(parse("postgresql://app@127.0.0.1:5432/shop?table=items", side="source")))

- A pod-based index made listable by query sweeps (``SweptSource``) is not opened from a reference: it wraps
  a store that cannot list, see :func:`pinecone_migrator.stores.listable.enumerable`.

Adding a kind of store: a frozen reference dataclass here, an opener that imports its module when called
(so that nobody pays for SDKs they do not use), and one entry in ``_OPENERS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ..errors import UserError
from .base import Store
from .uri import KINDS, StoreUri

if TYPE_CHECKING:
    from .files import FileSource, FileTarget
    from .files.export_folder import ExportFolderAt
    from .pinecone.store import PineconeStore

Side = Literal["source", "target"]


@dataclass(frozen=True)
class PineconeIndex:
    """A Pinecone index (or one on a Pinecone-compatible server) by name."""

    name: str
    host: str | None = None  # control-plane URL; None: Pinecone's cloud
    key_variable: str = "PINECONE_API_KEY"
    side: Side | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)  # None: read from key_variable
    transport: str = "rest"  # the data plane over "rest" or "grpc"
    # Client-side pacing under Pinecone's published rate limits: "pinecone", "off", or "auto" (pinecone
    # against Pinecone's cloud, off against any other host).
    rate_limits: str = "auto"
    # Pace at this multiple of the published limits, for a local server that enforces a fraction of them
    # (serve --rate-limit-scale). None: $PINECONE_MIGRATOR_RATE_LIMIT_SCALE, or 1.
    rate_limit_scale: float | None = None

    def key(self) -> str:
        found = self.api_key or os.environ.get(self.key_variable)
        if not found:
            whose = f" for the {self.side}" if self.side else ""
            raise UserError(f"No API key{whose}: set the environment variable {self.key_variable}.")
        return found


@dataclass(frozen=True)
class Files:
    """Files to read at a local path or object-store URL (an export, a backup, a folder to import)."""

    uri: str
    metric: str | None = None  # for a tree without a manifest; None: the manifest says


@dataclass(frozen=True)
class FileExport:
    """An export to write at a local path or object-store URL, staged in a local SQLite file."""

    uri: str
    file_format: str  # "parquet" or "jsonl"
    staging: Path
    rows_per_file: int | None = None  # None: the store's default
    restart: bool = False


@dataclass(frozen=True)
class Database:
    """A table or collection of another vector database, named by a store URI."""

    uri: StoreUri


StoreReference = PineconeIndex | Files | FileExport | Database


def _open_pinecone(reference: PineconeIndex) -> Store:
    from .pinecone.pacing import pacer_for
    from .pinecone.store import PineconeStore, Side

    side = Side(reference.side, reference.key_variable) if reference.side else None
    pacer = pacer_for(reference.rate_limits, reference.host, reference.name, reference.rate_limit_scale)
    return PineconeStore(
        reference.name, reference.key(), reference.host, side=side, transport=reference.transport, pacer=pacer
    )


def split_pacing(store: Store, processes: int) -> None:
    """Copies of ``store`` sent to ``processes`` worker processes (pickled after this call) each pace at
    that fraction of the index's rate limits, so that together they stay under them. Other stores: no-op."""
    from .pinecone.pacing import RatePacer

    pacer = getattr(store, "pacer", None)  # a Pinecone store's
    if isinstance(pacer, RatePacer):
        pacer.split(processes)


def paced_rate(store: Store, operation: str, namespace: str = "") -> float | None:
    """How fast ``store`` lets ``operation`` go now, in its first rate limit's unit per second (list and
    fetch: requests per index); None when nothing paces it (another store, ``--rate-limits off``, reads of
    a dedicated-read-nodes index). For plans such as listing shards, which only pay off below this rate."""
    from .pinecone.pacing import RatePacer

    pacer = getattr(store, "pacer", None)  # a Pinecone store's
    if not isinstance(pacer, RatePacer):
        return None
    rate = pacer.rate(operation, namespace)
    return None if rate == float("inf") else rate


def _open_files(reference: Files) -> Store:
    from .files import FileSource

    return FileSource(reference.uri, reference.metric)


def _open_export(reference: FileExport) -> Store:
    from .files import DEFAULT_ROWS_PER_FILE, FileTarget

    return FileTarget(
        reference.uri,
        reference.file_format,
        reference.staging,
        rows_per_file=reference.rows_per_file or DEFAULT_ROWS_PER_FILE,
        restart=reference.restart,
    )


def _open_database(reference: Database) -> Store:
    """The kind's package (``stores/<kind>/``) opens its URI; it imports its client library lazily."""
    import importlib

    uri = reference.uri
    if uri.scheme not in KINDS:
        raise UserError(f"{uri.flag} {uri.text}: {uri.scheme}:// names no database store.")
    package = importlib.import_module(f"{__package__}.{uri.kind}")
    opened: Store = package.open_uri(uri)
    return opened


_OPENERS: dict[type[Any], Callable[[Any], Store]] = {
    PineconeIndex: _open_pinecone,
    Files: _open_files,
    FileExport: _open_export,
    Database: _open_database,
}


@overload
def open_store(reference: PineconeIndex) -> PineconeStore: ...
@overload
def open_store(reference: Files) -> FileSource: ...
@overload
def open_store(reference: FileExport) -> FileTarget: ...
@overload
def open_store(reference: Database) -> Store: ...
def open_store(reference: StoreReference) -> Store:
    """The store a reference names. An index is not contacted until the store's first call; an export
    opens its staging file at once (and takes up a stopped run's files)."""
    opener = _OPENERS.get(type(reference))
    if opener is None:
        raise TypeError(f"no kind of store is registered for {type(reference).__name__}")
    return opener(reference)


def export_folder(uri: str, file_format: str, rows_per_file: int | None = None) -> ExportFolderAt:
    """The folder at ``uri`` an export writes (``file_format`` "parquet" or "jsonl"): what
    :func:`pinecone_migrator.engine.workflows.export` takes as its ``folder``."""
    from .files.export_folder import ExportFolderAt

    return ExportFolderAt(uri, file_format, rows_per_file)
