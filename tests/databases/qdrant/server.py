"""Qdrant for the tests and the benchmark: qdrant-client's local mode in a folder.

No Qdrant server can be installed here from the package registries (PyPI, npm and Debian ship clients, and
qdrant-edge-py, Qdrant's engine as a library without a server), so the real database under test is
qdrant-client's local mode: the same client API, storage in a folder. :class:`QdrantFolder` makes one (a
temporary directory unless given), names collections in it by URI, and on leaving closes this process's
client of it and removes a temporary folder. Nothing runs in the background.

Local mode commits each point to SQLite on its own, so on a disk a write costs a sync per point (about 5 ms
here); a temporary folder is made in memory (/dev/shm) where the machine has one, which the tests can afford
to lose.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote


class QdrantFolder:
    def __init__(self, path: Path | None = None) -> None:
        self._temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="qdrant-", dir=_in_memory())) if path is None else path
        self._numbers = itertools.count()

    def __enter__(self) -> QdrantFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def release(self) -> None:
        """Unlock the folder for another process (a CLI run); stores of this process reopen it when used."""
        from pinecone_migrator.stores.qdrant.connection import release_folder

        release_folder(self.path)

    def stop(self) -> None:
        self.release()
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def uri(self, collection: str, **options: str) -> str:
        """The store URI of ``collection`` in this folder, with options."""
        query = "".join(f"&{quote(k)}={quote(v, safe='')}" for k, v in options.items())
        return f"qdrant://{quote(str(self.path))}?collection={quote(collection, safe='')}{query}"

    def new_name(self, stem: str = "c") -> str:
        """A collection name not used before in this folder."""
        return f"{stem}{next(self._numbers)}"


def _in_memory() -> str | None:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
