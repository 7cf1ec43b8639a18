"""A ``lancedb://`` URI read into the options of one table, checked without touching the folder."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

from ...errors import UserError
from ..uri import StoreUri

# Pinecone's metric names -> LanceDB's distance types.
LANCE_METRICS = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "dot"}
_PINECONE_METRIC = {**{lance: ours for ours, lance in LANCE_METRICS.items()}, **{m: m for m in LANCE_METRICS}}
METADATA_MODES = ("json", "columns")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class LanceOptions:
    text: str  # the URI as given (holds no secret), for messages
    flag: str  # "--source", "--target" or "the URI"
    path: str  # the database folder, absolute and normalised
    table: str
    metric: str | None  # Pinecone's name; None: the table's schema metadata says
    metadata: str | None  # "json" or "columns"; None: inferred from the table
    id_column: str
    namespace_column: str | None  # None: the table holds one namespace
    vector_column: str | None  # None: "vector", else the table's only float32 vector column
    skip_columns: frozenset[str]

    @property
    def location(self) -> str:
        """The table's canonical location: the same table named two ways compares equal."""
        return f"lancedb://{quote(self.path)}/{quote(self.table, safe='')}"

    def problem(self, what: str) -> UserError:
        return UserError(f"{self.flag} {self.text}: {what}")


def parse_options(uri: StoreUri) -> LanceOptions:
    found = uri.options_of(
        {
            "table": None,
            "metric": None,
            "metadata": None,
            "id_column": "id",
            "namespace_column": "namespace",
            "vector_column": None,
            "skip_columns": "",
        }
    )
    if uri.host or uri.port or uri.user:
        raise uri.problem(
            "a LanceDB database is a folder on this machine: write lancedb:///absolute/path?table=NAME "
            "(three slashes, no host)."
        )
    if not uri.path.startswith("/") or uri.path == "/":
        raise uri.problem(
            "give the database folder as an absolute path: lancedb:///absolute/path?table=NAME."
        )
    table = found["table"]
    if not table:
        raise uri.problem("name the table: add ?table=NAME.")
    if not _TABLE_NAME.fullmatch(table):
        raise uri.problem(
            f"table name {table!r}: LanceDB table names hold letters, digits, '_', '-' and '.' only."
        )
    metric = found["metric"]
    if metric is not None:
        if metric.lower() not in _PINECONE_METRIC:
            raise uri.problem(f"unknown metric {metric!r}: use cosine, euclidean (l2) or dotproduct (dot).")
        metric = _PINECONE_METRIC[metric.lower()]
    metadata = found["metadata"]
    if metadata is not None and metadata not in METADATA_MODES:
        raise uri.problem(f"metadata={metadata!r}: use metadata=json or metadata=columns.")
    id_column = found["id_column"] or ""
    if not id_column:
        raise uri.problem("id_column cannot be empty.")
    skip = frozenset(name.strip() for name in (found["skip_columns"] or "").split(",") if name.strip())
    roles = [id_column, found["namespace_column"], found["vector_column"]]
    if skip & {role for role in roles if role}:
        raise uri.problem(
            "skip_columns names a column the records need (the ID, namespace or vector column)."
        )
    return LanceOptions(
        text=uri.text,
        flag=uri.flag,
        path=os.path.realpath(uri.path),
        table=table,
        metric=metric,
        metadata=metadata,
        id_column=id_column,
        namespace_column=found["namespace_column"] or None,
        vector_column=found["vector_column"] or None,
        skip_columns=skip,
    )
