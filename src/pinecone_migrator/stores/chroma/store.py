"""A Chroma database (or some of its collections) as a store: one collection per namespace.

Which collections, how namespaces and records map onto them, and what Chroma cannot hold: see
:mod:`.address`, :mod:`.naming`, :mod:`.mapping` and :mod:`.room`. Reading creates nothing: a missing
database or collection reads as missing or empty. Writing creates the database and the collections it
needs, in the source's shape.

A write is an upsert by ID that replaces the whole record: Chroma's own upsert merges metadata (keys not
given are kept) and keeps a document not given, so a write first reads which of its IDs exist with which
keys, clears the keys the new record lacks, and deletes first the few records whose document must go.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import RecordsRejected, RemoteError, UserError
from ...records import Record
from ..base import (
    DEFAULT_NAMESPACE,
    Capabilities,
    IdPage,
    IndexShape,
    Match,
    StoreDescription,
    WriteAck,
    placement_options_given,
)
from ..fidelity import Room
from ..uri import StoreUri
from . import listing
from .address import ChromaAddress
from .connection import Connection, translated
from .mapping import Refused, Row, changed_numbers, from_row, risky_number, to_row
from .naming import DIMENSION_KEY, METRIC_KEY, NAMESPACE_KEY, collection_name, namespace_of
from .room import CHROMA, METRIC_OF_SPACE, SPACE_FOR

MAX_RECORDS = 1_000  # per write, fetch, delete and list page (the server takes up to ~5,000 per write)
MAX_WRITE_BYTES = 16_000_000  # measured: 5,000 records of dimension 768 with 2 KB of metadata go in one
UNIT_TOLERANCE = 1e-3  # how far from length 1 a vector for a cosine (ip of unit vectors) collection may be
_LIST_PAGE = 100


class ChromaStore:
    """Collections of one Chroma database as namespaces (see the module's docstring)."""

    def __init__(self, address: ChromaAddress, uri: StoreUri) -> None:
        self.address = address
        self.uri = uri
        self._setup()

    def _setup(self) -> None:
        self._connection = Connection(self.address, self.uri)
        self._collections: dict[str, Any] = {}  # namespace -> chromadb Collection, found or made here
        self._lock = threading.Lock()
        self._created: IndexShape | None = None  # the shape create_like made, before any collection exists

    # Connections and locks stay behind: a copy in another process (verify's workers) makes its own.
    def __getstate__(self) -> dict[str, Any]:
        return {"address": self.address, "uri": self.uri, "created": self._created}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.address = state["address"]
        self.uri = state["uri"]
        self._setup()
        self._created = state["created"]

    # -- describing ------------------------------------------------------------------------------------------

    def room(self) -> Room:
        return CHROMA

    def exists(self) -> bool:
        with translated("describe", self.address):
            if not self._database_exists():
                return False
            if self.address.collection is not None:
                return self._collection(DEFAULT_NAMESPACE) is not None or self._created is not None
            return bool(self._namespace_collections()) or self._created is not None

    def describe(self) -> StoreDescription:
        with translated("describe", self.address):
            found = self._namespace_collections() if self._database_exists() else {}
            if not found and self._created is None:
                raise UserError(f"{self.address.flag} {self.address.text}: {self._missing_words()}")
            shape = self._shape_of(found) if found else self._created
            assert shape is not None
            counts = {namespace: int(collection.count()) for namespace, collection in found.items()}
        name = self.address.collection or (f"{self.address.prefix}*" if self.address.prefix else "")
        return StoreDescription(
            name=name or self.address.database,
            shape=shape,
            namespace_counts={namespace: count for namespace, count in counts.items() if count},
            deployment_type="chroma",
            location=self.address.location,
        )

    def _missing_words(self) -> str:
        address = self.address
        where = f"database {address.database!r} of tenant {address.tenant!r} at {address.server}"
        if address.collection is not None:
            return f"there is no collection {address.collection!r} in {where}."
        if address.prefix:
            return f"no collection in {where} has a name starting with {address.prefix!r}."
        return f"{where} holds no collection (or does not exist)."

    def _shape_of(self, found: dict[str, Any]) -> IndexShape:
        """The one shape every collection of the store has; differing ones are refused with the list."""
        shapes = {namespace: (_metric_of(c), _dimension_of(c)) for namespace, c in found.items()}
        metrics = {metric for metric, _ in shapes.values()}
        dimensions = {dimension for _, dimension in shapes.values() if dimension is not None}
        if len(metrics) > 1 or len(dimensions) > 1:
            listed = ", ".join(
                f"{found[namespace].name} ({metric}, dimension {dimension})"
                for namespace, (metric, dimension) in sorted(shapes.items())
            )
            raise UserError(
                f"{self.address.flag} {self.address.text}: its collections differ in metric or dimension "
                f"({listed}); name one with collection= or a set of alike ones with prefix=."
            )
        dimension = dimensions.pop() if dimensions else None
        return IndexShape(vector_type="dense", metric=metrics.pop(), dimension=dimension)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            lists_bytewise=False,
            max_write_records=MAX_RECORDS,
            max_write_bytes=MAX_WRITE_BYTES,
            max_delete_ids=MAX_RECORDS,
            max_fetch_ids=MAX_RECORDS,
            max_list_page=MAX_RECORDS,
        )

    # -- reading ---------------------------------------------------------------------------------------------

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        if not 1 <= limit <= MAX_RECORDS:
            raise _bad_request("list", f"limit must be between 1 and {MAX_RECORDS}, got {limit}")
        with translated("list", self.address):
            collection = self._collection(namespace)
            if collection is None:
                return IdPage(ids=[], cursor=None)

            def window(offset: int, size: int) -> list[str]:
                ids: list[str] = collection.get(include=[], limit=size, offset=offset)["ids"]
                return ids

            try:
                return listing.page(window, prefix, cursor, limit)
            except listing.BadCursor as error:
                raise _bad_request("list", str(error)) from None

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        if len(ids) > MAX_RECORDS:
            raise _bad_request("fetch", f"at most {MAX_RECORDS} IDs per request, got {len(ids)}")
        if not ids:
            return []
        with translated("fetch", self.address):
            collection = self._collection(namespace)
            if collection is None:
                return []
            asked = list(dict.fromkeys(ids))
            got = collection.get(ids=asked, include=["embeddings", "metadatas", "documents"])
        found: list[str] = got["ids"]
        if not found:
            return []
        matrix = np.asarray(got["embeddings"], dtype=np.float32)  # the server's decimals, read as float32
        metadatas = got.get("metadatas") or [None] * len(found)
        documents = got.get("documents") or [None] * len(found)
        try:
            return [
                from_row(record_id, matrix[n], metadatas[n], documents[n], self.address.document_key)
                for n, record_id in enumerate(found)
            ]
        except Refused as refused:
            raise UserError(f"{self.address.flag} {self.address.text}: {refused}") from None

    def query(self, namespace: str, record: Record, top_k: int) -> list[Match]:
        """The ``top_k`` best matches of ``record``'s dense values, scored as Pinecone scores: dot product,
        squared euclidean distance (Chroma's l2), cosine similarity (Chroma's ip over the unit vectors a
        cosine collection holds, divided by the query's length; or 1 - Chroma's cosine distance). Chroma
        searches approximately (HNSW), as Pinecone does; sparse values take no part (Chroma has none)."""
        if record.values is None:
            return []
        with translated("query", self.address):
            collection = self._collection(namespace)
            if collection is None:
                return []
            found = collection.query(query_embeddings=[record.values], n_results=top_k, include=["distances"])
        ids: list[str] = found["ids"][0]
        distances = [float(distance) for distance in found["distances"][0]]
        metric, space = _metric_of(collection), _space_of(collection)
        if space == "l2":
            scores = distances
        elif metric == "cosine" and space == "ip":
            length = float(np.linalg.norm(record.values.astype(np.float64))) or 1.0
            scores = [(1.0 - distance) / length for distance in distances]
        else:
            scores = [1.0 - distance for distance in distances]
        return [Match(id=record_id, score=score) for record_id, score in zip(ids, scores, strict=True)]

    # -- writing ---------------------------------------------------------------------------------------------

    def request_size(self, record: Record) -> int:
        values = 0 if record.values is None else (record.values.shape[0] * 4 + 2) // 3 * 4
        metadata = len(repr(record.metadata)) if record.metadata else 0
        return len(record.id.encode("utf-8")) + values + metadata + 16

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        if not records:
            return WriteAck(count=0)
        if len(records) > MAX_RECORDS:
            raise RecordsRejected("upsert", f"{len(records)} records exceed {MAX_RECORDS} per request")
        size = sum(self.request_size(record) for record in records)
        if size > MAX_WRITE_BYTES:
            raise RecordsRejected("upsert", f"{size} bytes exceed {MAX_WRITE_BYTES} per request")
        with translated("upsert", self.address):
            collection = self._writable(namespace)
            rows = self._rows(collection, records)
            try:
                self._replace(collection, rows)
            except Exception as error:
                refused = _refusal(error)
                if refused is None:
                    raise
                raise RecordsRejected("upsert", refused) from None
        return WriteAck(count=len(records))

    def _rows(self, collection: Any, records: Sequence[Record]) -> list[Row]:
        dimension = _dimension_of(collection)
        unit = _metric_of(collection) == "cosine"
        latest = {record.id: record for record in records}  # one row per ID, the last written wins
        rows = []
        try:
            for record in latest.values():
                row = to_row(record, dimension, self.address.document_key)
                if unit:
                    _check_unit(row)
                rows.append(row)
        except Refused as refused:
            raise RecordsRejected("upsert", str(refused)) from None
        return rows

    def _replace(self, collection: Any, rows: list[Row]) -> None:
        ids = [row.id for row in rows]
        before = collection.get(ids=ids, include=["metadatas", "documents"])
        old_metadata = dict(zip(before["ids"], before.get("metadatas") or [], strict=False))
        old_documents = dict(zip(before["ids"], before.get("documents") or [], strict=False))
        metadatas: list[dict[str, Any] | None] = []
        gone = []  # IDs whose old document must go: Chroma keeps a document an upsert does not give
        for row in rows:
            metadata: dict[str, Any] = dict(row.metadata)
            if row.document is None and old_documents.get(row.id) is not None:
                gone.append(row.id)
            else:
                for key in old_metadata.get(row.id) or {}:
                    metadata.setdefault(key, None)  # None clears a key the new record does not have
            metadatas.append(metadata or None)
        if gone:
            collection.delete(ids=gone)
        documents = [row.document for row in rows]
        collection.upsert(
            ids=ids,
            embeddings=np.stack([row.values for row in rows]),
            metadatas=metadatas if any(m is not None for m in metadatas) else None,
            documents=documents if any(d is not None for d in documents) else None,
        )
        self._refuse_changed_numbers(collection, rows)

    def _refuse_changed_numbers(self, collection: Any, rows: list[Row]) -> None:
        """Read back the rows holding numbers Chroma may change; delete and refuse those it changed."""
        risky = [row for row in rows if any(risky_number(value) for value in row.metadata.values())]
        if not risky:
            return
        back = collection.get(ids=[row.id for row in risky], include=["metadatas"])
        read = dict(zip(back["ids"], back.get("metadatas") or [], strict=False))
        changed = {row.id: why for row in risky if (why := changed_numbers(row, read.get(row.id)))}
        if changed:
            collection.delete(ids=list(changed))
            # the batch's other records are written: name the refused ones, so nothing is written again
            raise RecordsRejected("upsert", "; ".join(list(changed.values())[:3]), records=changed)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if len(ids) > MAX_RECORDS:
            raise _bad_request("delete", f"at most {MAX_RECORDS} IDs per request, got {len(ids)}")
        if not ids:
            return WriteAck(count=0)
        with translated("delete", self.address):
            collection = self._collection(namespace)
            if collection is not None:
                collection.delete(ids=list(dict.fromkeys(ids)))
        return WriteAck(count=len(ids))

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        given = placement_options_given(cloud, region, deletion_protection, read_capacity)
        if given:
            raise self.address_problem(f"{', '.join(given)} mean nothing for Chroma; leave them out")
        shape = source.shape
        if shape.vector_type != "dense" or shape.dimension is None:
            raise self.address_problem("a local Chroma server holds dense vectors only")
        namespaces = [namespace for namespace, count in source.namespace_counts.items() if count]
        others = [namespace for namespace in namespaces if namespace != DEFAULT_NAMESPACE]
        if self.address.collection is not None and others:
            raise self.address_problem(
                f"one collection holds one namespace ({DEFAULT_NAMESPACE}); the source has "
                f"{', '.join(sorted(others))}: name no collection (one per namespace is made) or copy one "
                "namespace into it"
            )
        with translated("create", self.address):
            if not self._database_exists():
                self._connection.admin().create_database(self.address.database, tenant=self.address.tenant)
            self._created = shape
            for namespace in namespaces:
                self._writable(namespace)

    def address_problem(self, what: str) -> UserError:
        return UserError(f"{self.address.flag} {self.address.text}: {what}.")

    # -- collections -----------------------------------------------------------------------------------------

    def _database_exists(self) -> bool:
        from chromadb.errors import NotFoundError

        try:
            self._connection.admin().get_database(self.address.database, tenant=self.address.tenant)
        except NotFoundError:
            return False
        return True

    def _name_of(self, namespace: str) -> str | None:
        if self.address.collection is not None:
            return self.address.collection if namespace == DEFAULT_NAMESPACE else None
        return collection_name(namespace, self.address.prefix)

    def _collection(self, namespace: str) -> Any:
        """The collection holding ``namespace``, or None (reading never creates one)."""
        with self._lock:
            known = self._collections.get(namespace)
        if known is not None:
            return known
        name = self._name_of(namespace)
        if name is None or not self._database_exists():
            return None
        from chromadb.errors import NotFoundError

        try:
            collection = self._connection.client().get_collection(name, embedding_function=None)
        except (NotFoundError, ValueError):
            return None
        if self.address.collection is None and _told_namespace(collection) not in (None, namespace):
            return None  # a collection of that name holds another namespace (a clash of names)
        with self._lock:
            return self._collections.setdefault(namespace, collection)

    def _writable(self, namespace: str) -> Any:
        """The collection holding ``namespace``, made in the store's shape when missing."""
        collection = self._collection(namespace)
        if collection is None:
            name = self._name_of(namespace)
            if name is None:
                raise self.address_problem(
                    f"it is one collection, the namespace {DEFAULT_NAMESPACE}; namespace {namespace!r} "
                    "has no place in it"
                )
            shape = self._created or self.describe().shape
            metadata: dict[str, Any] = {METRIC_KEY: shape.metric, NAMESPACE_KEY: namespace}
            if shape.dimension is not None:
                metadata[DIMENSION_KEY] = shape.dimension
            made = self._connection.client().get_or_create_collection(
                name,
                metadata=metadata,
                configuration={"hnsw": {"space": SPACE_FOR.get(shape.metric, "l2")}},
                embedding_function=None,
            )
            if _told_namespace(made) not in (None, namespace):
                raise self.address_problem(
                    f"collection {name!r} holds namespace {_told_namespace(made)!r}, not {namespace!r}"
                )
            with self._lock:
                collection = self._collections.setdefault(namespace, made)
        if _space_of(collection) == "cosine":
            raise self.address_problem(
                f"collection {collection.name!r} uses Chroma's cosine space, which does not keep the values "
                "written (it answers with them rescaled, changed in the last digits); copy into a new "
                "collection instead (made as an ip collection of unit vectors, see --accept-changes)"
            )
        return collection

    def _namespace_collections(self) -> dict[str, Any]:
        """Every collection of the store, by the namespace it holds."""
        if self.address.collection is not None:
            collection = self._collection(DEFAULT_NAMESPACE)
            return {} if collection is None else {DEFAULT_NAMESPACE: collection}
        client = self._connection.client()
        found: dict[str, Any] = {}
        offset = 0
        while True:
            page = client.list_collections(limit=_LIST_PAGE, offset=offset)
            for listed in page:
                namespace = namespace_of(listed.name, listed.metadata, self.address.prefix)
                if namespace is not None:
                    found[namespace] = listed
            if len(page) < _LIST_PAGE:
                break
            offset += len(page)
        with self._lock:
            for namespace, collection in found.items():
                self._collections.setdefault(namespace, collection)
        return found


