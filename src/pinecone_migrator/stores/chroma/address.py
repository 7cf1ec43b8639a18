"""The ``chroma://`` URI: where the server is, which tenant and database, which collections are the store.

``chroma://host:8000/`` (every collection of the database is a namespace), ``chroma://host:8000/name`` or
``?collection=name`` (one collection, the default namespace). Options:

- ``tenant`` (default ``default_tenant``), ``database`` (default ``default_database``);
- ``prefix``: only collections whose names start with it are namespaces (and new ones get it);
- ``collection``: one collection is the whole store, as its default namespace;
- ``ssl``: ``true`` for https;
- ``token_env``: the environment variable holding a token (sent as ``Authorization: Bearer <token>``, or
  in the header ``token_header`` names, e.g. ``X-Chroma-Token``);
- ``document_key``: the metadata key Chroma's documents read as and are written from (default
  ``document``; empty: documents are left out).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..uri import StoreUri
from .naming import valid_collection_name, valid_prefix

DEFAULT_PORT = 8000
DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


@dataclass(frozen=True)
class ChromaAddress:
    """A parsed ``chroma://`` URI (no secret in it; the token is read from the environment)."""

    text: str  # the URI as given, for messages
    flag: str  # the option it came from, for messages
    host: str
    port: int
    ssl: bool
    tenant: str
    database: str
    prefix: str
    collection: str | None
    document_key: str | None
    token_env: str | None
    token_header: str
    token: str | None = field(default=None, repr=False, compare=False)

    @property
    def location(self) -> str:
        """Where the records live, the same however the URI was spelt (no options, no credentials)."""
        scheme = "chromas" if self.ssl else "chroma"
        which = self.collection if self.collection is not None else f"{self.prefix}*"
        return f"{scheme}://{self.host}:{self.port}/{self.tenant}/{self.database}/{which}"

    @property
    def server(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"

    def headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        if self.token_header.lower() == "authorization":
            return {"Authorization": f"Bearer {self.token}"}
        return {self.token_header: self.token}


def parse_address(uri: StoreUri) -> ChromaAddress:
    """Read and check a ``chroma://`` URI without contacting the server."""
    options = uri.options_of(
        {
            "tenant": DEFAULT_TENANT,
            "database": DEFAULT_DATABASE,
            "prefix": "",
            "collection": None,
            "ssl": "false",
            "token_env": None,
            "token_header": "Authorization",
            "document_key": "document",
        }
    )
    if not uri.host:
        raise uri.problem("name the Chroma server: chroma://host:8000/")
    if uri.user:
        raise uri.problem("Chroma takes no user name; a token comes from the variable named by token_env=")
    collection = _collection(uri, options["collection"])
    prefix = options["prefix"] or ""
    if not valid_prefix(prefix):
        raise uri.problem(
            f"prefix {prefix!r} cannot start a Chroma collection name (letters, digits, '.', '_', '-', "
            "starting with a letter or digit)"
        )
    if prefix and collection is not None:
        raise uri.problem("give either a collection or a prefix, not both")
    for name in ("tenant", "database"):
        if len(options[name] or "") < 3:
            raise uri.problem(
                f"{name}={options[name]} is too short: Chroma's names have 3 characters or more"
            )
    ssl_text = (options["ssl"] or "").lower()
    if ssl_text not in _TRUE | _FALSE:
        raise uri.problem(f"ssl={options['ssl']} must be true or false")
    token_env = options["token_env"] or None
    token = None
    if token_env is not None:
        token = os.environ.get(token_env)
        if not token:
            raise uri.problem(f"the environment variable {token_env} (named by token_env=) is not set")
    return ChromaAddress(
        text=uri.text,
        flag=uri.flag,
        host=uri.host,
        port=uri.port or DEFAULT_PORT,
        ssl=ssl_text in _TRUE,
        tenant=options["tenant"] or DEFAULT_TENANT,
        database=options["database"] or DEFAULT_DATABASE,
        prefix=prefix,
        collection=collection,
        document_key=options["document_key"] or None,
        token_env=token_env,
        token_header=options["token_header"] or "Authorization",
        token=token,
    )


def _collection(uri: StoreUri, option: str | None) -> str | None:
    in_path = uri.path.strip("/") or None
    if in_path is not None and option is not None:
        raise uri.problem("name the collection once: in the path or as collection=, not both")
    name = in_path if in_path is not None else option
    if name is not None and not valid_collection_name(name):
        raise uri.problem(
            f"{name!r} is not a Chroma collection name (3-512 letters, digits, '.', '_', '-', starting and "
            "ending with a letter or digit, no '..')"
        )
    return name
