"""Where a file store lives: a local folder or an ``s3://``, ``gs://`` or ``az://`` URI, through fsspec.

Credentials and endpoints come from each backend's standard environment variables (``AWS_ENDPOINT_URL``,
``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``, ...), so an emulator and a real bucket are
reached the same way. A file is made visible only complete: objects are uploaded in one put (an object
store shows an object only once its upload has finished), local files are written under a temporary name
and renamed.

Every name read through a location stays inside its root: a name is ``/``-separated components, none empty,
``.`` or ``..``, and a local name must not resolve (through a symlink) to a place outside the root. A
remote call that fails for want of credentials, permission or a bucket becomes a :class:`UserError` that
says which, and what to set, without the error's own text (which may carry a signed URL).
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
_CREDENTIALS_HELP = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run "
    "`gcloud auth application-default login`",
    "az": "set AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME with a key or SAS token)",
}
# Exception class names (from botocore, google-auth, azure-core) that mean "no usable credentials";
# matched by name so that no cloud SDK is imported here.
_CREDENTIAL_ERRORS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "DefaultCredentialsError",
    "RefreshError",
    "ClientAuthenticationError",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
}
PARTIAL_SUFFIX = ".partial"


class OutsideTree(UserError):
    """A name that would lead out of the location's root."""


