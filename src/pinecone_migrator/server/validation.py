"""Checks of data-plane input, with Pinecone's limits and wording, and conversion to stored records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from ..filters import FilterError, MetadataPredicate, compile_filter
from .errors import ApiError, invalid_argument
from .store import StoredRecord

MAX_UPSERT_RECORDS = 1_000
MAX_UPSERT_BYTES = 2 * 1024 * 1024
MAX_ID_LENGTH = 512
MAX_METADATA_BYTES = 40 * 1024
MAX_SPARSE_NONZEROS = 2_048
MAX_IDS_PER_REQUEST = 1_000
MAX_TOP_K = 10_000
MAX_LIST_LIMIT = 100
MAX_FETCH_BY_METADATA_LIMIT = 10_000
MAX_NAMESPACE_LENGTH = 512
DEFAULT_NAMESPACE = "__default__"
UINT32_MAX = 2**32 - 1


def namespace_name(value: Any) -> str:
    """The stored name of a namespace: ``""`` and ``"__default__"`` both name the default namespace."""
    if value is None or value == "":
        return DEFAULT_NAMESPACE
    if not isinstance(value, str):
        raise invalid_argument("namespace must be a string.")
    if len(value) > MAX_NAMESPACE_LENGTH or not value.isascii() or "\x00" in value:
        raise invalid_argument(
            f"Namespace name must be 1-{MAX_NAMESPACE_LENGTH} ASCII characters without NUL, "
            f"got {len(value)} characters."
        )
    return value


def record_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str):
        raise invalid_argument(f"Vector {field} must be a string.")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise invalid_argument(
            f"Vector ID must be 1-{MAX_ID_LENGTH} characters long, got {len(value)} characters."
        )
    if not value.isascii() or "\x00" in value:
        raise invalid_argument(f"Vector ID must contain only ASCII characters without NUL: {value[:64]!r}.")
    return value


def id_list(value: Any, field: str = "ids", allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list):
        raise invalid_argument(f"{field} must be a list of vector IDs.")
    if not value and not allow_empty:
        raise invalid_argument(f"{field} must contain at least one vector ID.")
    if len(value) > MAX_IDS_PER_REQUEST:
        raise invalid_argument(
            f"A request can carry at most {MAX_IDS_PER_REQUEST} IDs, got {len(value)}. Split it into batches."
        )
    return [record_id(item) for item in value]


def boolean(body: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_argument(f"{key} must be a boolean.")
    return value


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise invalid_argument(f"{field} must be an integer, got {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_argument(f"{field} must be an integer.")
    if not low <= value <= high:
        raise invalid_argument(f"{field} must be between {low} and {high}, got {value}.")
    return value


def metadata_filter(
    value: Any, *, required: bool = False, empty_message: str = ""
) -> MetadataPredicate | None:
    """Compile a request's filter; ``None`` when absent (and allowed)."""
    if value is None or value == {}:
        if required:
            raise invalid_argument(empty_message or "A non-empty metadata filter is required.")
        return None
    if not isinstance(value, dict):
        raise invalid_argument("filter must be a JSON object.")
    try:
        return compile_filter(value)
    except FilterError as error:
        raise invalid_argument(f"Invalid filter: {error}") from None


def _metadata_value(key: str, item: Any, where: str) -> str | bool | float | list[str]:
    """One metadata value as Pinecone stores it: numbers become float64 (``1`` is stored as ``1.0``, an
    integer above 2**53 is rounded), strings, booleans and lists of strings stay as they are."""
    if isinstance(item, (str, bool)):
        return item
    if isinstance(item, (int, float)):
        try:
            number = float(item)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise invalid_argument(f"Metadata field {key!r}{where} must be a finite float64 number.")
        return number
    if isinstance(item, list):
        if not all(isinstance(element, str) for element in item):
            raise invalid_argument(
                f"Metadata field {key!r}{where} is a list with non-string items: "
                "lists may only contain strings."
            )
        return item
    raise invalid_argument(
        f"Metadata field {key!r}{where} has a value of type {type(item).__name__}: "
        "metadata values must be strings, numbers, booleans or lists of strings "
        "(nested objects are not allowed)."
    )


def metadata_values(value: Any, record: str = "") -> dict[str, Any]:
    """Validated metadata with numbers as float64 and null values dropped.

    Nulls: Pinecone's data plane once answered 400 ("Metadata value must be a string, number, boolean or
    list of strings, got 'null' for field ...", quoted in many client libraries' issues), but SDK 10.2.0
    states, citing the server's source (``NullHandling::Strip`` in ``pc-utils/src/prost_util.rs``), that
    the server now strips null values on write, and accepts them itself so as not to break working code.
    The newer, source-cited evidence wins: a null is dropped, on upsert, in an import and in an update's
    ``setMetadata`` (where it neither sets nor removes the key: SDK 10.2.0 documents that an update "never
    clears a field")."""
    if value is None:
        return {}
    where = f" of vector {record!r}" if record else ""
    if not isinstance(value, dict):
        raise invalid_argument(f"Metadata{where} must be a JSON object.")
    return {key: _metadata_value(key, item, where) for key, item in value.items() if item is not None}


def metadata_text(value: Any, record: str = "") -> str | None:
    """Validated metadata as stored JSON text (numbers as float64, nulls dropped); None when there is none."""
    clean = metadata_values(value, record)
    if not clean:
        return None
    text = orjson.dumps(clean)
    if len(text) > MAX_METADATA_BYTES:
        where = f" of vector {record!r}" if record else ""
        raise invalid_argument(
            f"Metadata size is {len(text)} bytes{where}, which exceeds the limit of "
            f"{MAX_METADATA_BYTES} bytes per vector."
        )
    return text.decode()


