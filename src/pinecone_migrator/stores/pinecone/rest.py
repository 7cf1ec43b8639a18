"""Pinecone's data-plane REST API, spoken directly for records (httpx, simdjson, orjson).

Why not the SDK here: a migration spends its CPU on JSON. The SDK turns every float of a fetch into a Python
float inside a model object and, on upsert, validates and re-encodes every float again; in a profile of a
run that was over half of the migrator's time. Here a fetch's values go from the response straight into
float32 arrays, and an upsert is encoded once, with the same bytes used to size the batch and to send it.
The wire format is the documented REST API (``pinecone-api/2025-10/db_data_2025-10.oas.yaml``), which
Pinecone and our local server speak; the SDK is still used for the control plane.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson
import simdjson

from ... import __version__
from ...errors import RemoteError, UserError
from ...records import InvalidRecord, Record, SparseValues, checked_record
from ..base import IdPage, Match, RecordPage
from .retry import Denied, failure_of
from .transport import Written

API_VERSION = "2025-10"
REQUEST_LSN = "x-pinecone-request-lsn"
INDEXED_LSN = "x-pinecone-max-indexed-lsn"
MAX_FETCH_IDS = 1_000  # Pinecone's limit per fetch
QueryParams = list[tuple[str, str | int | float | bool | None]]
# Fetch IDs travel in the URL; keep each request's encoded IDs well under common URL limits.
MAX_FETCH_URL_BYTES = 12_000


def fetch_batches(
    ids: Sequence[str], max_ids: int, max_url_bytes: int = MAX_FETCH_URL_BYTES
) -> Iterator[list[str]]:
    """Split IDs into fetch requests that respect both the ID count and the URL length."""
    batch: list[str] = []
    size = 0
    for record_id in ids:
        cost = len(quote(record_id, safe="")) + len("&ids=")
        if batch and (len(batch) >= max_ids or size + cost > max_url_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record_id)
        size += cost
    if batch:
        yield batch


# -- encoding ------------------------------------------------------------------------------------------------


def encode_record(record: Record) -> bytes:
    """One upsert vector. orjson writes float32 arrays in their shortest float32 form (``0.1``, not
    ``0.10000000149011612``), which the server reads back as exactly the same float32 values."""
    body: dict[str, Any] = {"id": record.id}
    if record.values is not None:
        body["values"] = record.values
    if record.sparse is not None:
        body["sparseValues"] = {"indices": record.sparse.indices, "values": record.sparse.values}
    if record.metadata:
        body["metadata"] = record.metadata
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def upsert_body(namespace: str, encoded_vectors: Sequence[bytes]) -> bytes:
    return b"".join(
        (b'{"vectors":[', b",".join(encoded_vectors), b'],"namespace":', orjson.dumps(namespace), b"}")
    )


# -- decoding ------------------------------------------------------------------------------------------------

_parsers = threading.local()


# A parser keeps the capacity of the largest document it parsed; with dozens of fetching threads, each
# holding a parser grown by a 1,000-record fetch at dimension 1536 (~15 MB of JSON, more in the parser),
# that alone took the migrator past 300 MB. Documents larger than this get a parser of their own, freed
# with the document.
REUSED_PARSER_MAX_BYTES = 1 << 20


def _parse(raw: bytes) -> Any:
    """Parse with this thread's reusable parser (a parser holds one document at a time)."""
    if len(raw) > REUSED_PARSER_MAX_BYTES:
        return simdjson.Parser().parse(raw)
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    try:
        return parser.parse(raw)
    except RuntimeError:  # the previous document is still referenced somewhere: use a fresh parser
        parser = _parsers.parser = simdjson.Parser()
        return parser.parse(raw)


def _dense(values: Any) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    if not isinstance(values, simdjson.Array) or len(values) == 0:
        return None
    with np.errstate(over="ignore"):  # out-of-range values become inf, which Record refuses by name
        return np.frombuffer(values.as_buffer(of_type="d"), dtype=np.float64).astype(np.float32)


def _next_token(document: Any) -> str | None:
    pagination = document.get("pagination")
    token = pagination.get("next") if pagination is not None else None
    return str(token) if token else None


def _fetched_page_fast(raw: bytes) -> tuple[list[Record], str | None]:
    document = _parse(raw)
    vectors = document.get("vectors")
    if vectors is None:
        return [], _next_token(document)
    records = _dense_page(vectors)
    if records is None:
        records = _records_one_by_one(vectors)
    return records, _next_token(document)


