"""A Qdrant collection as a store (see the package docstring for the URI and what maps to what).

Listing scrolls the collection in point-ID order (Qdrant's only stable order; a payload key cannot order
a scroll unless it is numeric): the cursor is the next point ID, so a listing resumes after a restart and
is not bytewise (``lists_bytewise`` False). A prefix is matched here, on the IDs scrolled.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote, unquote

import orjson
from qdrant_client import QdrantClient
from qdrant_client.http import models

from ...errors import RecordsRejected, UserError
from ...records import Record
from ..base import (
    DEFAULT_NAMESPACE,
    Capabilities,
    IdPage,
    StoreDescription,
    WriteAck,
    placement_options_given,
)
from ..fidelity import Room, normalised
from . import mapping
from .connection import Connection
from .schema import DISTANCES, MAX_DIMENSION, QDRANT, Schema, schema_of
from .settings import DEFAULT_SPARSE_VECTOR, DEFAULT_VECTOR, NAMESPACE_SEPARATOR, QdrantSettings

MAX_WRITE_RECORDS = 1_000
MAX_WRITE_BYTES = 16_000_000  # half of the server's default 32 MB request limit, as JSON
MAX_IDS = 1_000
COUNT_PAGE = 10_000
PREFIX_PAGE = 512  # points scrolled per request while matching a prefix
LOCAL_READ_AHEAD = 10_000  # points per local-mode listing request (each costs a pass over the collection)
MAX_AHEAD = 64


@dataclass(frozen=True)
class _Ahead:
    """IDs listed beyond the page a caller asked for, and where the scroll goes on after them."""

    pairs: list[tuple[mapping.PointId, str]]  # (point ID, record ID)
    after: mapping.PointId | None
    exhausted: bool


class QdrantStore:
    """One Qdrant collection (or, with ``namespaces=collections``, a family of them)."""

    def __init__(self, settings: QdrantSettings) -> None:
        self.settings = settings
        self.connection = Connection(settings)
        self._schemas: dict[str, Schema] = {}
        self._creating = threading.Lock()
        # Listing pages read ahead, by (collection, namespace, prefix, cursor); dropped by any write.
        self._ahead: dict[tuple[str, str, str, str], _Ahead] = {}
        self._ahead_lock = threading.Lock()

    # -- pickling: a server store travels as its URI; a local-mode folder stays in its process -------------

    def __reduce__(self) -> tuple[Any, ...]:
        if self.settings.local:
            raise TypeError(
                "a Qdrant local-mode store is not sent to other processes: its folder is open in this one"
            )
        return (type(self), (self.settings,))

    def close(self) -> None:
        self.connection.close()

    # -- where each namespace lives -------------------------------------------------------------------------

    @property
    def _by_field(self) -> bool:
        return self.settings.namespaces == "field"

    def _collection(self, namespace: str) -> str:
        base = self.settings.collection
        if self._by_field or namespace == DEFAULT_NAMESPACE:
            return base
        # Percent-encoded: a namespace may hold characters a collection name may not ("/", ":", ...).
        return f"{base}{NAMESPACE_SEPARATOR}{quote(namespace, safe='')}"

    def _namespace_filter(self, namespace: str) -> models.Filter | None:
        if not self._by_field:
            return None
        key = self.settings.namespace_field
        if namespace == DEFAULT_NAMESPACE:
            return models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key=key))])
        return models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=namespace))])

    def _reserved(self) -> tuple[str, ...]:
        return (mapping.ID_KEY, self.settings.namespace_field) if self._by_field else (mapping.ID_KEY,)

    def _schema(self, collection: str) -> Schema | None:
        """The collection's schema; None when it does not exist."""
        known = self._schemas.get(collection)
        if known is not None:
            return known
        if not self.connection.folder_exists():
            return None

        def read(client: QdrantClient) -> models.CollectionInfo | None:
            if not client.collection_exists(collection):
                return None
            return client.get_collection(collection)

        info = self.connection.call("describe", read)
        if info is None:
            return None
        schema = schema_of(info, self.settings, collection)
        self._schemas[collection] = schema
        return schema

    def _base_schema(self) -> Schema:
        schema = self._schema(self.settings.collection)
        if schema is None:
            raise UserError(
                f"Qdrant collection {self.settings.collection!r} does not exist at {self.settings.location}."
            )
        return schema

    def _namespace_collections(self) -> dict[str, str]:
        """namespaces=collections: namespace -> collection, for every collection of the family."""
        base = self.settings.collection
        names = self.connection.call(
            "list collections", lambda client: [c.name for c in client.get_collections().collections]
        )
        found = {DEFAULT_NAMESPACE: base} if base in names else {}
        prefix = base + NAMESPACE_SEPARATOR
        for name in names:
            if name.startswith(prefix) and len(name) > len(prefix):
                found[unquote(name[len(prefix) :])] = name
        return found

    # -- the store protocol ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._schema(self.settings.collection) is not None

    def room(self) -> Room:
        schema = self._schema(self.settings.collection)
        return QDRANT if schema is None else schema.room()

    def describe(self) -> StoreDescription:
        schema = self._base_schema()
        return StoreDescription(
            name=self.settings.collection,
            shape=schema.shape(),
            namespace_counts=self._counts(),
            deployment_type="qdrant",
            location=self.settings.location,
        )

    def _counts(self) -> dict[str, int]:
        if not self._by_field:
            counts = {}
            for namespace, collection in self._namespace_collections().items():
                count = self._count(collection)
                if count:
                    counts[namespace] = count
            return counts
        found: Counter[str] = Counter()
        key = self.settings.namespace_field
        offset: mapping.PointId | None = None
        while True:
            points, offset = self._scroll("count", self.settings.collection, None, offset, COUNT_PAGE, [key])
            found.update(mapping.namespace_of(point, key) for point in points)
            if offset is None:
                return dict(found)

    def _count(self, collection: str) -> int:
        return self.connection.call("count", lambda client: client.count(collection, exact=True).count)

    def _scroll(
        self,
        operation: str,
        collection: str,
        scroll_filter: models.Filter | None,
        offset: mapping.PointId | None,
        limit: int,
        keys: list[str],
    ) -> tuple[list[models.Record], mapping.PointId | None]:
        """One page of points in point-ID order from ``offset``, with only the payload ``keys``."""

        def scroll(client: QdrantClient) -> tuple[list[models.Record], mapping.PointId | None]:
            points, following = client.scroll(
                collection,
                scroll_filter=scroll_filter,
                limit=limit,
                offset=offset,
                with_payload=models.PayloadSelectorInclude(include=keys),
                with_vectors=False,
            )
            return points, None if following is None else _point_id(following)

        return self.connection.call(operation, scroll)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            lists_bytewise=False,
            max_write_records=MAX_WRITE_RECORDS,
            max_write_bytes=MAX_WRITE_BYTES,
            max_delete_ids=MAX_IDS,
            max_fetch_ids=MAX_IDS,
            max_list_page=MAX_IDS,
        )

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        if not 1 <= limit <= MAX_IDS:
            raise UserError(f"a Qdrant listing page holds 1 to {MAX_IDS} IDs, not {limit}.")
        collection = self._collection(namespace)
        if self._schema(collection) is None:
            return IdPage(ids=[], cursor=None)
        key = (collection, namespace, prefix)
        ahead = self._read_ahead(key, cursor)
        if ahead is None:
            ahead = _Ahead([], _decode_cursor(cursor), exhausted=False)
        pairs, after, exhausted = list(ahead.pairs), ahead.after, ahead.exhausted
        while len(pairs) < limit and not exhausted:
            points, after = self._listing_page(
                collection, namespace, after, limit if not prefix else PREFIX_PAGE
            )
            exhausted = after is None
            for point in points:
                record_id = mapping.record_id_of(point)
                if record_id.startswith(prefix) and self._in_namespace(point, namespace):
                    pairs.append((_point_id(point.id), record_id))
        page, rest = pairs[:limit], pairs[limit:]
        following: str | None
        if rest:
            following = _encode_cursor(rest[0][0])
            self._keep_ahead(key, following, _Ahead(rest, after, exhausted))
        else:
            following = None if exhausted or after is None else _encode_cursor(after)
        return IdPage(ids=[record_id for _, record_id in page], cursor=following)

    def _listing_page(
        self, collection: str, namespace: str, after: mapping.PointId | None, size: int
    ) -> tuple[list[models.Record], mapping.PointId | None]:
        """Points of a listing from ``after``. A server filters by namespace itself (with an index); local
        mode evaluates a filter on every point of the collection at each request, so it reads a long page
        unfiltered instead and the namespace is matched here."""
        keys = [mapping.ID_KEY] + ([self.settings.namespace_field] if self._by_field else [])
        if self.settings.local:
            return self._scroll("list", collection, None, after, LOCAL_READ_AHEAD, keys)
        return self._scroll("list", collection, self._namespace_filter(namespace), after, size, keys)

    def _in_namespace(self, point: models.Record, namespace: str) -> bool:
        return not self._by_field or mapping.namespace_of(point, self.settings.namespace_field) == namespace

    def _read_ahead(self, key: tuple[str, str, str], cursor: str | None) -> _Ahead | None:
        if cursor is None:
            return None
        with self._ahead_lock:
            return self._ahead.get((key[0], key[1], key[2], cursor))

    def _keep_ahead(self, key: tuple[str, str, str], cursor: str, ahead: _Ahead) -> None:
        with self._ahead_lock:
            self._ahead[(key[0], key[1], key[2], cursor)] = ahead
            while len(self._ahead) > MAX_AHEAD:
                del self._ahead[next(iter(self._ahead))]

    def _forget_ahead(self) -> None:
        with self._ahead_lock:
            self._ahead.clear()

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        if not ids:
            return []
        if len(ids) > MAX_IDS:
            raise UserError(f"a Qdrant fetch asks for at most {MAX_IDS} IDs, not {len(ids)}.")
        collection = self._collection(namespace)
        schema = self._schema(collection)
        if schema is None:
            return []
        wanted = set(ids)
        points = self.connection.call(
            "fetch",
            lambda client: client.retrieve(
                collection,
                ids=mapping.candidates(namespace, wanted),
                with_payload=True,
                with_vectors=schema.vector_names(),
            ),
        )
        found: dict[str, Record] = {}
        reserved = self._reserved()
        for point in points:
            if self._by_field and mapping.namespace_of(point, self.settings.namespace_field) != namespace:
                continue
            record = mapping.record_of(point, schema.dense, schema.sparse, reserved)
            if record.id in wanted and (record.id not in found or isinstance(point.id, str)):
                found[record.id] = record
        return list(found.values())

    def request_size(self, record: Record) -> int:
        size = 120 + len(record.id.encode("utf-8")) * 2  # the point's envelope, the UUID and the kept ID
        if record.values is not None:
            size += 14 * record.dimension
        if record.sparse is not None:
            size += 26 * len(record.sparse)
        if record.metadata:
            size += len(orjson.dumps(record.metadata))
        return size

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        if not records:
            return WriteAck(count=0)
        if len(records) > MAX_WRITE_RECORDS:
            raise RecordsRejected("upsert", f"{len(records)} records exceed {MAX_WRITE_RECORDS} per request")
        collection = self._collection(namespace)
        schema = self._schema(collection) or self._namespace_collection(collection)
        field = self.settings.namespace_field if self._by_field else None
        local = self.settings.local
        points = []
        for record in records:
            _check(record, schema, field)
            if schema.cosine:
                record = normalised(record)
            point: dict[str, Any] = {
                "id": mapping.point_id(namespace, record.id),
                "vector": mapping.vectors_of(record, schema.dense, schema.sparse, arrays=local),
                "payload": mapping.payload_of(record, namespace, field),
            }
            # Local mode takes the arrays as they are (validating would make them lists again).
            points.append(
                models.PointStruct.model_construct(**point) if local else models.PointStruct(**point)
            )
        self._forget_ahead()
        self.connection.call("upsert", lambda client: client.upsert(collection, points, wait=True))
        return WriteAck(count=len(records))

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if not ids:
            return WriteAck(count=0)
        if len(ids) > MAX_IDS:
            raise UserError(f"a Qdrant delete names at most {MAX_IDS} IDs, not {len(ids)}.")
        collection = self._collection(namespace)
        if self._schema(collection) is None:
            return WriteAck(count=len(ids))
        wanted = set(ids)

        def remove(client: QdrantClient) -> None:
            points = client.retrieve(
                collection,
                ids=mapping.candidates(namespace, wanted),
                with_payload=list(self._reserved()),
                with_vectors=False,
            )
            doomed = [
                point.id
                for point in points
                if mapping.record_id_of(point) in wanted
                and (
                    not self._by_field
                    or mapping.namespace_of(point, self.settings.namespace_field) == namespace
                )
            ]
            if doomed:
                client.delete(collection, points_selector=models.PointIdsList(points=doomed), wait=True)

        self._forget_ahead()
        self.connection.call("delete", remove)
        return WriteAck(count=len(ids))

    # -- making a collection ---------------------------------------------------------------------------------

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
            raise UserError(f"{', '.join(given)} mean nothing for a Qdrant collection: leave them out.")
        if self.exists():
            raise UserError(f"Qdrant collection {self.settings.collection!r} exists already.")
        shape = source.shape
        if shape.vector_type == "dense" and shape.metric not in DISTANCES:
            raise UserError(
                f"Qdrant has no metric {shape.metric!r}: it offers {', '.join(sorted(DISTANCES))}."
            )
        if shape.dimension is not None and shape.dimension > MAX_DIMENSION:
            raise UserError(f"Qdrant vectors have at most {MAX_DIMENSION} dimensions, not {shape.dimension}.")
        dense_name = self.settings.vector or DEFAULT_VECTOR
        sparse_name = self.settings.sparse_vector or DEFAULT_SPARSE_VECTOR
        dense: dict[str, models.VectorParams] = {}
        if shape.vector_type == "dense":
            dense[dense_name] = models.VectorParams(
                size=shape.dimension or 0, distance=DISTANCES[shape.metric]
            )
        self._create(self.settings.collection, dense, sparse_name)

    def _create(
        self, collection: str, dense: dict[str, models.VectorParams] | models.VectorParams, sparse_name: str
    ) -> None:
        local = self.settings.local
        keyword_fields = [mapping.ID_KEY] + ([self.settings.namespace_field] if self._by_field else [])

        def create(client: QdrantClient) -> None:
            client.create_collection(
                collection,
                vectors_config=dense,
                sparse_vectors_config={sparse_name: models.SparseVectorParams()},
            )
            if not local:  # local mode keeps no payload indexes
                for key in keyword_fields:
                    client.create_payload_index(collection, key, models.PayloadSchemaType.KEYWORD, wait=True)

        self.connection.call("create collection", create)
        self._schemas.pop(collection, None)

    def _namespace_collection(self, collection: str) -> Schema:
        """namespaces=collections: the collection of a namespace written for the first time, made like the
        base collection."""
        base = self._base_schema()
        with self._creating:
            schema = self._schema(collection)
            if schema is not None:
                return schema
            dense: dict[str, models.VectorParams] | models.VectorParams = {}
            if base.dense is not None:
                params = models.VectorParams(
                    size=base.dimension or 0, distance=models.Distance(base.distance)
                )
                dense = params if base.dense == "" else {base.dense: params}
            self._create(collection, dense, base.sparse or DEFAULT_SPARSE_VECTOR)
            created = self._schema(collection)
            assert created is not None
            return created