def set_metadata_values(value: Any) -> dict[str, Any] | None:
    """An update's ``setMetadata``, validated, numbers as float64 and nulls dropped; None when absent."""
    if value is None:
        return None
    text = metadata_text(value)
    return orjson.loads(text) if text else {}


def sparse_arrays(value: Any, where: str = "") -> tuple[bytes, bytes] | None:
    """Validated sparse values as (uint32 indices, float32 values) bytes; None for an empty vector."""
    if value is None:
        return None
    if not isinstance(value, dict) or "indices" not in value or "values" not in value:
        raise invalid_argument(f"sparseValues{where} must be an object with 'indices' and 'values'.")
    indices, values = value["indices"], value["values"]
    if not isinstance(indices, list) or not isinstance(values, list):
        raise invalid_argument(f"sparseValues{where}: 'indices' and 'values' must be lists.")
    if len(indices) != len(values):
        raise invalid_argument(
            f"Sparse vector{where} has {len(indices)} indices but {len(values)} values: "
            "they must have the same length."
        )
    if not indices:
        return None
    if len(indices) > MAX_SPARSE_NONZEROS:
        raise invalid_argument(
            f"Sparse vector{where} has {len(indices)} non-zero values, more than the limit of "
            f"{MAX_SPARSE_NONZEROS}."
        )
    if not all(type(i) is int and 0 <= i <= UINT32_MAX for i in indices):
        raise invalid_argument(f"Sparse vector{where} indices must be integers from 0 to {UINT32_MAX}.")
    if len(set(indices)) != len(indices):
        raise invalid_argument(f"Sparse vector{where} contains duplicate indices.")
    float_values = _float32(values, f"Sparse vector{where} values")
    return np.asarray(indices, dtype=np.uint32).tobytes(), float_values.tobytes()


def _float32(values: list[Any], what: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise invalid_argument(f"{what} must be numbers.")
    array = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):  # overflow to inf is reported below
        narrowed = array.astype(np.float32)
    if not np.isfinite(narrowed).all():
        raise invalid_argument(f"{what} must be finite numbers within the float32 range.")
    return narrowed


def dense_values(values: Any, dimension: int, where: str = "") -> bytes:
    if values is None:
        values = []
    if not isinstance(values, list):
        raise invalid_argument(f"values{where} must be a list of numbers.")
    if len(values) != dimension:
        raise invalid_argument(
            f"Vector dimension {len(values)} does not match the dimension of the index {dimension}"
        )
    return _float32(values, f"Vector values{where}").tobytes()


def _dense_batch(vectors: list[Any], dimension: int, maybe_booleans: bool) -> list[bytes] | None:
    """Fast path: convert all dense values of a batch at once; None when anything is irregular.

    numpy would silently turn JSON booleans into 1.0/0.0, which Pinecone refuses; scanning every value for
    them is costly, so it is only done when the raw body contains a boolean literal at all.
    """
    try:
        rows = [v["values"] for v in vectors]
        if any(type(r) is not list or len(r) != dimension for r in rows):
            return None
        with np.errstate(over="ignore"):  # overflow to inf is caught by the finiteness check
            matrix = np.array(rows, dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        return None
    if matrix.shape != (len(vectors), dimension) or not np.isfinite(matrix).all():
        return None
    if maybe_booleans and any(isinstance(x, bool) for row in rows for x in row):
        return None
    return [bytes(row) for row in matrix]


def upsert_records(
    body: Mapping[str, Any],
    vector_type: str,
    dimension: int | None,
    metric: str,
    maybe_booleans: bool = True,
    packed_values: list[bytes] | None = None,
) -> list[StoredRecord]:
    """Validated records of an upsert body; ``packed_values`` are dense values already decoded as float32."""
    vectors = body.get("vectors")
    if not isinstance(vectors, list) or not vectors:
        raise invalid_argument("vectors must be a non-empty list of records.")
    if len(vectors) > MAX_UPSERT_RECORDS:
        raise invalid_argument(
            f"Upsert of {len(vectors)} vectors exceeds the limit of {MAX_UPSERT_RECORDS} vectors per request."
        )
    if not all(isinstance(v, dict) for v in vectors):
        raise invalid_argument("Each vector must be a JSON object with an 'id'.")
    dense = packed_values
    if dense is None and vector_type == "dense" and dimension is not None:
        dense = _dense_batch(vectors, dimension, maybe_booleans)
    records: list[StoredRecord] = []
    for position, vector in enumerate(vectors):
        rid = record_id(vector.get("id"))
        where = f" (vector {rid!r})"
        sparse = sparse_arrays(vector.get("sparseValues"), where)
        values = vector.get("values")
        if vector_type == "sparse":
            if values:
                raise invalid_argument(f"Sparse indexes take no dense values{where}: send sparseValues only.")
            if sparse is None:
                raise invalid_argument(f"Sparse vector{where} must have at least one non-zero value.")
            packed = None
        else:
            assert dimension is not None
            packed = dense[position] if dense is not None else dense_values(values, dimension, where)
            if sparse is not None and metric != "dotproduct":
                raise invalid_argument(
                    f"Sparse values{where} are only supported on indexes with the dotproduct metric."
                )
        meta = metadata_text(vector.get("metadata"), rid)
        records.append(
            StoredRecord(rid, packed, sparse[0] if sparse else None, sparse[1] if sparse else None, meta)
        )
    return records


def json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise invalid_argument(
            f"The request body is not valid JSON (a JSON object is expected): {error}"
        ) from None
    if not isinstance(value, dict):
        raise invalid_argument("The request body must be a JSON object.")
    return value


def query_vector(value: Any, dimension: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(dense_values(value, dimension, " of the query"), dtype=np.float32)


def unknown_index(name: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"Index {name!r} not found.")
