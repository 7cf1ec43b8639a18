"""Qdrant collections as a source or a target (``pip install 'pinecone-migrator[qdrant]'``).

Two forms of URI:

- a Qdrant server: ``qdrant://host:6333/collection``, with options ``api_key_env=VAR`` (the API key is
  read from that environment variable; keys never travel in URIs), ``https=true|false`` (TLS; the default
  is true with an API key, false without), ``grpc=true`` (data over gRPC, port 6334);
- a folder of qdrant-client's local mode (the embedded engine, one process at a time):
  ``qdrant:///abs/path/to/storage?collection=items``.

Options of both: ``namespaces=field`` (the default: one collection, each point's namespace in the payload
key ``namespace_field``, default ``namespace``; points without it are the default namespace) or
``namespaces=collections`` (a namespace ``ns`` is the collection ``<collection>__ns``, ``ns``
percent-encoded since collection names cannot hold every character; the default namespace is the
collection itself); ``vector=NAME`` and ``sparse_vector=NAME`` choose the named vectors of a collection that
has several (a collection made here has a dense vector ``dense`` and a sparse vector ``sparse``).

What maps to what:

- IDs: a point ID is an unsigned integer or a UUID, so a record's ID becomes the UUID v5 of (namespace, ID)
  and the ID itself is kept in the payload key ``_pinecone_id``; reading maps it back exactly. Points of a
  collection made elsewhere (no ``_pinecone_id``) read as their point ID's text (``17``, or the UUID in
  lower case), and fetching by that text finds them.
- Metadata is the payload without the reserved keys (``_pinecone_id``, and the namespace key in ``field``
  mode): strings, numbers, booleans, lists and nested objects, exactly. A record whose metadata has a
  reserved key is refused (a dead letter naming the key).
- Vectors: dense float32 exactly, except that Qdrant scales cosine vectors to length 1 when it stores them
  (fidelity says so, and :func:`pinecone_migrator.stores.fidelity.normalised` computes what it keeps, bit
  for bit); sparse vectors with any uint32 index, exactly.
- Metrics: cosine is ``Cosine``, euclidean ``Euclid``, dotproduct ``Dot``; a collection by ``Manhattan``
  reads as metric ``manhattan`` (no Pinecone index can take it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..uri import StoreUri, require
from .settings import settings_of

if TYPE_CHECKING:
    from .store import QdrantStore

__all__ = ["open_uri"]


def open_uri(uri: StoreUri) -> QdrantStore:
    """The store ``uri`` names, checked without contacting Qdrant (the first call does). The client
    library is imported here, not with this package."""
    settings = settings_of(uri)
    require("qdrant_client", uri)
    from .store import QdrantStore

    return QdrantStore(settings)