def _check(record: Record, schema: Schema, field: str | None) -> None:
    """Refuse a record the collection cannot hold (the whole batch: nothing of it is written)."""
    reserved = mapping.reserved_key(record, field)
    if reserved is not None:
        _refuse(
            record,
            f"metadata key {reserved!r} is where this store keeps the record's "
            f"{'ID' if reserved == mapping.ID_KEY else 'namespace'}",
        )
    if record.values is not None:
        if schema.dense is None:
            _refuse(record, "the collection has no dense vector")
        if record.dimension != schema.dimension:
            _refuse(
                record, f"dimension {record.dimension} does not match the collection's {schema.dimension}"
            )
    elif schema.dense == "":
        _refuse(record, "the collection's unnamed vector needs dense values")
    if record.sparse is not None and schema.sparse is None:
        _refuse(record, "the collection has no sparse vector")


def _refuse(record: Record, reason: str) -> NoReturn:
    raise RecordsRejected("upsert", f"record {record.id!r}: {reason}")


def _point_id(point: Any) -> mapping.PointId:
    return point if isinstance(point, int) else str(point)


def _encode_cursor(point: mapping.PointId | uuid.UUID) -> str:
    return f"i{point}" if isinstance(point, int) else f"u{uuid.UUID(str(point))}"


def _decode_cursor(cursor: str | None) -> mapping.PointId | None:
    if cursor is None:
        return None
    try:
        if cursor.startswith("i") and cursor[1:].isdigit():
            return int(cursor[1:])
        if cursor.startswith("u"):
            return str(uuid.UUID(cursor[1:]))
    except ValueError:
        pass
    raise UserError(f"{cursor!r} is not a cursor of a Qdrant listing: start the listing again without it.")
