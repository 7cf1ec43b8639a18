"""Store URIs (``--source URI`` / ``--target URI``): which database, where, which table or collection.

``postgresql://user@host:5432/db?table=items``, ``qdrant://host:6333/collection``, ``chroma://host:8000/``,
``milvus://host:19530/collection``, ``lancedb:///path/to/db?table=items``, ``pinecone://index-name``. Each
kind's module reads its own options (the query string) through :meth:`StoreUri.options_of`, which refuses
the ones it does not know, so that a misspelt option is an error and not a silent default.

Secrets never travel in a URI (it ends up in shell history, logs and the ledger): a password in one is
refused, and each kind reads its secret from an environment variable (named by an option where the kind has
one, e.g. ``?password_env=VAR``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import UserError

Side = Literal["source", "target"]

# Scheme -> the store package under pinecone_migrator.stores that opens it, and the pip extra it needs.
KINDS: dict[str, tuple[str, str]] = {
    "postgresql": ("pgvector", "pgvector"),
    "postgres": ("pgvector", "pgvector"),
    "qdrant": ("qdrant", "qdrant"),
    "chroma": ("chroma", "chroma"),
    "milvus": ("milvus", "milvus"),
    "lancedb": ("lancedb", "lancedb"),
}
PINECONE_SCHEME = "pinecone"


@dataclass(frozen=True)
class StoreUri:
    """A parsed store URI. ``text`` holds no secret (a password is refused when parsing)."""

    text: str
    scheme: str  # lower case
    host: str | None
    port: int | None
    user: str | None
    path: str  # percent-decoded, as given (a leading "/" kept)
    options: dict[str, str] = field(default_factory=dict)
    side: Side | None = None

    @property
    def kind(self) -> str:
        """The store package that opens it ("pgvector", "qdrant", ...; "pinecone")."""
        return KINDS[self.scheme][0] if self.scheme in KINDS else self.scheme

    @property
    def flag(self) -> str:
        """The option the URI came from, for messages."""
        return f"--{self.side}" if self.side else "the URI"

    def options_of(self, known: dict[str, str | None]) -> dict[str, str | None]:
        """The URI's options with defaults from ``known`` (name -> default); an unknown one is refused."""
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise UserError(
                f"{self.flag} {self.text}: unknown option(s) {', '.join(unknown)} for {self.scheme}:// "
                f"(known: {', '.join(sorted(known)) or 'none'})."
            )
        return {name: self.options.get(name, default) for name, default in known.items()}

    def problem(self, what: str) -> UserError:
        """A refusal naming this URI and its option."""
        return UserError(f"{self.flag} {self.text}: {what}")


def parse(text: str, side: Side | None = None) -> StoreUri:
    """Parse a store URI, refusing what no store could open (no scheme, an unknown one, a password)."""
    flag = f"--{side}" if side else "a store URI"
    if "://" not in text:
        raise UserError(
            f"{flag} {text!r} is not a store URI: write scheme://..., e.g. "
            "postgresql://user@host/db?table=t, "
            "qdrant://host:6333/collection, chroma://host:8000/, milvus://host:19530/collection, "
            "lancedb:///path?table=t or pinecone://index-name."
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in KINDS and scheme != PINECONE_SCHEME:
        known = ", ".join(sorted({*KINDS, PINECONE_SCHEME}))
        raise UserError(f"{flag} {text!r}: unknown scheme {parts.scheme!r} (known: {known}).")
    if parts.password is not None:
        raise UserError(
            f"{flag}: the URI carries a password. Secrets stay out of URIs (they end up in shell history, "
            "logs and the ledger): remove it and put it in the environment (PGPASSWORD for PostgreSQL, or "
            "the variable the option password_env / api_key_env names)."
        )
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"{flag} {text!r}: the port is not a number from 0 to 65535.") from None
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name in options:
            raise UserError(f"{flag} {text!r}: option {name!r} is given twice.")
        options[name] = value
    return StoreUri(
        text=text,
        scheme=scheme,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        path=unquote(parts.path),
        options=options,
        side=side,
    )


def require(module: str, uri: StoreUri) -> ModuleType:
    """Import a store's client library, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = KINDS[uri.scheme][1] if uri.scheme in KINDS else uri.scheme
        raise UserError(
            f"{uri.flag} {uri.text}: {uri.scheme}:// needs the {module.split('.')[0]} library: "
            f"pip install 'pinecone-migrator[{extra}]'."
        ) from None
