"""Milvus collections as stores (source and target): a Milvus server, or a Milvus Lite data directory.

URIs:

- ``milvus://host:19530/collection`` — a Milvus server. Options: ``token_env=VAR`` (the environment variable
  holding the token, ``user:password`` or an API key; none: no authentication), ``db=name`` (the database;
  default ``default``), ``secure=true`` (TLS).
- ``milvus:///abs/path/to/data.db?collection=items`` — a Milvus Lite data directory (the ``.db`` path
  pymilvus opens in-process). The path must be absolute and end in ``.db``; ``collection`` is required.

Both take ``namespaces=field`` (default: a partition-key VARCHAR field holds each record's namespace) or
``namespaces=partitions`` (one partition per namespace, named reversibly: see :mod:`.partitions`), and, for a
collection the user made, the names of its fields where inference by type is ambiguous: ``id_field``,
``vector_field``, ``sparse_field``, ``metadata_field``, ``namespace_field``.

What maps to what (a collection created by this tool, :mod:`.layout`):

- ``pk`` VARCHAR primary key: ``<length of namespace>:<namespace><id>``. Milvus keys records across the
  whole collection while Pinecone keys them per namespace; with the namespace in front, the same ID in two
  namespaces is two records, and primary-key order within a namespace is the IDs' bytewise order.
- ``id`` VARCHAR (max 2,048 bytes: 512 characters of any script), ``namespace`` VARCHAR partition key,
  ``vector`` FLOAT_VECTOR (dimension; metric COSINE, L2 or IP for cosine, euclidean, dotproduct),
  ``sparse`` SPARSE_FLOAT_VECTOR (metric IP), ``metadata`` JSON (strings, float64 numbers, booleans, lists;
  nested values too).
- A record without sparse values holds a marker in ``sparse`` (index 2**32-2, value 1e-30): Milvus Lite
  refuses null and empty sparse vectors, and servers before 3.0 null ones. Sparse indices therefore go up
  to 2**32-3; Milvus holds non-negative sparse values only (others are refused) and drops zero values.

A collection the user made is read by type: the primary key (VARCHAR or INT64) is the ID unless an ``id``
field is named; one FLOAT_VECTOR; an optional SPARSE_FLOAT_VECTOR; a JSON field and/or scalar fields as
metadata; no namespace field: every record is in ``__default__``.

The client library is imported on first use (``pip install 'pinecone-migrator[milvus]'``).
"""

from __future__ import annotations

from ..uri import StoreUri
from .address import MilvusAddress
from .store import MilvusStore


def open_uri(uri: StoreUri) -> MilvusStore:
    """The store a ``milvus://`` URI names, checked without contacting the database."""
    return MilvusStore(MilvusAddress.parse(uri))


__all__ = ["MilvusAddress", "MilvusStore", "open_uri"]