def single_component(name: object) -> bool:
    """Whether ``name`` is one path component: a file or folder name directly inside its parent."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(character in name for character in "/\\\0")
    )


class Location:
    """A folder that holds an export: paths inside it are ``/``-separated names relative to its root."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
        self.scheme = {"gcs": "gs", "abfs": "az", "abfss": "az"}.get(scheme, scheme)
        if scheme not in (*REMOTE_SCHEMES, "file"):
            raise UserError(
                f"{url!r}: unsupported storage scheme {scheme!r}; use a local path, file://, s3://, gs:// "
                "or az://."
            )
        try:
            # Listings are cached per instance; another process (an export being resumed, a server
            # importing) may change the bucket, so every location gets a fresh, uncached filesystem.
            with self.remote_errors():
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

    @contextmanager
    def remote_errors(self) -> Iterator[None]:
        """Missing credentials, a refused permission or a missing bucket, said as such (exit 2)."""
        try:
            yield
        except UserError:
            raise
        except Exception as error:
            names = {kind.__name__ for kind in type(error).__mro__}
            if self.scheme == "file" and not names & _CREDENTIAL_ERRORS:
                raise
            problem = self._remote_problem(error, names)
            if problem is None:
                raise
            raise UserError(f"{self.url}: {problem}") from None

    def _remote_problem(self, error: Exception, names: set[str]) -> str | None:
        help_text = _CREDENTIALS_HELP.get(self.scheme, "set the storage's credentials")
        if names & _CREDENTIAL_ERRORS or (
            self.scheme == "az" and isinstance(error, ValueError) and "credential" in str(error).lower()
        ):
            return f"no usable credentials for {self.scheme}:// ({type(error).__name__}): {help_text}."
        if isinstance(error, PermissionError):
            return (
                f"access denied ({type(error).__name__}): the credentials found may not read or write "
                f"here; check them ({help_text}) and the bucket's permissions."
            )
        return None

    def contained(self, name: str) -> str:
        """The full path of ``name``, refused when it would lead out of the root."""
        parts = name.split("/")
        if not all(single_component(part) for part in parts):
            raise OutsideTree(
                f"{name!r} is not a path inside {self.url} (it is absolute, or has an empty, '.' or '..' "
                "part): refusing to read outside the tree. Check the manifest.json or the folder names."
            )
        full = self.path(name)
        if self.is_local:
            resolved = Path(full).resolve()
            if resolved != Path(self.root) and not resolved.is_relative_to(self.root):
                raise OutsideTree(
                    f"{full} leads out of {self.root} (through a symbolic link, to {resolved}): refusing to "
                    "read outside the tree. Copy the files into the tree instead of linking them."
                )
        return full

    def exists(self, name: str = "") -> bool:
        with self.remote_errors():
            return bool(self.fs.exists(self.contained(name) if name else self.root))

    def is_file(self) -> bool:
        """Whether the root itself is a file (then it cannot hold an export)."""
        with self.remote_errors():
            return bool(self.fs.isfile(self.root))

    @contextmanager
    def writing(self, name: str, scratch: Path, tag: str = "") -> Iterator[Path]:
        """A local path to write ``name`` to; on a clean exit it becomes visible, complete. A local file is
        written beside its final name and renamed; an object is written in ``scratch``, then uploaded.
        ``tag`` marks the temporary names, so that a later run can find its own leftovers
        (:meth:`remove_partials`)."""
        if self.is_local:
            final = Path(self.path(name))
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.parent / partial_name(tag)
            try:
                yield temporary
                temporary.replace(final)
            finally:
                temporary.unlink(missing_ok=True)
        else:
            prefix = f".{tag}-upload-" if tag else ".upload-"
            with tempfile.TemporaryDirectory(dir=scratch, prefix=prefix) as folder:
                local = Path(folder) / posixpath.basename(name)
                yield local
                with self.remote_errors():
                    self.fs.put_file(str(local), self.path(name))

    def write_bytes(self, name: str, data: bytes, tag: str = "") -> None:
        """Write a small file (a manifest) as a whole."""
        final = self.path(name)
        if self.is_local:
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            temporary = Path(posixpath.dirname(final)) / partial_name(tag)
            try:
                temporary.write_bytes(data)
                temporary.replace(final)
            finally:
                temporary.unlink(missing_ok=True)
        else:
            with self.remote_errors():
                self.fs.pipe_file(final, data)

    def read_bytes(self, name: str) -> bytes | None:
        """The whole file, or None when there is none."""
        try:
            with self.remote_errors():
                data: bytes = self.fs.cat_file(self.contained(name))
        except FileNotFoundError:
            return None
        return data

    def open(self, name: str) -> IO[Any]:
        with self.remote_errors():
            handle: IO[Any] = self.fs.open(self.contained(name), "rb")
        return handle

    def files(self, folder: str = "") -> list[str]:
        """Every file under ``folder`` (recursively), as names relative to the root, sorted; partial
        uploads of our own (``.*.partial``) are not files yet. A local symbolic link that leads out of
        the root is refused (:class:`OutsideTree`)."""
        names = []
        for relative in self._all_files(folder):
            if posixpath.basename(relative).endswith(PARTIAL_SUFFIX):
                continue
            if self.is_local:
                self.contained(relative)
            names.append(relative)
        return sorted(names)

    def _all_files(self, folder: str) -> list[str]:
        base = self.contained(folder) if folder else self.root
        with self.remote_errors():
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        return [posixpath.relpath(full if self.is_local else full.rstrip("/"), self.root) for full in found]

    def partials(self, tag: str) -> list[str]:
        """The temporary files a writer with this ``tag`` left behind (a run killed while writing)."""
        mark = partial_name(tag, "")
        return sorted(name for name in self._all_files("") if posixpath.basename(name).startswith(mark))

    def size(self, name: str) -> int:
        with self.remote_errors():
            return int(self.fs.size(self.contained(name)))

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError), self.remote_errors():
            self.fs.rm_file(self.path(name))


def partial_name(tag: str, unique: str | None = None) -> str:
    """``.<tag>-<unique>.partial`` (or ``.<unique>.partial`` untagged); with ``unique=""``, the prefix that
    every temporary name of ``tag`` starts with."""
    unique = uuid.uuid4().hex if unique is None else unique
    if unique == "":
        return f".{tag}-"
    return f".{tag}-{unique}{PARTIAL_SUFFIX}" if tag else f".{unique}{PARTIAL_SUFFIX}"
