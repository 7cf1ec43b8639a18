"""A Milvus collection as a store: listing by primary-key order, exact fetches, upserts, deletes.

Listing: a query with ``iterator`` set returns the smallest primary keys after a bound in key order (what
pymilvus's own query iterator relies on; Milvus Lite sorts by key for it), so pages follow ``pk > last``.
In a collection laid out by this tool the key is ``<len>:<namespace><id>``, so key order within a namespace
is the IDs' bytewise order and a namespace is one key range. Every read asks for Strong consistency (reads
see every acknowledged write).

Milvus Lite takes one process per data directory and one writer per collection: this store writes one
batch at a time to a Lite collection (the engine's other threads read meanwhile), and a store on a Lite
directory cannot be sent to worker processes (pickling it says so; verify then scans with threads). A store
on a server travels as its address and connects again where it arrives. Lite sorts every row of a
collection for each ordered query, so on Lite a namespace's keys are read once per listing and paged from
memory until this process writes to the collection (at most 5 s). Lite keeps a collection's load state in
the serving process: a Lite source is loaded when opened (nothing stored changes); a source on a server
must be loaded already.
"""

from __future__ import annotations

import base64
import bisect
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from ...errors import RecordsRejected, RemoteError, UserError
from ...records import Record
from ..base import (
    DEFAULT_NAMESPACE,
    Capabilities,
    IdPage,
    StoreDescription,
    WriteAck,
    placement_options_given,
)
from ..fidelity import Room
from ..uri import Side, StoreUri, require
from . import expressions as expr
from .address import MilvusAddress
from .layout import MARK, MILVUS_ROOM, Layout, created, indexes, inferred, refuse_shape, schema_fields
from .partitions import DEFAULT_PARTITION, namespace_of, partition_of
from .rows import namespace_prefix, primary_key, record_of, refusal, row_of

T = TypeVar("T")
MAX_QUERY_ROWS = 16_384  # Milvus's limit on one query's offset + limit
CONNECT_SECONDS = 10.0
CALL_SECONDS = 60.0
# A Lite data directory is this process's alone (a lock): its writes are all seen here. A served Lite
# directory may be written by other clients: what is held is read again after this long.
SNAPSHOT_SECONDS = 5.0
_lite_writers: dict[str, threading.Lock] = {}
# Milvus Lite listings held in memory: (location, namespace) -> (write version, taken at, sorted keys).
_snapshots: dict[tuple[str, str], tuple[int, float, list[tuple[Any, str]]]] = {}
_versions: Counter[str] = Counter()
_snapshots_lock = threading.Lock()
_lite_writers_lock = threading.Lock()
_CONNECTION_WORDS = (
    "fail connecting",
    "unavailable",
    "deadline",
    "connection refused",
    "timeout",
    "timed out",
)
_AUTH_WORDS = ("auth", "credential", "password", "token", "permission", "privilege", "denied")


