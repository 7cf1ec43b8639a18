"""PostgreSQL with pgvector as a store, source and target: ``postgresql://USER@HOST:PORT/DATABASE?table=T``.

``postgres://`` works too. Options (an unknown one is refused):

- ``table`` (required): the table, ``NAME`` or ``SCHEMA.NAME`` (schema ``public`` by default). Names are
  used exactly as written (quoted): ``Items`` and ``items`` are two tables.
- ``password_env``: the environment variable holding the password. Without it libpq finds one itself
  (``PGPASSWORD``, ``~/.pgpass``). A password in the URI is refused.
- ``sslmode``: libpq's (disable, allow, prefer, require, verify-ca, verify-full).
- ``namespaces=column`` (default): a text column (``namespace_column``, default ``namespace``) holds each
  record's namespace, the default namespace as ``''``; the primary key is (namespace, id). A table without
  that column holds the default namespace only.
  ``namespaces=tables``: one table per namespace, ``T`` for the default namespace and ``T__NAMESPACE`` for
  each other (made on the first write into it, like the first; a namespace whose table name would pass
  PostgreSQL's 63 bytes is refused).
- ``metric``: for a table whose vector column has no HNSW/IVFFlat index to say it (cosine, euclidean,
  dotproduct, or pgvector's manhattan).
- ``vector_type=vector|halfvec``: the dense column of a table created here; ``halfvec`` holds 16-bit floats
  (the plan lists the change: values-float16).
- ``index=hnsw|none``: whether a table created here gets its HNSW index (by the metric's operator class)
  when the copy finishes (default hnsw); none leaves indexing to you.
- ``metadata=jsonb|columns``: whether metadata keys without a column of their own go into the ``metadata``
  jsonb column (jsonb, the default where the table has that column) or must each have a column (columns).

What maps to what, and how a table is read, is in :mod:`.schema` (columns) and :mod:`.mapping` (values).
IDs are text, listed in bytewise order (``ORDER BY id COLLATE "C"``, keyset pagination; a table created
here keeps its IDs in the "C" collation so that the primary key serves the listing). Dense values travel
in binary, so float32 values are exact; sparse values go in a ``sparsevec`` column (pgvector's limits: at
most 16,000 non-zero values, indices below 1,000,000,000, no zero values: records beyond are refused as
dead letters). A write is one transaction (a refused record writes nothing of its batch): a binary COPY
straight into the table when none of its IDs is there yet, else a COPY into the session's staging table
and one ``INSERT ... ON CONFLICT DO UPDATE`` from it (a whole record replaced, as an upsert does). A table
created here gets its HNSW index when the copy finishes (building it once is much faster than keeping it
up to date through every insert); until then its comment keeps the metric. Metadata filters are evaluated
by PostgreSQL with Pinecone's semantics (:mod:`.filters_sql`). The engine's threads share a pool of at
most 16 connections.

A source is only read: its connections are read-only (``default_transaction_read_only``), so the server
itself refuses any write, and reading creates nothing (no table, index or extension).
"""

from __future__ import annotations

from ..base import Store
from ..uri import StoreUri, require


def open_uri(uri: StoreUri) -> Store:
    """The store of a ``postgresql://`` URI, checked but not connected (the first call connects)."""
    from .options import settings_of
    from .store import PgvectorStore

    settings = settings_of(uri)
    require("psycopg", uri)
    settings.connect_arguments()  # a password variable that is named but not set is refused now
    return PgvectorStore(settings)
