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
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson
import simdjson

from ... import __version__
from ...errors import MigratorError, RecordsRejected, RemoteError, UserError
from ...records import InvalidRecord, Record, SparseValues, checked_record
from .retry import DENIED_STATUSES, REFUSED_STATUSES, RETRYABLE_STATUSES, RetryPolicy

API_VERSION = "2025-10"
QueryParams = list[tuple[str, str | int | float | bool | None]]
# What a 401/403 from an index host becomes: (status, server message, host) -> the error to raise.
Denied = Callable[[int, str, str], MigratorError]
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


def _parse(raw: bytes) -> Any:
    """Parse with this thread's reusable parser (a parser holds one document at a time)."""
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


class DataPlane:
    """One index host. Thread-safe: httpx pools connections, parsers are per thread."""

    def __init__(
        self,
        host: str,
        api_key: str,
        *,
        retry: RetryPolicy,
        rng: random.Random,
        on_throttle: Callable[[], None] | None = None,
        denied: Denied | None = None,
        timeout_seconds: float = 60.0,
    ) -> None:
        base = host if "://" in host else f"https://{host}"  # Pinecone returns hosts without a scheme
        self.host = base
        self._denied = denied or _denied
        self._client = httpx.Client(
            base_url=base,
            headers={
                "Api-Key": api_key,
                "X-Pinecone-Api-Version": API_VERSION,
                "User-Agent": f"pinecone-migrator/{__version__}",
            },
            timeout=httpx.Timeout(timeout_seconds, connect=10.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._retry = retry
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._on_throttle = on_throttle

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
        """One request, retried on 408/429/5xx and connection problems within the retry budget.

        ``refusable``: a 400/413/422 means the records sent are at fault (:class:`RecordsRejected`).
        """
        started = time.monotonic()
        with self._rng_lock:
            delays = list(self._retry.delays(self._rng))
        attempt = 0
        headers = {"Content-Type": "application/json"} if body is not None else None
        while True:
            wait_at_least = 0.0
            try:
                response = self._client.request(method, path, params=params, content=body, headers=headers)
            except httpx.TimeoutException as error:
                failure = RemoteError(
                    operation, f"{self.host} timed out: {type(error).__name__}", retryable=True
                )
            except httpx.TransportError as error:
                failure = RemoteError(
                    operation, f"connection problem with {self.host}: {error}", retryable=True
                )
            else:
                status = response.status_code
                if status < 300:
                    return response
                message = error_message(response)
                if status in DENIED_STATUSES:
                    raise self._denied(status, message, self.host)
                if refusable and status in REFUSED_STATUSES:
                    raise RecordsRejected(operation, message, status)
                if status not in RETRYABLE_STATUSES:
                    raise RemoteError(operation, message, status=status, retryable=False)
                if status == 429 and self._on_throttle is not None:
                    self._on_throttle()
                wait_at_least = _retry_after(response)
                failure = RemoteError(operation, message, status=status, retryable=True)
            if attempt >= len(delays):
                raise failure
            delay = max(delays[attempt], min(wait_at_least, self._retry.max_seconds))
            attempt += 1
            if time.monotonic() - started + delay > self._retry.budget_seconds:
                raise failure
            time.sleep(delay)

    def call_json(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.call(operation, method, path, **kwargs).content)


def _denied(status: int, message: str, host: str) -> UserError:
    return UserError(
        f"The index host {host} refused the API key ({message}). Check the key in the variable named by "
        "--source-api-key-env or --target-api-key-env, whichever this index is."
    )


def lsn(response: httpx.Response, header: str) -> int | None:
    value = response.headers.get(header)
    return int(value) if value is not None and value.isdigit() else None