class MilvusStore:
    """One Milvus collection. Nothing is contacted until the first call (``exists()`` in a run)."""

    def __init__(self, address: MilvusAddress) -> None:
        self.address = address
        self._client: Any = None
        self._layout: Layout | None = None
        self._loaded = False
        self._lite = address.is_lite
        self._lock = threading.Lock()

    # -- pickling: a server store travels as its address ---------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        if self.address.is_lite:
            raise TypeError(
                f"{self.address.describe()}: Milvus Lite takes one process per data directory, so this store "
                "cannot be used from other processes"
            )
        return (MilvusStore, (self.address,))

    # -- connection and errors -----------------------------------------------------------------------------

    def _milvus(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        pymilvus = _require_pymilvus(self.address)
        token = self.address.token()
        try:
            client = pymilvus.MilvusClient(
                uri=self.address.client_uri(),
                token=token,
                db_name="" if self.address.is_lite else self.address.db,
                timeout=CONNECT_SECONDS,
            )
        except Exception as error:  # pymilvus raises MilvusException or its subclasses, or grpc's errors
            raise self._failure("connect", error) from None
        if not self._lite:
            try:
                self._lite = str(client.get_server_version()).startswith("milvus_lite")
            except Exception as error:
                raise self._failure("connect", error) from None
        return client

    def _failure(self, operation: str, error: BaseException, *, writing: bool = False) -> Exception:
        """One of the library's errors for what pymilvus raised."""
        message = str(getattr(error, "message", "") or error).strip().splitlines()[0][:400]
        lowered = message.lower()
        where = self.address.describe()
        if self.address.is_lite and "open local milvus failed" in lowered:
            return UserError(
                f"{self.address.flag} {self.address.text}: Milvus Lite could not open "
                f"{self.address.lite_path}: another process has it open (Milvus Lite takes one process at a "
                "time). Stop that process, or serve the directory (python -m milvus_lite server "
                "--data-dir ...) and use milvus://host:port/collection."
            )
        if any(word in lowered for word in _AUTH_WORDS) and "unavailable" not in lowered:
            variable = self.address.token_env
            hint = (
                f"check the token in {variable} (token_env)"
                if variable
                else "set a token (user:password or API key) in an environment variable and name it with "
                "?token_env=VAR"
            )
            return UserError(
                f"{self.address.flag} {self.address.text}: Milvus refused access ({message}): {hint}."
            )
        if any(word in lowered for word in _CONNECTION_WORDS):
            return RemoteError(operation, f"{where} is unreachable: {message}", retryable=True)
        if writing:
            return RecordsRejected(operation, message)
        return RemoteError(operation, f"{where}: {message}", retryable=False)

    def _call(self, operation: str, call: Callable[[Any], T], *, writing: bool = False) -> T:
        client = self._milvus()
        try:
            return call(client)
        except (UserError, RemoteError, RecordsRejected):
            raise
        except Exception as error:
            raise self._failure(operation, error, writing=writing) from None

    # -- what the collection is ----------------------------------------------------------------------------

    def exists(self) -> bool:
        lite_path = self.address.lite_path
        if lite_path is not None and not os.path.isdir(lite_path) and self._client is None:
            return False  # opening it would create the data directory: nothing is made to find out
        return bool(self._call("describe", lambda c: c.has_collection(self.address.collection)))

    def layout(self) -> Layout:
        if self._layout is None:
            if not self.exists():
                raise self.address.problem(f"the {self.address.describe()} does not exist.")
            self._layout = self._described()
        return self._layout

    def _described(self) -> Layout:
        name = self.address.collection
        described = self._call("describe", lambda c: c.describe_collection(name))
        metrics: dict[str, str] = {}
        for field in described.get("fields", []):
            if field["type"] not in (101, 104):  # vector fields
                continue
            field_name = str(field["name"])
            names: list[str] = self._call("describe", _indexes_of(name, field_name))
            for index_name in names or []:
                info: dict[str, Any] = self._call("describe", _index_info(name, index_name))
                if info and info.get("metric_type"):
                    metrics[field["name"]] = str(info["metric_type"]).upper()
        return inferred(self.address, described, metrics)

    def _ready(self) -> Layout:
        """The layout, with the collection loaded. A target is loaded; so is a Milvus Lite source, whose
        load state lives in the process serving it and nothing stored changes (it starts unloaded in every
        new process); a source on a Milvus server must be loaded already (loading it there would change
        what the cluster holds in memory for its other users)."""
        layout = self.layout()
        if not self._loaded:
            name = self.address.collection
            state = self._call("load", lambda c: c.get_load_state(name))
            if "NotLoad" in str(state.get("state")):
                if self.address.side == "source" and not self._lite:
                    raise self.address.problem(
                        f"the {self.address.describe()} is not loaded: load it (load_collection) and run "
                        "again; a source is only read."
                    )
                self._call("load", lambda c: c.load_collection(name))
            self._loaded = True
        return layout

    def room(self) -> Room:
        if self._layout is None and not self.exists():
            return MILVUS_ROOM
        return self.layout().room()

    def describe(self) -> StoreDescription:
        layout = self._ready()
        return StoreDescription(
            name=self.address.collection,
            shape=layout.shape,
            namespace_counts=self._namespace_counts(layout),
            deployment_type="milvus",
            location=self.address.location(),
        )

    def capabilities(self) -> Capabilities:
        layout = self._layout
        bytewise = layout is None or (layout.ours or (layout.id == layout.pk and not layout.pk_is_int))
        return Capabilities(
            lists_bytewise=bytewise,
            max_write_records=1_000,
            max_write_bytes=16_000_000,
            max_fetch_ids=1_000,
            max_delete_ids=1_000,
            max_list_page=1_000,
        )

    # -- counting ------------------------------------------------------------------------------------------

    def _partitions(self) -> bool:
        return self.address.namespaces == "partitions"

    def _count(self, filter_text: str, partitions: list[str] | None = None) -> int:
        name = self.address.collection
        rows = self._call(
            "count",
            lambda c: c.query(
                name,
                filter=filter_text,
                output_fields=["count(*)"],
                partition_names=partitions,
                consistency_level="Strong",
            ),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _namespace_counts(self, layout: Layout) -> dict[str, int]:
        if self._partitions():
            found: dict[str, int] = {}
            for partition in self._call("describe", lambda c: c.list_partitions(self.address.collection)):
                namespace = namespace_of(partition)
                if namespace is not None:
                    found[namespace] = self._count(_everything(layout, namespace), [partition])
            return {namespace: count for namespace, count in found.items() if count}
        if layout.ours and self._lite:
            return self._counts_of_all_keys(layout)
        if layout.ours:
            return self._counts_by_key_ranges(layout)
        if layout.namespace is None:
            total = self._count("")
            return {DEFAULT_NAMESPACE: total} if total else {}
        counts: Counter[str] = Counter()
        for rows in self._scan(layout, [layout.namespace], None):
            counts.update(str(row[layout.namespace]) for row in rows)
        return dict(counts)

    def _counts_of_all_keys(self, layout: Layout) -> dict[str, int]:
        """Every key read once, unordered (Milvus Lite counts by reading whole rows, and orders by sorting
        the whole collection: one plain read of the keys is the cheapest)."""
        name = self.address.collection
        rows = self._call(
            "count",
            lambda c: c.query(
                name, filter=f'{layout.pk} >= ""', output_fields=[layout.pk], consistency_level="Strong"
            ),
        )
        return dict(Counter(_namespace_in_key(str(row[layout.pk])) for row in rows))

    def _counts_by_key_ranges(self, layout: Layout) -> dict[str, int]:
        """Each namespace is one key range ("<len>:<namespace>..."): find the first key of the next range,
        count the range, skip past it."""
        counts: dict[str, int] = {}
        bound: str | None = None
        while True:
            rows = self._query(
                layout, f"{layout.pk} >= {expr.quoted(bound)}" if bound else "", [layout.pk], 1
            )
            if not rows:
                return counts
            namespace = _namespace_in_key(str(rows[0][layout.pk]))
            prefix = namespace_prefix(layout, namespace)
            counts[namespace] = self._count(expr.starting_with(layout.pk, prefix) or "")
            bound = expr.successor(prefix)
            if bound is None:
                return counts

    def _scan(self, layout: Layout, fields: list[str], filter_text: str | None) -> Any:
        last: str | int | None = None
        while True:
            bound = None if last is None else expr.after(layout.pk, last)
            rows = self._query(layout, expr.both(filter_text, bound), [layout.pk, *fields], MAX_QUERY_ROWS)
            if not rows:
                return
            yield rows
            if len(rows) < MAX_QUERY_ROWS:
                return
            last = rows[-1][layout.pk]

    def _query(
        self,
        layout: Layout,
        filter_text: str,
        fields: list[str],
        limit: int | None,
        partitions: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows in primary-key order (``iterator`` asks Milvus for the smallest keys, in order)."""
        name = self.address.collection
        options: dict[str, Any] = {"iterator": "True"} if limit is not None else {}
        rows = self._call(
            "list",
            lambda c: c.query(
                name,
                filter=filter_text,
                output_fields=fields,
                limit=limit,
                partition_names=partitions,
                consistency_level="Strong",
                **options,
            ),
        )
        found = [dict(row) for row in rows]
        found.sort(key=lambda row: _key_order(row[layout.pk]))
        return found

    # -- listing and fetching ------------------------------------------------------------------------------

    def _partition_names(self, namespace: str) -> list[str] | None:
        """The partition to read for ``namespace`` ([] when it has none), None outside partitions mode."""
        if not self._partitions():
            return None
        partition = partition_of(namespace)
        if partition is None:
            return []
        name = self.address.collection
        exists = partition == DEFAULT_PARTITION or self._call(
            "list", lambda c: c.has_partition(name, partition)
        )
        return [partition] if exists else []

    def _namespace_filter(self, layout: Layout, namespace: str) -> str | None:
        if layout.ours or self._partitions():
            return None
        if layout.namespace is None:
            return None if namespace == DEFAULT_NAMESPACE else "false"
        return expr.equals(layout.namespace, namespace)

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        layout = self._ready()
        most = self.capabilities().max_list_page
        if not 1 <= limit <= most:
            raise RemoteError(
                "list", f"[400] limit must be between 1 and {most}, got {limit}", retryable=False
            )
        after = _cursor_position(cursor, prefix)
        partitions = self._partition_names(namespace)
        namespace_filter = self._namespace_filter(layout, namespace)
        if partitions == [] or namespace_filter == "false":
            return IdPage(ids=[], cursor=None)
        key_prefix = namespace_prefix(layout, namespace)
        if layout.ours or (layout.id == layout.pk and not layout.pk_is_int):
            prefix_filter = expr.starting_with(layout.pk, key_prefix + prefix)
        else:
            prefix_filter = expr.starting_with(layout.id, prefix) if not layout.pk_is_int else None
        if self._lite:
            rows = self._listed_from_snapshot(layout, namespace, partitions, prefix, after, limit + 1)
        else:
            bound = None if after is None else expr.after(layout.pk, after)
            rows = self._query(
                layout,
                expr.both(namespace_filter, prefix_filter, bound),
                [layout.pk, layout.id],
                limit + 1,
                partitions,
            )
        if layout.pk_is_int and prefix:
            rows = [row for row in rows if str(row[layout.id]).startswith(prefix)]
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [str(row[layout.id]) for row in rows]
        return IdPage(ids=ids, cursor=_encode_cursor(prefix, rows[-1][layout.pk]) if more else None)

    def _listed_from_snapshot(
        self,
        layout: Layout,
        namespace: str,
        partitions: list[str] | None,
        prefix: str,
        after: str | int | None,
        count: int,
    ) -> list[dict[str, Any]]:
        """Up to ``count`` rows of a listing page, from the namespace's keys held in memory.

        Milvus Lite sorts every row of a collection for each ordered query, so a page costs as much as
        the whole listing; the keys of a namespace are read once instead and kept while nothing is written
        to the collection from this process (and for a few seconds at most: another process may write to a
        served Lite directory)."""
        keys = self._namespace_keys(layout, namespace, partitions)
        by_key = layout.ours or (layout.id == layout.pk and not layout.pk_is_int)
        wanted_prefix = namespace_prefix(layout, namespace) + prefix
        start = 0
        if by_key:
            start = bisect.bisect_left(keys, (wanted_prefix,))
        if after is not None:
            start = max(start, bisect.bisect_right(keys, (after, "\U0010ffff" * 2)))
        rows: list[dict[str, Any]] = []
        for key, record_id in keys[start:]:
            if len(rows) == count or (by_key and not str(key).startswith(wanted_prefix)):
                break
            if not by_key and not record_id.startswith(prefix):
                continue
            rows.append({layout.pk: key, layout.id: record_id})
        return rows

    def _namespace_keys(
        self, layout: Layout, namespace: str, partitions: list[str] | None
    ) -> list[tuple[Any, str]]:
        place = self.address.location()
        cache_key = (place, namespace)
        with _snapshots_lock:
            version = _versions[place]
            held = _snapshots.get(cache_key)
            fresh = self.address.is_lite or time.monotonic() - held[1] < SNAPSHOT_SECONDS if held else False
            if held is not None and held[0] == version and fresh:
                return held[2]
        taken = time.monotonic()
        ranged = expr.starting_with(layout.pk, namespace_prefix(layout, namespace)) if layout.ours else None
        filter_text = expr.both(self._namespace_filter(layout, namespace), ranged)
        name = self.address.collection
        rows = self._call(
            "list",
            lambda c: c.query(
                name,
                filter=filter_text or _everything(layout, namespace),
                output_fields=[layout.pk, layout.id],
                partition_names=partitions,
                consistency_level="Strong",
            ),
        )
        keys = sorted((row[layout.pk], str(row[layout.id])) for row in rows)
        with _snapshots_lock:
            _snapshots[cache_key] = (version, taken, keys)
        return keys

    def _written(self) -> None:
        """Listings held in memory are out of date once this process writes to the collection."""
        if self._lite:
            with _snapshots_lock:
                _versions[self.address.location()] += 1

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        layout = self._ready()
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > self.capabilities().max_fetch_ids:
            raise RemoteError(
                "fetch", f"[400] at most 1000 IDs per request, got {len(wanted)}", retryable=False
            )
        if not wanted:
            return []
        partitions = self._partition_names(namespace)
        if partitions == [] or self._namespace_filter(layout, namespace) == "false":
            return []
        if layout.ours or layout.id == layout.pk:
            keys = [primary_key(layout, namespace, i) for i in wanted if _fits_key(layout, i)]
            if not keys:
                return []
            filter_text = expr.among(layout.pk, keys)
        else:
            filter_text = expr.among(layout.id, wanted)
        name = self.address.collection
        rows = self._call(
            "fetch",
            lambda c: c.query(
                name,
                filter=filter_text,
                output_fields=layout.output_fields(),
                partition_names=partitions,
                consistency_level="Strong",
            ),
        )
        found: dict[str, Record] = {}
        for row in rows:
            if layout.namespace is not None and not layout.ours and row.get(layout.namespace) != namespace:
                continue
            record = record_of(layout, dict(row))
            found[record.id] = record
        return list(found.values())

    # -- writing -------------------------------------------------------------------------------------------

    def request_size(self, record: Record) -> int:
        dense = 0 if record.values is None else 4 * record.values.size
        sparse = 12 if record.sparse is None else 12 * len(record.sparse)
        metadata = len(orjson.dumps(record.metadata)) if record.metadata else 2
        return 2 * len(record.id.encode()) + dense + sparse + metadata + 48

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        layout = self._ready()
        if not records:
            return WriteAck(count=0)
        self._check_namespace(layout, namespace)
        latest: dict[str, Record] = {}
        for record in records:
            reason = refusal(layout, namespace, record)
            if reason:
                raise RecordsRejected("upsert", f"record {record.id!r}: {reason}")
            latest[record.id] = record
        rows = [row_of(layout, namespace, record) for record in latest.values()]
        partition = self._writable_partition(namespace)
        name = self.address.collection
        with self._writing():
            try:
                self._call("upsert", lambda c: c.upsert(name, rows, partition_name=partition), writing=True)
            finally:
                self._written()
        return WriteAck(count=len(records))

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        layout = self._ready()
        if len(ids) > self.capabilities().max_delete_ids:
            raise RemoteError(
                "delete", f"[400] at most 1000 IDs per request, got {len(ids)}", retryable=False
            )
        partitions = self._partition_names(namespace)
        keys = [primary_key(layout, namespace, i) for i in dict.fromkeys(ids) if _fits_key(layout, i)]
        if not keys or partitions == [] or self._namespace_filter(layout, namespace) == "false":
            return WriteAck(count=len(ids))
        filter_text = expr.both(self._namespace_filter(layout, namespace), expr.among(layout.pk, keys))
        name = self.address.collection
        partition = partitions[0] if partitions else None
        with self._writing():
            try:
                self._call("delete", lambda c: c.delete(name, filter=filter_text, partition_name=partition))
            finally:
                self._written()
        return WriteAck(count=len(ids))

    def _check_namespace(self, layout: Layout, namespace: str) -> None:
        if self._partitions():
            if partition_of(namespace) is None:
                raise RecordsRejected("upsert", f"namespace {namespace!r} is too long for a partition name")
        elif layout.namespace is None and not layout.ours and namespace != DEFAULT_NAMESPACE:
            raise UserError(
                f"{self.address.flag} {self.address.text}: the collection has no namespace field, so it "
                f"holds the default namespace only; map namespace {namespace!r} to __default__ "
                "(--namespace-map) or name a field with ?namespace_field=NAME."
            )

    def _writable_partition(self, namespace: str) -> str | None:
        if not self._partitions():
            return None
        partition = partition_of(namespace)
        assert partition is not None
        name = self.address.collection
        if partition != DEFAULT_PARTITION and not self._call(
            "upsert", lambda c: c.has_partition(name, partition)
        ):
            try:
                self._call("upsert", lambda c: c.create_partition(name, partition))
            except RemoteError:
                if not self._call("upsert", lambda c: c.has_partition(name, partition)):
                    raise
        return partition

    def _writing(self) -> threading.Lock | _NoLock:
        """Milvus Lite has one writer per collection: its writes go one at a time (per process)."""
        if not self._lite:
            return _NoLock()
        key = self.address.lite_path or f"{self.address.host}:{self.address.port}"
        with _lite_writers_lock:
            return _lite_writers.setdefault(f"{key}/{self.address.collection}", threading.Lock())

    # -- creating ------------------------------------------------------------------------------------------

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
            raise self.address.problem(f"{', '.join(given)} mean nothing for Milvus: leave them out.")
        refuse_shape(self.address, source.shape)
        if self.exists():
            raise self.address.problem(f"the {self.address.describe()} exists already.")
        layout = created(source.shape, self._partitions())
        pymilvus = _require_pymilvus(self.address)
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        for field in schema_fields(layout):
            schema.add_field(**field)
        index_params = pymilvus.MilvusClient.prepare_index_params()
        for index in indexes(layout):
            index_params.add_index(**index)
        name = self.address.collection
        self._call(
            "create",
            lambda c: c.create_collection(
                name, schema=schema, index_params=index_params, consistency_level="Strong"
            ),
        )
        self._call("create", lambda c: c.alter_collection_properties(name, properties=dict([MARK])))
        self._call("create", lambda c: c.load_collection(name))
        self._layout = None
        self._loaded = False
        self._ready()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _indexes_of(collection: str, field_name: str) -> Callable[[Any], list[str]]:
    return lambda client: list(client.list_indexes(collection, field_name=field_name) or [])


def _index_info(collection: str, index_name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda client: dict(client.describe_index(collection, index_name) or {})


def _require_pymilvus(address: MilvusAddress) -> Any:
    side: Side | None = (
        "source" if address.side == "source" else "target" if address.side == "target" else None
    )
    pymilvus = require("pymilvus", StoreUri(address.text, "milvus", None, None, None, "", side=side))
    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer", "milvus_lite"):
        # Failures reach the user as one line of ours; pymilvus would also print each to the console.
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def _everything(layout: Layout, namespace: str) -> str:
    """A filter every row of ``namespace`` matches (Milvus Lite counts a whole collection, whatever the
    partitions asked, when the filter is empty)."""
    if layout.ours:
        return expr.starting_with(layout.pk, namespace_prefix(layout, namespace)) or ""
    return f"{layout.pk} >= {-(2**63)}" if layout.pk_is_int else f'{layout.pk} >= ""'


def _namespace_in_key(key: str) -> str:
    length, _, rest = key.partition(":")
    return rest[: int(length)]


def _key_order(key: Any) -> Any:
    return key


def _fits_key(layout: Layout, record_id: str) -> bool:
    return not layout.pk_is_int or (record_id.isdigit() and record_id == str(int(record_id)))


def _encode_cursor(prefix: str, last_key: str | int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["milvus", prefix, last_key])).decode()


def _cursor_position(cursor: str | None, prefix: str) -> str | int | None:
    if not cursor:
        return None
    try:
        tag, cursor_prefix, last = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        tag, cursor_prefix, last = None, None, None
    if tag != "milvus" or cursor_prefix != prefix or not isinstance(last, (str, int)):
        raise RemoteError(
            "list", "[400] invalid pagination token: pass back the cursor unchanged", retryable=False
        )
    return last
