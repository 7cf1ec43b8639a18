"""The layout of an export: one folder per namespace, data files that sort in write order, and a manifest.

``<root>/manifest.json`` describes the source index (so an import can create a target like it), and per
namespace its folder, files, record count and set digest (so verify can compare without reading Pinecone).
A namespace whose name cannot be a folder name is escaped, and only the manifest maps the folder back;
Pinecone's bulk import, which takes folder names as namespace names, cannot express such a namespace.

The escaping is one-to-one: an escaped folder starts with ``%`` and no name is kept as it is when it starts
with ``%``, so ``a/b`` (folder ``%a%2Fb``) and ``%a%2Fb`` (folder ``%%25a%252Fb``) never share a folder.
Exports written before ``folder_naming`` 2 kept a leading ``%`` as it was; they are read through the
folders their manifest names, as every export is.

A manifest is data from outside: every folder and file it names must be one path component (no ``..``, no
``/``, not absolute), two namespaces may not share a folder, and a file must be a data file; otherwise
reading it is refused (:class:`UnsafeManifest`) before anything is read from the paths it names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from ... import __version__
from ...errors import UserError
from ...records import SetDigest
from ..base import IndexShape, StoreDescription
from .location import Location, OutsideTree, single_component

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
FOLDER_NAMING = 2  # 1: a namespace starting with '%' kept its name (and could meet an escaped one)
FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl.gz"}


def folder_of(namespace: str, naming: int = FOLDER_NAMING) -> str:
    """The folder a namespace's files go in: the name itself where a folder can carry it unambiguously."""
    escape = namespace.startswith((".", "%") if naming >= 2 else ".")
    if escape or not single_component(namespace):
        return "%" + quote(namespace, safe="").replace(".", "%2E")
    return namespace


class UnsafeManifest(OutsideTree):
    """A manifest that names a path outside its tree, or two namespaces in one folder."""


def bulk_import_problem(namespace: str, folder: str) -> str | None:
    """Why Pinecone's bulk import could not recreate this namespace from this folder, if it could not."""
    if folder != namespace:
        return (
            f"namespace {namespace!r} is stored in folder {folder!r} because its name cannot be a folder "
            "name; Pinecone's bulk import would name the namespace after the folder. Use a client-side "
            "import (without --bulk), or --namespace-map to a name without '/', or a leading '.'."
        )
    return None


def data_file_name(sequence: int, run_token: str, file_format: str) -> str:
    """Zero-padded so names sort in write order; the run token keeps two writers from colliding."""
    return f"part-{sequence:08d}-{run_token}{FORMATS[file_format]}"


def format_of(name: str) -> str | None:
    for file_format, suffix in FORMATS.items():
        if name.endswith(suffix):
            return file_format
    if name.endswith(".jsonl"):
        return "jsonl"
    return None


@dataclass
class NamespaceEntry:
    folder: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    digest: SetDigest = field(default_factory=SetDigest)


@dataclass
class Manifest:
    """What ``manifest.json`` holds; ``complete`` is False while an export is still writing."""

    file_format: str
    description: StoreDescription
    namespaces: dict[str, NamespaceEntry] = field(default_factory=dict)
    complete: bool = False
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat())
    tool_version: str = __version__
    folder_naming: int = FOLDER_NAMING

    def folder_of(self, namespace: str) -> str:
        """The folder of a namespace of this export: as recorded, or as this export names new ones."""
        entry = self.namespaces.get(namespace)
        return entry.folder if entry is not None else folder_of(namespace, self.folder_naming)

    def to_json(self) -> dict[str, Any]:
        source = self.description
        return {
            "manifest_format": MANIFEST_FORMAT,
            "tool": "pinecone-migrator",
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "complete": self.complete,
            "format": self.file_format,
            "folder_naming": self.folder_naming,
            "source": {
                "name": source.name,
                "vector_type": source.shape.vector_type,
                "metric": source.shape.metric,
                "dimension": source.shape.dimension,
                "cloud": source.cloud,
                "region": source.region,
                "tags": source.tags,
                "deployment_type": source.deployment_type,
                "embed": source.embed,  # an integrated index's model: a restore creates the index for it
            },
            "namespaces": {
                name: {
                    "folder": entry.folder,
                    "files": entry.files,
                    "records": entry.records,
                    "digest": entry.digest.to_json(),
                }
                for name, entry in sorted(self.namespaces.items())
            },
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str) -> Manifest:
        try:
            source = obj["source"]
            description = StoreDescription(
                name=source["name"],
                shape=IndexShape(source["vector_type"], source["metric"], source["dimension"]),
                namespace_counts={name: int(entry["records"]) for name, entry in obj["namespaces"].items()},
                cloud=source.get("cloud"),
                region=source.get("region"),
                tags=dict(source.get("tags") or {}),
                deployment_type=source.get("deployment_type") or "managed",
                embed=source.get("embed"),
            )
            namespaces = {
                name: NamespaceEntry(
                    folder=entry["folder"],
                    files=list(entry["files"]),
                    records=int(entry["records"]),
                    digest=SetDigest.from_json(entry["digest"]),
                )
                for name, entry in obj["namespaces"].items()
            }
            manifest = cls(
                file_format=obj["format"],
                description=description,
                namespaces=namespaces,
                complete=bool(obj["complete"]),
                created_at=obj.get("created_at", ""),
                tool_version=obj.get("tool_version", ""),
                folder_naming=int(obj.get("folder_naming", 1)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UserError(
                f"{where} is not a manifest this tool can read ({type(error).__name__}: {error}); it is "
                "damaged or was not written by pinecone-migrator. Restore it from the original export, or "
                "remove it to read the files as a plain bulk-import tree (then pass --metric)."
            ) from None
        check_paths(manifest, where)
        return manifest


def check_paths(manifest: Manifest, where: str) -> None:
    """Every path the manifest names stays inside its tree, one folder per namespace (see the module)."""
    owners: dict[str, str] = {}
    for namespace, entry in manifest.namespaces.items():
        if not single_component(entry.folder):
            raise UnsafeManifest(
                f"{where}: namespace {namespace!r} names the folder {entry.folder!r}, which is not one "
                "folder name inside the export (no '..', '/' or absolute path). Refusing to read outside the "
                "tree; "
                "the manifest is damaged or was not written by this tool: restore it from the original."
            )
        if entry.folder in owners:
            raise UnsafeManifest(
                f"{where}: namespaces {owners[entry.folder]!r} and {namespace!r} both name the folder "
                f"{entry.folder!r}; the manifest is damaged: restore it from the original export."
            )
        owners[entry.folder] = namespace
        for name in entry.files:
            if not single_component(name) or format_of(name) is None:
                raise UnsafeManifest(
                    f"{where}: namespace {namespace!r} lists the file {name!r}, which is not a data file "
                    "name inside its folder. Refusing to read it; the manifest is damaged or was not "
                    "written by this tool: restore it from the original export."
                )


def read_manifest(location: Location) -> Manifest | None:
    data = location.read_bytes(MANIFEST)
    if data is None:
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise UserError(f"{location.path(MANIFEST)} is not valid JSON ({error}).") from None
    if not isinstance(obj, dict):
        raise UserError(f"{location.path(MANIFEST)} is not a JSON object.")
    return Manifest.from_json(obj, location.path(MANIFEST))


def write_manifest(location: Location, manifest: Manifest, tag: str = "") -> None:
    location.write_bytes(MANIFEST, orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2), tag)
