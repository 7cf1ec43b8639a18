"""An export's folder (local or object storage) as the export workflow asks about it: whether it can be
written, whether it holds an export or other files, and a writer and a reader for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .layout import MANIFEST
from .location import Location
from .source import FileSource
from .target import DEFAULT_ROWS_PER_FILE, FileTarget, check_destination


class ExportFolderAt:
    """The folder at ``url``, to be written as ``file_format`` with ``rows_per_file`` rows per file."""

    def __init__(self, url: str, file_format: str, rows_per_file: int | None = None) -> None:
        self.url = url
        self.file_format = file_format
        self.rows_per_file = rows_per_file
        self.location = Location(url)

    def check_usable(self) -> None:
        check_destination(self.location)

    def holds_export(self) -> bool:
        return bool(self.location.exists(MANIFEST))

    def holds_files(self) -> bool:
        return bool(self.location.files())

    @contextmanager
    def writer(self, staging: Path, *, restart: bool) -> Iterator[FileTarget]:
        rows = self.rows_per_file or DEFAULT_ROWS_PER_FILE
        target = FileTarget(self.url, self.file_format, staging, rows_per_file=rows, restart=restart)
        try:
            yield target
        finally:
            target.close()

    def reader(self) -> FileSource:
        return FileSource(self.url)