def _dense_page(vectors: Any) -> list[Record] | None:
    """The records of a page whose vectors all have dense values of one length and no sparse values, or
    ``None`` for any other page (and for values that are not finite in float32, which the record-by-record
    path refuses by name).

    The values of the whole page are narrowed to float32 and checked in one go, each record keeping a
    read-only row of that block, and the records are built without checking their parts again: this is
    most of a fetch's decoding time otherwise."""
    ids: list[str] = []
    buffers: list[Any] = []  # buffers of float64
    metadatas: list[Any] = []
    width = -1
    for key in vectors:
        vector = vectors[key]
        # Keys are looked up only when present: simdjson's get() of a missing key costs microseconds.
        names = list(vector)
        if "sparseValues" in names or "values" not in names:
            return None
        values = vector["values"]
        if not isinstance(values, simdjson.Array):
            return None
        if len(values) != width:
            if width >= 0:
                return None
            width = len(values)
        buffers.append(values.as_buffer(of_type="d"))
        ids.append(key)
        metadata = vector["metadata"] if "metadata" in names else None
        metadatas.append(metadata.as_dict() if isinstance(metadata, simdjson.Object) else {})
    if not ids:
        return []
    if width == 0:
        return None
    with np.errstate(over="ignore"):
        block = np.frombuffer(b"".join(buffers), dtype=np.float64).astype(np.float32)
    if not np.isfinite(block).all():
        return None
    block = block.reshape(len(ids), width)
    block.flags.writeable = False  # and so is every row
    return [
        checked_record(
            record_id, row, metadata if None not in metadata.values() else _without_nulls(metadata)
        )
        for record_id, row, metadata in zip(ids, block, metadatas, strict=True)
    ]


def _without_nulls(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if value is not None}


def _records_one_by_one(vectors: Any) -> list[Record]:
    records: list[Record] = []
    for key in vectors:
        vector = vectors[key]
        sparse = vector.get("sparseValues")
        metadata = vector.get("metadata")
        plain_metadata: Any = metadata.as_dict() if isinstance(metadata, simdjson.Object) else {}
        records.append(
            Record(
                id=key,
                values=_dense(vector.get("values")),
                sparse=None if sparse is None else SparseValues.from_json(sparse.as_dict()),
                metadata=plain_metadata,
            )
        )
    return records


def fetched_page(raw: bytes) -> tuple[list[Record], str | None]:
    """The records of a fetch (or fetch-by-metadata) response and its next-page token.

    Values are parsed as float64 and rounded to float32 once."""
    try:
        return _fetched_page_fast(raw)
    except InvalidRecord:
        raise
    except (ValueError, RuntimeError, TypeError, KeyError):
        # Something simdjson will not hand over as a buffer (e.g. an integer beyond 64 bits in metadata,
        # an integer inside values): the ordinary parser, record by record.
        document = json.loads(raw)
        vectors = document.get("vectors") or {}
        token = (document.get("pagination") or {}).get("next")
        return [Record.from_json(vector) for vector in vectors.values()], token or None


