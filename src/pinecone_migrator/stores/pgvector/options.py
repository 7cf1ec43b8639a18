"""A ``postgresql://`` URI read into settings, checked without contacting the server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ...errors import UserError
from ..uri import StoreUri

DEFAULT_PORT = 5432
DEFAULT_SCHEMA = "public"
PINECONE_METRICS = ("cosine", "euclidean", "dotproduct")
# pgvector metrics Pinecone has no name for keep pgvector's own.
METRICS = (*PINECONE_METRICS, "manhattan")
# Postgres truncates longer identifiers silently: a name beyond it would name another table.
MAX_IDENTIFIER_BYTES = 63

KNOWN_OPTIONS: dict[str, str | None] = {
    "table": None,
    "password_env": None,
    "sslmode": None,
    "namespace_column": "namespace",
    "namespaces": "column",
    "metric": None,
    "vector_type": "vector",
    "metadata": None,
    "index": "hnsw",
}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Settings:
    """Where the table is and how its rows map to records. Holds no secret (only the variable's name)."""

    uri_text: str
    side: str | None
    host: str | None
    port: int
    user: str | None
    database: str | None
    schema: str
    table: str
    password_env: str | None
    sslmode: str | None
    namespace_column: str
    namespaces: str  # "column" or "tables"
    metric: str | None
    vector_type: str  # for a created table: "vector" or "halfvec"
    metadata: str | None  # "jsonb", "columns" or None (inferred from the table)
    index: str = "hnsw"  # what a created table gets once the copy finishes: "hnsw" or "none"

    @property
    def flag(self) -> str:
        return f"--{self.side}" if self.side else "the URI"

    @property
    def location(self) -> str:
        """The table as one canonical URI: user, options and secrets left out."""
        host = (self.host or "localhost").lower()
        return f"postgresql://{host}:{self.port}/{self.database or ''}/{self.schema}.{self.table}"

    @property
    def name(self) -> str:
        return self.table if self.schema == DEFAULT_SCHEMA else f"{self.schema}.{self.table}"

    def problem(self, what: str) -> UserError:
        return UserError(f"{self.flag} {self.uri_text}: {what}")

    def password_advice(self) -> str:
        if self.password_env:
            return f"the environment variable {self.password_env} (named by password_env)"
        return "the environment variable PGPASSWORD (or ~/.pgpass)"

    def connect_arguments(self) -> dict[str, Any]:
        """libpq's keywords; libpq reads PGPASSWORD and ~/.pgpass itself when no password is given."""
        arguments: dict[str, Any] = {
            "port": self.port,
            "connect_timeout": 10,
            "application_name": "pinecone-migrator",
        }
        for key, value in (("host", self.host), ("user", self.user), ("dbname", self.database),
                           ("sslmode", self.sslmode)):  # fmt: skip
            if value is not None:
                arguments[key] = value
        if self.password_env:
            password = os.environ.get(self.password_env)
            if not password:
                raise self.problem(f"the environment variable {self.password_env} (password_env) is not set.")
            arguments["password"] = password
        if self.side == "source":
            # A source is only read: the server itself refuses any write on these connections.
            arguments["options"] = "-c default_transaction_read_only=on"
        return arguments


def settings_of(uri: StoreUri) -> Settings:
    options = uri.options_of(KNOWN_OPTIONS)
    table_option = options["table"]
    if not table_option:
        raise uri.problem("say which table: add ?table=NAME (or ?table=SCHEMA.NAME).")
    schema, _, table = table_option.rpartition(".")
    schema = schema or DEFAULT_SCHEMA
    database = uri.path.strip("/") or None
    if database is not None and "/" in database:
        raise uri.problem("the path is the database name only (postgresql://host:5432/DATABASE?table=T).")
    namespaces = options["namespaces"] or "column"
    if namespaces not in ("column", "tables"):
        raise uri.problem(f"namespaces={namespaces}: write namespaces=column or namespaces=tables.")
    metric = options["metric"]
    if metric is not None and metric not in METRICS:
        raise uri.problem(f"metric={metric}: write one of {', '.join(METRICS)}.")
    vector_type = options["vector_type"] or "vector"
    if vector_type not in ("vector", "halfvec"):
        raise uri.problem(f"vector_type={vector_type}: write vector_type=vector or vector_type=halfvec.")
    metadata = options["metadata"]
    if metadata is not None and metadata not in ("jsonb", "columns"):
        raise uri.problem(f"metadata={metadata}: write metadata=jsonb or metadata=columns.")
    index = options["index"] or "hnsw"
    if index not in ("hnsw", "none"):
        raise uri.problem(f"index={index}: write index=hnsw or index=none.")
    sslmode = options["sslmode"]
    if sslmode is not None and sslmode not in SSL_MODES:
        raise uri.problem(f"sslmode={sslmode}: write one of {', '.join(SSL_MODES)}.")
    namespace_column = options["namespace_column"] or "namespace"
    for what, name in (("schema", schema), ("table", table), ("namespace_column", namespace_column)):
        if not name or len(name.encode()) > MAX_IDENTIFIER_BYTES or "\x00" in name:
            raise uri.problem(f"the {what} name {name!r} is not a PostgreSQL name (1 to 63 bytes).")
    password_env = options["password_env"]
    if password_env is not None and not password_env:
        raise uri.problem("password_env= names no variable: write password_env=VARIABLE.")
    return Settings(
        uri_text=uri.text,
        side=uri.side,
        host=uri.host,
        port=uri.port or DEFAULT_PORT,
        user=uri.user,
        database=database,
        schema=schema,
        table=table,
        password_env=password_env,
        sslmode=sslmode,
        namespace_column=namespace_column,
        namespaces=namespaces,
        metric=metric,
        vector_type=vector_type,
        metadata=metadata,
        index=index,
    )