def _told_namespace(collection: Any) -> object:
    return (collection.metadata or {}).get(NAMESPACE_KEY)


def _space_of(collection: Any) -> str:
    configuration = getattr(getattr(collection, "_model", None), "configuration_json", None) or {}
    for index in ("hnsw", "spann"):
        space = (configuration.get(index) or {}).get("space")
        if isinstance(space, str):
            return space
    legacy = (collection.metadata or {}).get("hnsw:space")
    return legacy if isinstance(legacy, str) else "l2"


def _metric_of(collection: Any) -> str:
    told = (collection.metadata or {}).get(METRIC_KEY)
    if isinstance(told, str):
        return told
    space = _space_of(collection)
    return METRIC_OF_SPACE.get(space, space)


def _dimension_of(collection: Any) -> int | None:
    told = (collection.metadata or {}).get(DIMENSION_KEY)
    if isinstance(told, int) and not isinstance(told, bool):
        return told
    dimension = getattr(getattr(collection, "_model", None), "dimension", None)
    return dimension if isinstance(dimension, int) else None


def _check_unit(row: Row) -> None:
    norm = float(np.sqrt(np.dot(row.values.astype(np.float64), row.values.astype(np.float64))))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise Refused(
            f"record {row.id!r}: this collection holds cosine vectors as unit vectors (an ip collection), "
            f"and this one has length {norm:.6g}; copy with --accept-changes (vectors-normalised)"
        )


def _refusal(error: Exception) -> str | None:
    """Chroma's words when it refused a batch for its content (None: a failure of another kind)."""
    from chromadb import errors

    refused = (
        errors.InvalidArgumentError,
        errors.InvalidDimensionException,
        errors.DuplicateIDError,
        errors.BatchSizeExceededError,
    )
    if isinstance(error, (ValueError, *refused)):
        return f"Chroma refused the batch: {str(error).strip().splitlines()[0][:500]}"
    return None


def _bad_request(operation: str, message: str) -> RemoteError:
    return RemoteError(operation, f"[400] {message}", status=400, retryable=False)
