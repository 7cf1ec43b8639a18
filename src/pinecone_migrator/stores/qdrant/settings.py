"""A Qdrant store URI read and checked, without contacting Qdrant."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..uri import StoreUri

DEFAULT_PORT = 6333
GRPC_PORT = 6334
DEFAULT_VECTOR = "dense"
DEFAULT_SPARSE_VECTOR = "sparse"
DEFAULT_NAMESPACE_FIELD = "namespace"
NAMESPACE_SEPARATOR = "__"  # namespaces=collections: namespace ns is collection <collection>__ns
# What Qdrant refuses in a collection name (and what would escape a local-mode folder).
_BAD_NAME = re.compile(r'[<>:"/\\|?*\x00]')
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class QdrantSettings:
    uri: StoreUri
    collection: str
    folder: Path | None  # local mode's storage folder; None: a server
    host: str | None
    port: int
    https: bool
    grpc: bool
    api_key_env: str | None
    namespaces: str  # "field" or "collections"
    namespace_field: str
    vector: str | None  # None: the collection's only dense vector (or the unnamed one)
    sparse_vector: str | None  # None: the collection's only sparse vector, if any

    @property
    def local(self) -> bool:
        return self.folder is not None

    @property
    def location(self) -> str:
        """Where the collection lives, without options: equal for the same collection named two ways."""
        if self.folder is not None:
            return f"qdrant://{self.folder}/{self.collection}"
        return f"qdrant://{self.host}:{self.port}/{self.collection}"

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise self.uri.problem(f"the environment variable {self.api_key_env} (api_key_env) is not set.")
        return key


def settings_of(uri: StoreUri) -> QdrantSettings:
    local = not uri.host
    known: dict[str, str | None] = {
        "namespaces": "field",
        "namespace_field": DEFAULT_NAMESPACE_FIELD,
        "vector": None,
        "sparse_vector": None,
    }
    if local:
        known["collection"] = None
    else:
        known.update(https=None, grpc="false", api_key_env=None)
    options = uri.options_of(known)
    if uri.user:
        raise uri.problem(
            "Qdrant has no users: remove the user name (an API key comes from ?api_key_env=VAR)."
        )
    namespaces = options["namespaces"] or ""
    if namespaces not in ("field", "collections"):
        raise uri.problem(f"namespaces must be field or collections, not {namespaces!r}.")
    namespace_field = options["namespace_field"] or ""
    if not namespace_field or namespace_field == "_pinecone_id":
        raise uri.problem(f"namespace_field {namespace_field!r} cannot hold namespaces: name another key.")
    if local:
        folder, collection = _local_place(uri, options.get("collection"))
        host, port, https, grpc, key_env = None, 0, False, False, None
    else:
        folder = None
        collection = uri.path.strip("/")
        if not collection or "/" in collection:
            raise uri.problem("name one collection after the host: qdrant://host:6333/collection.")
        host, port = uri.host, uri.port or DEFAULT_PORT
        key_env = options["api_key_env"] or None
        # An API key travels over TLS unless the URI says https=false (a local server without TLS).
        https = _flag(uri, "https", options["https"]) if options["https"] is not None else key_env is not None
        grpc = _flag(uri, "grpc", options["grpc"])
    if _BAD_NAME.search(collection) or collection in (".", "..") or len(collection) > 255:
        raise uri.problem(f"{collection!r} is not a Qdrant collection name.")
    return QdrantSettings(
        uri=uri,
        collection=collection,
        folder=folder,
        host=host,
        port=port,
        https=https,
        grpc=grpc,
        api_key_env=key_env,
        namespaces=namespaces,
        namespace_field=namespace_field,
        vector=options["vector"],
        sparse_vector=options["sparse_vector"],
    )


def _local_place(uri: StoreUri, collection: str | None) -> tuple[Path, str]:
    if uri.port is not None:
        raise uri.problem(
            "a port needs a host: qdrant://host:6333/collection (or qdrant:///folder?collection=c)."
        )
    if not uri.path or not uri.path.startswith("/"):
        raise uri.problem(
            "name the local-mode folder by its absolute path: qdrant:///abs/path?collection=items."
        )
    if not collection:
        raise uri.problem("a local-mode folder holds several collections: name one with ?collection=NAME.")
    folder = Path(uri.path)
    if folder.exists() and not folder.is_dir():
        raise uri.problem(f"{folder} is a file, not a Qdrant local-mode folder.")
    return folder.resolve(), collection


def _flag(uri: StoreUri, name: str, value: str | None) -> bool:
    text = (value or "").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise uri.problem(f"option {name} must be true or false, not {value!r}.")
