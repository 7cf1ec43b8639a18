"""The layout of an export: one folder per namespace, data files that sort in write order, and a manifest.

``<root>/manifest.json`` describes the source index (so an import can create a target like it), and per
namespace its folder, files, record count and set digest (so verify can compare without reading Pinecone).
A namespace whose name cannot be a folder name is escaped, and only the manifest maps the folder back;
Pinecone's bulk import, which takes folder names as namespace names, cannot express such a namespace.
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
from .location import Location

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl.gz"}


def folder_of(namespace: str) -> str:
    """The folder a namespace's files go in: the name itself where a folder can carry it."""
    if namespace in (".", "..") or "/" in namespace or "\\" in namespace or namespace.startswith("."):
        return "%" + quote(namespace, safe="").replace(".", "%2E")
    return namespace


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

    def to_json(self) -> dict[str, Any]:
        source = self.description
        return {
            "manifest_format": MANIFEST_FORMAT,
            "tool": "pinecone-migrator",
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "complete": self.complete,
            "format": self.file_format,
            "source": {
                "name": source.name,
                "vector_type": source.shape.vector_type,
                "metric": source.shape.metric,
                "dimension": source.shape.dimension,
                "cloud": source.cloud,
                "region": source.region,
                "tags": source.tags,
                "deployment_type": source.deployment_type,
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
            return cls(
                file_format=obj["format"],
                description=description,
                namespaces=namespaces,
                complete=bool(obj["complete"]),
                created_at=obj.get("created_at", ""),
                tool_version=obj.get("tool_version", ""),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{where} is not a manifest this tool can read ({error}).") from None


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


def write_manifest(location: Location, manifest: Manifest) -> None:
    location.write_bytes(MANIFEST, orjson.dumps(manifest.to_json(), option=orjson.OPT_INDENT_2))
