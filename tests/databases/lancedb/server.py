"""LanceDB is embedded: "the server" is a folder. :class:`LanceFolder` makes one (a temporary directory
unless given) and names tables in it by URI; leaving it removes a temporary folder. Nothing runs in the
background, so nothing can be left running."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import quote


class LanceFolder:
    def __init__(self, path: Path | None = None) -> None:
        self._temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="lancedb-")) if path is None else path
        self._numbers = itertools.count()

    def __enter__(self) -> LanceFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def uri(self, table: str, **options: str) -> str:
        """The store URI of ``table`` in this folder, with options."""
        query = "".join(f"&{quote(k)}={quote(v, safe='')}" for k, v in options.items())
        return f"lancedb://{quote(str(self.path))}?table={quote(table, safe='')}{query}"

    def new_name(self, stem: str = "t") -> str:
        """A table name not used before in this folder."""
        return f"{stem}{next(self._numbers)}"
