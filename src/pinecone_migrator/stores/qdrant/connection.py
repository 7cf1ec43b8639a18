"""Clients of a Qdrant server or of a local-mode folder, and Qdrant's failures said in the library's terms.

A local-mode folder is held by one client per process: qdrant-client locks the folder (a second client, in
this process or another, is refused) and loads every collection in it into memory. So every store of one
folder in a process shares one client, and calls to it take turns (its collections are plain Python
objects, not safe to change from several threads at once). A server client is the store's own, used from
many threads at once (its HTTP pool is thread safe).
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ...errors import MigratorError, RecordsRejected, RemoteError, UserError
from .settings import GRPC_PORT, QdrantSettings

T = TypeVar("T")
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class _Shared:
    client: QdrantClient
    turn: threading.RLock = field(default_factory=threading.RLock)
    users: int = 0


_folders: dict[Path, _Shared] = {}
_folders_lock = threading.Lock()


class Connection:
    """How a store reaches its collection's Qdrant: opened on the first call, closed by :meth:`close`."""

    def __init__(self, settings: QdrantSettings) -> None:
        self.settings = settings
        self._client: QdrantClient | None = None
        self._shared: _Shared | None = None
        self._opening = threading.Lock()

    def folder_exists(self) -> bool:
        """Whether a local-mode folder holds Qdrant data at all (asked before opening it, which would create
        it: reading must not create anything)."""
        folder = self.settings.folder
        return folder is None or (folder / "meta.json").is_file()

    def call(self, operation: str, work: Callable[[QdrantClient], T]) -> T:
        """``work`` done with the client, Qdrant's failures raised as the library's errors."""
        with self._turn() as client:
            try:
                return work(client)
            except MigratorError:
                raise
            except Exception as error:  # the client raises many kinds; each is classified once, here
                raise failure(self.settings, operation, error) from None

    @contextmanager
    def _turn(self) -> Iterator[QdrantClient]:
        if self.settings.folder is None:
            yield self._server_client()
            return
        shared = self._folder_client()
        with shared.turn:
            yield shared.client

    def _server_client(self) -> QdrantClient:
        with self._opening:
            if self._client is None:
                settings = self.settings
                with warnings.catch_warnings():  # a key over plain HTTP: the URI said https=false
                    warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
                    self._client = QdrantClient(
                        host=settings.host,
                        port=settings.port,
                        grpc_port=GRPC_PORT,
                        prefer_grpc=settings.grpc,
                        https=settings.https,
                        api_key=settings.api_key(),
                        timeout=60,
                        check_compatibility=False,  # a request of its own, and a warning where it fails
                    )
            return self._client

    def _folder_client(self) -> _Shared:
        with self._opening:
            folder = self.settings.folder
            assert folder is not None
            with _folders_lock:
                if self._shared is not None and _folders.get(folder) is self._shared:
                    return self._shared
                shared = _folders.get(folder)
                if shared is None:
                    shared = _Shared(_open_folder(self.settings, folder))
                    _folders[folder] = shared
                shared.users += 1
            self._shared = shared
            return shared

    def close(self) -> None:
        """Let go of the client (a local-mode folder is unlocked once no store of this process uses it)."""
        with self._opening:
            if self._client is not None:
                self._client.close()
                self._client = None
            shared, self._shared = self._shared, None
        if shared is None:
            return
        with _folders_lock:
            shared.users -= 1
            if shared.users == 0:
                folder = self.settings.folder
                if folder is not None and _folders.get(folder) is shared:
                    del _folders[folder]
                with shared.turn:
                    shared.client.close()


def release_folder(folder: Path) -> None:
    """Close this process's client of a local-mode folder, unlocking it for another process (a store that
    used it opens it again on its next call)."""
    with _folders_lock:
        shared = _folders.pop(folder.resolve(), None)
    if shared is not None:
        with shared.turn:
            shared.client.close()


@atexit.register
def _release_every_folder() -> None:
    """Close the folders' clients while the interpreter can still run their close (left to garbage
    collection at exit, each prints a traceback)."""
    for folder in list(_folders):
        release_folder(folder)


def _open_folder(settings: QdrantSettings, folder: Path) -> QdrantClient:
    try:
        return QdrantClient(path=str(folder))
    except RuntimeError as error:
        if "already accessed" in str(error):
            raise settings.uri.problem(
                f"the local-mode folder {folder} is open in another process (qdrant-client's local mode "
                "lets one process at a time use a folder): stop that process, or serve the data with a "
                "Qdrant server."
            ) from None
        raise
    except OSError as error:
        raise settings.uri.problem(f"cannot open the local-mode folder {folder}: {error.strerror}.") from None


def failure(settings: QdrantSettings, operation: str, error: Exception) -> MigratorError:
    """One of the library's errors for a failure of Qdrant's client."""
    where = settings.location
    if isinstance(error, UnexpectedResponse):
        status = error.status_code
        text = _reason(error)
        if status in (401, 403):
            return _refused_key(settings, status)
        if status in _RETRYABLE_STATUS:
            return RemoteError(operation, f"{where}: [{status}] {text}", status=status, retryable=True)
        if status == 400 and operation == "upsert":
            return RecordsRejected(operation, f"[400] {text}", 400)
        return RemoteError(operation, f"{where}: [{status}] {text}", status=status, retryable=False)
    if isinstance(error, (ResponseHandlingException, ConnectionError, TimeoutError)):
        return RemoteError(operation, f"{where} did not answer: {_root(error)}", retryable=True)
    grpc_failure = _grpc_failure(settings, operation, error)
    if grpc_failure is not None:
        return grpc_failure
    if isinstance(error, ValueError) and operation == "upsert":  # local mode refuses a point so
        return RecordsRejected(operation, str(error))
    if isinstance(error, (ValueError, RuntimeError)):
        return RemoteError(operation, f"{where}: {error}", retryable=False)
    return RemoteError(operation, f"{where}: {type(error).__name__}: {error}", retryable=False)


def _refused_key(settings: QdrantSettings, status: int) -> UserError:
    if settings.api_key_env:
        return settings.uri.problem(
            f"Qdrant refused the API key in {settings.api_key_env} [{status}]: set it to a key of this "
            "server."
        )
    return settings.uri.problem(
        f"Qdrant asks for an API key [{status}]: put it in an environment variable and name it with "
        "?api_key_env=VAR."
    )


def _grpc_failure(settings: QdrantSettings, operation: str, error: Exception) -> MigratorError | None:
    code = getattr(error, "code", None)
    if not callable(code) or type(error).__module__.split(".")[0] != "grpc":
        return None
    name = getattr(code(), "name", "")
    details = getattr(error, "details", lambda: "")() or ""
    if name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return _refused_key(settings, 401 if name == "UNAUTHENTICATED" else 403)
    if name == "INVALID_ARGUMENT" and operation == "upsert":
        return RecordsRejected(operation, details)
    retryable = name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL")
    return RemoteError(operation, f"{settings.location}: {name} {details}", retryable=retryable)


def _reason(error: UnexpectedResponse) -> str:
    content: Any = error.content
    try:
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    except Exception:
        text = ""
    return (text or error.reason_phrase or "").strip()[:500]


def _root(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error) or type(error).__name__
