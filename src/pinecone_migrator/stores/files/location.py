"""Where a file store lives: a local folder or an ``s3://``, ``gs://`` or ``az://`` URI, through fsspec.

Credentials and endpoints come from each backend's standard environment variables (``AWS_ENDPOINT_URL``,
``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``, ...), so an emulator and a real bucket are
reached the same way. A file is made visible only complete: objects are uploaded in one put (an object
store shows an object only once its upload has finished), local files are written under a temporary name
and renamed.
"""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ...errors import UserError

REMOTE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")
_PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}


class Location:
    """A folder that holds an export: paths inside it are ``/``-separated names relative to its root."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
        if scheme not in (*REMOTE_SCHEMES, "file"):
            raise UserError(
                f"{url!r}: unsupported storage scheme {scheme!r}; use a local path, file://, s3://, gs:// "
                "or az://."
            )
        try:
            # Listings are cached per instance; another process (an export being resumed, a server
            # importing) may change the bucket, so every location gets a fresh, uncached filesystem.
            self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, use_listings_cache=False)
        except ImportError as error:
            raise UserError(
                f"Storage {scheme}:// needs the Python package {_PACKAGES.get(scheme, '?')} ({error})."
            ) from None
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.root = str(Path(root).resolve()) if self.is_local else root.rstrip("/")

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    def path(self, name: str = "") -> str:
        return posixpath.join(self.root, name) if name else self.root

    def exists(self, name: str = "") -> bool:
        return bool(self.fs.exists(self.path(name)))

    @contextmanager
    def writing(self, name: str, scratch: Path) -> Iterator[Path]:
        """A local path to write ``name`` to; on a clean exit it becomes visible, complete. A local file is
        written beside its final name and renamed; an object is written in ``scratch``, then uploaded."""
        if self.is_local:
            final = Path(self.path(name))
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.parent / f".{uuid.uuid4().hex}.partial"
            try:
                yield temporary
                temporary.replace(final)
            finally:
                temporary.unlink(missing_ok=True)
        else:
            with tempfile.TemporaryDirectory(dir=scratch, prefix=".upload-") as folder:
                local = Path(folder) / posixpath.basename(name)
                yield local
                self.fs.put_file(str(local), self.path(name))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a small file (a manifest) as a whole."""
        final = self.path(name)
        if self.is_local:
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            temporary = Path(posixpath.dirname(final)) / f".{uuid.uuid4().hex}.partial"
            temporary.write_bytes(data)
            temporary.replace(final)
        else:
            self.fs.pipe_file(final, data)

    def read_bytes(self, name: str) -> bytes | None:
        """The whole file, or None when there is none."""
        try:
            data: bytes = self.fs.cat_file(self.path(name))
        except FileNotFoundError:
            return None
        return data

    def open(self, name: str) -> IO[Any]:
        handle: IO[Any] = self.fs.open(self.path(name), "rb")
        return handle

    def files(self, folder: str = "") -> list[str]:
        """Every file under ``folder`` (recursively), as names relative to the root, sorted; partial
        uploads of our own (``.*.partial``) are not files yet."""
        base = self.path(folder)
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        names = []
        for full in found:
            relative = posixpath.relpath(full if self.is_local else full.rstrip("/"), self.root)
            if posixpath.basename(relative).endswith(".partial"):
                continue
            names.append(relative)
        return sorted(names)

    def size(self, name: str) -> int:
        return int(self.fs.size(self.path(name)))

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(name))