def message_of(status: int, body: object, fallback: str) -> str:
    """``[status] message`` from either of Pinecone's error shapes (``{"error": {"message"}}`` on the
    control plane, ``{"message"}`` on the data plane)."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return f"[{status}] {inner['message']}"
        if body.get("message"):
            return f"[{status}] {body['message']}"
    return f"[{status}] {fallback}".strip()


def error_message(response: httpx.Response) -> str:
    text = response.text[:500]
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    return message_of(response.status_code, body, text)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


class RestTransport:
    """One index host over REST (:class:`~.transport.Transport`). Thread-safe: httpx pools connections,
    parsers are per thread."""

    name = "rest"

    def __init__(
        self,
        host: str,
        api_key: str,
        *,
        denied: Denied | None = None,
        timeout_seconds: float = 60.0,
        max_url_bytes: int = MAX_FETCH_URL_BYTES,
    ) -> None:
        base = host if "://" in host else f"https://{host}"  # Pinecone returns hosts without a scheme
        self.host = base
        self._denied = denied or _denied
        self._max_url_bytes = max_url_bytes
        self._client = httpx.Client(
            base_url=base,
            headers={
                "Api-Key": api_key,
                "X-Pinecone-Api-Version": API_VERSION,
                "User-Agent": f"pinecone-migrator/{__version__}",
            },
            timeout=httpx.Timeout(timeout_seconds, connect=10.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        )
        # Encodings made while sizing batches, reused by the write that follows (keyed by object identity;
        # the record is kept alongside so that its id cannot be reused while the entry exists).
        self._encoded: dict[int, tuple[Record, bytes]] = {}

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        body: bytes | None = None,
        refusable: bool = False,
    ) -> httpx.Response:
        """One request (no retry): an answer under 300, or the failure as an exception.

        ``refusable``: a 400/413/422 means the records sent are at fault (:class:`RecordsRejected`).
        """
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = self._client.request(method, path, params=params, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise RemoteError(
                operation, f"{self.host} timed out: {type(error).__name__}", retryable=True
            ) from None
        except httpx.TransportError as error:
            raise RemoteError(
                operation, f"connection problem with {self.host}: {error}", retryable=True
            ) from None
        status = response.status_code
        if status < 300:
            return response
        raise failure_of(
            operation,
            status,
            error_message(response),
            self.host,
            denied=self._denied,
            refusable=refusable,
            retry_after=_retry_after(response),
        )

    def call_json(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.call(operation, method, path, **kwargs).content)

    # -- the data plane --------------------------------------------------------------------------------------

    def list_ids(self, namespace: str, prefix: str, cursor: str | None, limit: int) -> IdPage:
        params: QueryParams = [("namespace", namespace), ("limit", limit)]
        if prefix:
            params.append(("prefix", prefix))
        if cursor:
            params.append(("paginationToken", cursor))
        page = self.call_json("list", "GET", "vectors/list", params=params)
        token = (page.get("pagination") or {}).get("next")
        return IdPage(ids=[item["id"] for item in page.get("vectors") or ()], cursor=token or None)

    def fetch_batches(self, ids: Sequence[str]) -> Iterator[list[str]]:
        return fetch_batches(ids, MAX_FETCH_IDS, self._max_url_bytes)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        params: QueryParams = [("namespace", namespace)]
        params += [("ids", record_id) for record_id in ids]
        response = self.call("fetch", "GET", "vectors/fetch", params=params)
        return fetched_page(response.content)[0]

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], cursor: str | None, limit: int
    ) -> RecordPage:
        body: dict[str, Any] = {"namespace": namespace, "filter": metadata_filter, "limit": limit}
        if cursor:
            body["paginationToken"] = cursor
        response = self.call(
            "fetch by metadata", "POST", "vectors/fetch_by_metadata", body=orjson.dumps(body)
        )
        records, token = fetched_page(response.content)
        return RecordPage(records=records, cursor=token)

    def query(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[Match]:
        # Values and metadata are never asked for: Pinecone caps top_k at 1,000 when they are, and they
        # would count against the 4 MB response limit.
        body: dict[str, Any] = {
            "namespace": namespace,
            "topK": top_k,
            "includeValues": False,
            "includeMetadata": False,
        }
        if vector is not None:
            body["vector"] = vector
        if sparse is not None:
            body["sparseVector"] = {"indices": sparse.indices, "values": sparse.values}
        if metadata_filter:
            body["filter"] = metadata_filter
        found = self.call_json(
            "query", "POST", "query", body=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        )
        return [Match(id=str(m["id"]), score=float(m.get("score", 0.0))) for m in found.get("matches") or ()]

    def request_size(self, record: Record) -> int:
        cached = self._encoded.get(id(record))
        if cached is not None and cached[0] is record:
            return len(cached[1]) + 1  # sized again (a paced upsert counts its bytes): not encoded again
        encoded = encode_record(record)
        self._encoded[id(record)] = (record, encoded)
        return len(encoded) + 1  # the comma between vectors

    def _encoding(self, record: Record) -> bytes:
        cached = self._encoded.pop(id(record), None)
        if cached is not None and cached[0] is record:
            return cached[1]
        return encode_record(record)

    def upsert(self, namespace: str, records: Sequence[Record]) -> Written:
        body = upsert_body(namespace, [self._encoding(r) for r in records])
        response = self.call("upsert", "POST", "vectors/upsert", body=body, refusable=True)
        count = response.json().get("upsertedCount", len(records)) if response.content else len(records)
        return Written(int(count), lsn(response, REQUEST_LSN))

    def delete(self, namespace: str, ids: Sequence[str]) -> Written:
        body = {"ids": list(ids), "namespace": namespace}
        response = self.call("delete", "POST", "vectors/delete", body=orjson.dumps(body))
        return Written(len(ids), lsn(response, REQUEST_LSN))

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> Written:
        body = {"id": record_id, "setMetadata": set_metadata, "namespace": namespace}
        response = self.call("update", "POST", "vectors/update", body=orjson.dumps(body))
        return Written(1, lsn(response, REQUEST_LSN))

    def describe_index_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.call_json(
            "describe index stats", "POST", "describe_index_stats", body=b"{}"
        )
        return stats

    def indexed_lsn(self, namespace: str) -> int | None:
        params: QueryParams = [("namespace", namespace), ("limit", 1)]
        return lsn(self.call("list", "GET", "vectors/list", params=params), INDEXED_LSN)


def _denied(status: int, message: str, host: str) -> UserError:
    return UserError(
        f"The index host {host} refused the API key ({message}). Check the key in the variable named by "
        "--source-api-key-env or --target-api-key-env, whichever this index is."
    )


def lsn(response: httpx.Response, header: str) -> int | None:
    value = response.headers.get(header)
    return int(value) if value is not None and value.isdigit() else None
