"""LanceDB tables as stores (source and target): ``lancedb:///abs/path/to/db?table=items``.

The path is the LanceDB database folder on this machine (absolute: three slashes); ``table`` names the table
in it. Options (the query string):

- ``table`` (required): the table.
- ``metric``: ``cosine``, ``euclidean`` or ``dotproduct`` (or LanceDB's names ``cosine``, ``l2``, ``dot``).
  LanceDB keeps no metric with a table; a table this tool created records it in its schema metadata, a
  table made otherwise needs this option to be read (a run says so when it is missing).
- ``metadata``: ``json`` (one string column ``metadata`` holding each record's metadata as JSON text: exact
  for every type, nested values included) or ``columns`` (every column that is not the ID, namespace, vector
  or sparse column is one metadata key: string, float64/float32/integer, bool and list<string> columns;
  null means no key). Default: ``json`` for tables this tool created, ``columns`` for others.
- ``id_column`` (default ``id``): a string column, or an integer one (IDs are then its numbers' decimal text,
  listed in numeric order; a record whose ID is not such a number is refused).
- ``namespace_column`` (default ``namespace``): a table without that column holds one namespace,
  ``__default__`` (``namespace_column=`` empty: none); records for another namespace are refused.
- ``vector_column`` (default ``vector``, else the table's only ``fixed_size_list<float32>`` column).
- ``skip_columns``: comma-separated columns of the table that are not record data (left alone by writes).

Tables created here (``create_like``) have ``namespace`` and ``id`` (strings), ``vector``
(``fixed_size_list<float32>[d]``, absent for a sparse index), ``sparse_indices`` (``list<uint32>``) and
``sparse_values`` (``list<float32>``), and ``metadata`` (JSON text). Nothing is contacted (and no folder is
created) until the store's first call; a source is only read.

Records a table cannot hold (another dimension, sparse values without sparse columns, a metadata key
without a column or a value its column's type cannot hold exactly) refuse their batch, naming the record,
before anything of it is written: the engine narrows it down to dead letters. Writes of one table are
serialised within a process; two processes writing one table at once could both insert a new ID (LanceDB's
merge_insert does not lock). Similarity search (verify --level search) scores as Pinecone does: LanceDB's
exact (unindexed) dense search, plus sparse dot products computed here for a hybrid query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..uri import StoreUri
from .options import parse_options

if TYPE_CHECKING:
    from .store import LanceStore


def open_uri(uri: StoreUri) -> LanceStore:
    options = parse_options(uri)
    from ..uri import require

    require("lancedb", uri)
    from .store import LanceStore

    return LanceStore(options)


__all__ = ["open_uri"]
