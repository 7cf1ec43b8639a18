"""Where a Milvus collection is and how to reach it, parsed from a ``milvus://`` URI without contacting it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from ...errors import UserError
from ..uri import StoreUri

DEFAULT_PORT = 19530
NAMESPACE_MODES = ("field", "partitions")
FIELD_OPTIONS = ("id_field", "vector_field", "sparse_field", "metadata_field", "namespace_field")
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclass(frozen=True)
class MilvusAddress:
    """A collection on a Milvus server (``host``) or in a Milvus Lite data directory (``lite_path``)."""

    text: str  # the URI as given (no secret: tokens come from the environment)
    flag: str  # the option it came from, for messages
    side: str | None
    collection: str
    lite_path: str | None = None
    host: str | None = None
    port: int = DEFAULT_PORT
    secure: bool = False
    db: str = "default"
    token_env: str | None = None
    namespaces: str = "field"
    id_field: str | None = None
    vector_field: str | None = None
    sparse_field: str | None = None
    metadata_field: str | None = None
    namespace_field: str | None = None

    @classmethod
    def parse(cls, uri: StoreUri) -> MilvusAddress:
        lite = uri.host is None
        known: dict[str, str | None] = {"namespaces": "field", **dict.fromkeys(FIELD_OPTIONS)}
        if lite:
            known["collection"] = None
        else:
            known.update(token_env=None, db="default", secure="false")
        options = uri.options_of(known)
        namespaces = options["namespaces"] or "field"
        if namespaces not in NAMESPACE_MODES:
            raise uri.problem(f"namespaces must be 'field' or 'partitions', not {namespaces!r}.")
        fields = {name: options[name] or None for name in FIELD_OPTIONS}
        for name, value in fields.items():
            if value is not None and not _COLLECTION_NAME.fullmatch(value):
                raise uri.problem(f"{name} {value!r} is not a Milvus field name.")
        common: dict[str, Any] = dict(
            text=uri.text, flag=uri.flag, side=uri.side, namespaces=namespaces, **fields
        )
        if lite:
            return cls(
                collection=_lite_collection(uri, options["collection"]), lite_path=_lite_path(uri), **common
            )
        collection = uri.path.strip("/")
        if not collection:
            raise uri.problem("name the collection: milvus://host:19530/collection.")
        if not _COLLECTION_NAME.fullmatch(collection):
            raise uri.problem(
                f"{collection!r} is not a Milvus collection name (letters, digits and underscores, "
                "starting with a letter or an underscore, at most 255)."
            )
        secure = (options["secure"] or "false").lower()
        if secure not in _TRUE + _FALSE:
            raise uri.problem(f"secure must be true or false, not {options['secure']!r}.")
        db = options["db"] or "default"
        if not _COLLECTION_NAME.fullmatch(db):
            raise uri.problem(f"{db!r} is not a Milvus database name.")
        token_env = options["token_env"] or None
        if token_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
            raise uri.problem(f"token_env names an environment variable, not {token_env!r}.")
        if uri.user:
            raise uri.problem(
                "user names do not go in the URI: put user:password (or an API key) in an environment "
                "variable and name it with ?token_env=VAR."
            )
        return cls(
            collection=collection,
            host=uri.host,
            port=uri.port or DEFAULT_PORT,
            secure=secure in _TRUE,
            db=db,
            token_env=token_env,
            **common,
        )

    @property
    def is_lite(self) -> bool:
        return self.lite_path is not None

    def client_uri(self) -> str:
        """What pymilvus connects to."""
        if self.lite_path is not None:
            return self.lite_path
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"

    def token(self) -> str:
        """The token from the environment variable ``token_env`` names ("" without one)."""
        if self.token_env is None:
            return ""
        found = os.environ.get(self.token_env)
        if not found:
            raise UserError(
                f"{self.flag} {self.text}: the environment variable {self.token_env} (token_env) is not set: "
                "put the Milvus token (user:password or an API key) in it."
            )
        return found

    def location(self) -> str:
        """The collection's canonical place: equal for the same collection however the URI names it."""
        if self.lite_path is not None:
            return f"milvus://{self.lite_path}/{self.collection}"
        return f"milvus://{self.host}:{self.port}/{self.db}/{self.collection}"

    def describe(self) -> str:
        """In words, for messages."""
        where = f"Milvus Lite {self.lite_path}" if self.lite_path else f"Milvus {self.host}:{self.port}"
        return f"collection {self.collection!r} in {where}"

    def problem(self, what: str) -> UserError:
        return UserError(f"{self.flag} {self.text}: {what}")


def _lite_path(uri: StoreUri) -> str:
    path = uri.path
    if not path.startswith("/") or path.startswith("//"):
        raise uri.problem("a Milvus Lite path must be absolute: milvus:///abs/path/to/data.db?collection=c.")
    if not path.endswith(".db"):
        raise uri.problem("a Milvus Lite path ends in .db (the data directory pymilvus opens).")
    real = os.path.realpath(path)
    if not os.path.isdir(os.path.dirname(real)):
        raise uri.problem(f"the folder {os.path.dirname(real)} does not exist.")
    return real


def _lite_collection(uri: StoreUri, collection: str | None) -> str:
    if not collection:
        raise uri.problem("name the collection: milvus:///path/to/data.db?collection=name.")
    if not _COLLECTION_NAME.fullmatch(collection):
        raise uri.problem(f"{collection!r} is not a Milvus collection name.")
    return collection
