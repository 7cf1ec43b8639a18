"""The server's catalog of indexes: their definitions and their record stores.

Definitions are dialect-neutral: the classic (2025-10) and the schema/deployment (2026-07) control-plane
dialects both translate to and from :class:`IndexDefinition`, so an index created in one is visible in the
other. The catalog is persisted as one JSON file in the data directory (written to a temporary file, then
renamed), each index's records in their own SQLite file beside it.
"""

from __future__ import annotations

import builtins
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from .errors import already_exists, invalid_argument, not_found
from .store import IndexData

INDEX_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")
INDEX_NAME_RULE = (
    "Index name must be 1-45 characters long, contain only lowercase alphanumeric characters or "
    "hyphens, and must not begin or end with a hyphen."
)
METRICS = ("cosine", "euclidean", "dotproduct")
MAX_DIMENSION = 20_000


@dataclass
class IndexDefinition:
    name: str
    vector_type: str  # "dense" or "sparse"
    dimension: int | None
    metric: str
    deployment: dict[str, Any]  # {"deployment_type": "managed", "cloud", "region"} or a pod deployment
    deletion_protection: str = "disabled"
    tags: dict[str, str] | None = None
    read_capacity: dict[str, Any] | None = None  # as requested: {"mode": "OnDemand"} or Dedicated
    vector_field: str = "_values"  # the schema field name the 2026-07 dialect uses for the vectors
    extra_schema_fields: dict[str, Any] = field(default_factory=dict)  # echoed back as given
    # An integrated index's embedding (see .integrated): its model embeds the text of records/* requests.
    embed: dict[str, Any] | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    @property
    def is_pod(self) -> bool:
        return self.deployment.get("deployment_type") == "pod"

    @property
    def is_dedicated(self) -> bool:
        """On dedicated read nodes: one namespace, no bulk imports, no backups (Pinecone's DRN guide)."""
        return (self.read_capacity or {}).get("mode") == "Dedicated"

    def validate(self) -> None:
        if not INDEX_NAME_RE.match(self.name):
            raise invalid_argument(INDEX_NAME_RULE)
        if self.vector_type not in ("dense", "sparse"):
            raise invalid_argument(f"vector_type must be 'dense' or 'sparse', not {self.vector_type!r}.")
        if self.metric not in METRICS:
            raise invalid_argument(f"metric must be one of {', '.join(METRICS)}, not {self.metric!r}.")
        if self.vector_type == "sparse":
            if self.metric != "dotproduct":
                raise invalid_argument("Sparse vector indexes must use the metric dotproduct.")
            if self.dimension is not None:
                raise invalid_argument("Sparse vector indexes must not have a dimension.")
        else:
            if not isinstance(self.dimension, int) or isinstance(self.dimension, bool):
                raise invalid_argument("Dense vector indexes need an integer dimension.")
            if not 1 <= self.dimension <= MAX_DIMENSION:
                raise invalid_argument(
                    f"dimension must be between 1 and {MAX_DIMENSION}, not {self.dimension}."
                )
        if self.deletion_protection not in ("enabled", "disabled"):
            raise invalid_argument("deletion_protection must be 'enabled' or 'disabled'.")
        if self.tags is not None:
            validate_tags(self.tags)


def validate_tags(tags: dict[str, Any]) -> None:
    if len(tags) > 20:
        raise invalid_argument("An index can have at most 20 tags.")
    for key, value in tags.items():
        if not re.match(r"^[a-zA-Z0-9_-]{1,80}$", key):
            raise invalid_argument(
                f"Tag key {key!r} is invalid: 1-80 characters, only letters, digits, '_' and '-'."
            )
        # Pinecone's documented value alphabet (IndexTags): alphanumerics and ; @ _ - . + and space.
        if not isinstance(value, str) or not re.match(r"^[a-zA-Z0-9;@_.+ -]{0,120}$", value):
            raise invalid_argument(
                f"Tag value for {key!r} is invalid: at most 120 letters, digits, spaces or ';@_-.+'."
            )


class CatalogWatcher(Protocol):
    def index_created(self, name: str) -> None: ...

    def index_deleted(self, name: str) -> None: ...


class Catalog:
    """All indexes of one server. ``data_dir=None`` keeps everything in memory."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self._definitions: dict[str, IndexDefinition] = {}
        self._data: dict[str, IndexData] = {}
        # Indexes still being filled by a restore job: described as not ready until it completes.
        self.initializing: set[str] = set()
        # Told about every index created or deleted from now on (the gRPC listeners follow the indexes).
        self.watchers: builtins.list[CatalogWatcher] = []
        if data_dir is not None:
            (data_dir / "indexes").mkdir(parents=True, exist_ok=True)
            if self._catalog_file.exists():
                raw = orjson.loads(self._catalog_file.read_bytes())
                for entry in raw.get("indexes", []):
                    definition = IndexDefinition(**entry)
                    self._definitions[definition.name] = definition

    @property
    def _catalog_file(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "catalog.json"

    def _save(self) -> None:
        if self.data_dir is None:
            return
        payload = orjson.dumps(
            {"version": 1, "indexes": [asdict(d) for d in self._definitions.values()]},
            option=orjson.OPT_INDENT_2,
        )
        tmp = self._catalog_file.with_suffix(".json.tmp")
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._catalog_file)

    def _index_dir(self, name: str) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "indexes" / name

    def names(self) -> list[str]:
        return sorted(self._definitions)

    def list(self) -> list[IndexDefinition]:
        return [self._definitions[name] for name in self.names()]

    def get(self, name: str) -> IndexDefinition:
        try:
            return self._definitions[name]
        except KeyError:
            raise not_found(f"Resource {name} not found") from None

    def exists(self, name: str) -> bool:
        return name in self._definitions

    def create(self, definition: IndexDefinition) -> IndexDefinition:
        definition.validate()
        if definition.name in self._definitions:
            raise already_exists(f"Resource {definition.name} already exists")
        if self.data_dir is not None:
            # A stale folder of a deleted index must not leak its records into the new one.
            shutil.rmtree(self._index_dir(definition.name), ignore_errors=True)
        for watcher in self.watchers:  # first: a watcher that cannot follow refuses the index
            watcher.index_created(definition.name)
        self._definitions[definition.name] = definition
        self._save()
        return definition

    def update(self, name: str, **changes: Any) -> IndexDefinition:
        updated = replace(self.get(name), **changes)
        updated.validate()
        self._definitions[name] = updated
        self._save()
        return updated

    def delete(self, name: str) -> None:
        self.get(name)
        data = self._data.pop(name, None)
        if data is not None:
            data.close()
        del self._definitions[name]
        self.initializing.discard(name)
        self._save()
        if self.data_dir is not None:
            shutil.rmtree(self._index_dir(name), ignore_errors=True)
        for watcher in self.watchers:
            watcher.index_deleted(name)

    def data(self, name: str) -> IndexData:
        """The record store of an index, opened on first use."""
        data = self._data.get(name)
        if data is None:
            definition = self.get(name)
            directory = None if self.data_dir is None else self._index_dir(name)
            data = IndexData(definition.vector_type, definition.dimension, definition.metric, directory)
            self._data[name] = data
        return data

    def open_stores(self) -> builtins.list[IndexData]:
        return list(self._data.values())

    def close(self) -> None:
        for data in self._data.values():
            data.close()
        self._data.clear()


def index_path(name: str) -> str:
    """The URL path prefix under which an index's data plane is served."""
    return f"/data/{quote(name, safe='')}"
