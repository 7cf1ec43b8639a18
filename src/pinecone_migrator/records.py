"""The record model and its canonical digest: the one definition every store, copy, verify and sync uses.

A record is what Pinecone stores under one ID in one namespace: dense values (float32), sparse values
(uint32 indices with float32 values) and flat metadata. Two records are the same when their *canonical
encoding* is the same, and the 128-bit digest is a hash of exactly that encoding, so ``a == b`` holds
precisely when ``record_digest(a) == record_digest(b)`` (up to hash collisions).

Canonical encoding, part by part, each part preceded by its length as an 8-byte little-endian integer so
that no two different records can produce the same byte stream by shifting bytes between parts:

1. the ID as UTF-8;
2. the dense values as float32 little-endian (values given as Python floats are rounded to float32 first,
   so a JSON round trip of float32 values changes nothing);
3. the sparse pairs sorted by index, as all indices (uint32 LE) followed by all values (float32 LE);
4. the metadata as canonical JSON: keys sorted, null values and ignored keys dropped, every number as a
   float64 (``1`` and ``1.0`` are the same), booleans kept as booleans (``true`` is never ``1``), list order
   kept, serialised by orjson.

Decisions:

* **Absent and empty are one state.** A dense vector of dimension 0 or a sparse vector with no pairs
  carries no information, Pinecone cannot store either, and its APIs show a sparse-only record's dense
  values as ``[]`` or leave them out depending on the path. :class:`Record` therefore normalises an empty
  array to ``None`` (and ``None`` metadata to ``{}``), and both hash as a zero-length part. Parts are
  positional, so "no dense values" can never be confused with "no sparse values".
* **-0.0 and 0.0 stay distinct.** Bytes are hashed as stored. Pinecone returns what it stored and a JSON
  round trip keeps the sign (``-0.0`` serialises as ``-0.0``), so a copy that flips the sign of a zero has
  changed the data and verify should say so. Equality follows the digest, not ``numpy.array_equal``.
* **NaN and infinities are refused** when a record is built (:class:`InvalidRecord`): Pinecone rejects
  them, JSON cannot carry them (orjson writes ``null``), and NaN has many bit patterns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import xxhash

from .errors import MigratorError

__all__ = [
    "STAMP_KEYS",
    "InvalidRecord",
    "Metadata",
    "MetadataValue",
    "Record",
    "SetDigest",
    "SparseValues",
    "approx_bytes",
    "canonical_encoding",
    "canonical_metadata",
    "checked_record",
    "digest_bytes",
    "digest_of",
    "record_digest",
    "same_record",
]

MetadataValue = str | float | int | bool | list[str]
Metadata = dict[str, MetadataValue]

STAMP_KEYS: frozenset[str] = frozenset({"migrated", "migrated_at"})
"""Metadata keys the tool itself may write into target records; pass as ``ignore_metadata_keys``."""

DIGEST_BITS = 128
_MOD = 1 << DIGEST_BITS
_NO_KEYS: frozenset[str] = frozenset()
_EMPTY_PART = (0).to_bytes(8, "little")
_F32_LE = np.dtype("<f4")
_U32_LE = np.dtype("<u4")
_UINT32_MAX = 2**32 - 1
_ONLY_STR = {str}


class InvalidRecord(MigratorError, ValueError):
    """A record that cannot exist in Pinecone (NaN values, duplicate sparse indices, bad shapes...)."""


def _float32_array(data: Any, what: str) -> npt.NDArray[np.float32] | None:
    """Return ``data`` as a read-only 1-D float32 array, ``None`` when absent or empty."""
    if data is None:
        return None
    try:
        with np.errstate(over="raise"):
            array = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError, FloatingPointError) as exc:
        raise InvalidRecord(f"{what} must be a list of finite numbers within float32 range: {exc}") from exc
    if array.ndim != 1:
        raise InvalidRecord(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return None
    if not np.isfinite(array).all():
        raise InvalidRecord(f"{what} contains NaN or infinity, which Pinecone cannot store")
    view: npt.NDArray[np.float32] = array.view()
    view.flags.writeable = False
    return view


def _uint32_array(data: Any, what: str) -> npt.NDArray[np.uint32]:
    """Return ``data`` as a 1-D uint32 array, refusing (not wrapping) values outside 0..2^32-1."""
    if isinstance(data, np.ndarray) and data.dtype == np.uint32:
        array: npt.NDArray[np.uint32] = data
    else:
        try:
            raw = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise InvalidRecord(f"{what} must be a list of integers: {exc}") from exc
        if raw.size and raw.dtype.kind not in "ui":
            raise InvalidRecord(f"{what} must be integers, got {raw.dtype}")
        if raw.size and (raw.min() < 0 or raw.max() > _UINT32_MAX):
            raise InvalidRecord(f"{what} must lie in 0..{_UINT32_MAX}")
        array = raw.astype(np.uint32)
    if array.ndim != 1:
        raise InvalidRecord(f"{what} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True, eq=False)
class SparseValues:
    """Sparse pairs, kept sorted by index (the order is not information, so one order is canonical).

    Built from any sequences; indices must be distinct integers in uint32 range, values finite.
    """

    indices: npt.NDArray[np.uint32]
    values: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        indices = _uint32_array(self.indices, "sparse indices")
        values = _float32_array(self.values, "sparse values")
        if values is None:
            values = np.zeros(0, dtype=np.float32)
        if indices.shape != values.shape:
            raise InvalidRecord(
                f"sparse indices and values differ in length ({indices.size} vs {values.size})"
            )
        if indices.size > 1 and not (indices[1:] > indices[:-1]).all():
            order = np.argsort(indices, kind="stable")
            indices = indices[order]
            values = values[order]
            if not (indices[1:] > indices[:-1]).all():
                raise InvalidRecord("sparse indices must be distinct")
        if indices.flags.writeable:
            indices = indices.view()
            indices.flags.writeable = False
        if values.flags.writeable:
            values = values.view()
            values.flags.writeable = False
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseValues):
            return NotImplemented
        return _sparse_bytes(self) == _sparse_bytes(other)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SparseValues:
        """Build from ``{"indices": [...], "values": [...]}``."""
        if not isinstance(obj, Mapping) or "indices" not in obj or "values" not in obj:
            raise InvalidRecord("sparse values must be an object with 'indices' and 'values'")
        return cls(indices=obj["indices"], values=obj["values"])

    def to_json(self) -> dict[str, Any]:
        """The wire shape, with plain Python ints and exactly converted float32 values."""
        return {"indices": self.indices.tolist(), "values": self.values.tolist()}


@dataclass(frozen=True, slots=True, eq=False)
class Record:
    """One vector as Pinecone stores it.

    Construction normalises: values become read-only float32 arrays (Python floats are rounded to
    float32), empty dense or sparse vectors become ``None``, sparse pairs are sorted by index, and
    null-valued metadata keys are dropped. Equality is equality of the canonical encoding, so it agrees
    with :func:`record_digest`; records are not hashable (they hold arrays).
    """

    id: str
    values: npt.NDArray[np.float32] | None = None
    sparse: SparseValues | None = None
    metadata: Metadata = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise InvalidRecord(f"record ID must be a string, got {type(self.id).__name__}")
        object.__setattr__(self, "values", _float32_array(self.values, f"values of record {self.id!r}"))
        sparse = self.sparse
        if sparse is not None and not isinstance(sparse, SparseValues):
            sparse = SparseValues.from_json(sparse)
        if sparse is not None and len(sparse) == 0:
            sparse = None
        object.__setattr__(self, "sparse", sparse)
        metadata = self.metadata
        if metadata is None:
            metadata = {}
        elif not isinstance(metadata, Mapping):
            raise InvalidRecord(f"metadata of record {self.id!r} must be an object")
        object.__setattr__(self, "metadata", {k: v for k, v in metadata.items() if v is not None})

    @property
    def dimension(self) -> int:
        """Length of the dense vector, 0 when there is none."""
        return 0 if self.values is None else int(self.values.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return same_record(self, other)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Record:
        """Build from the data-plane wire shape (``sparseValues``) or the SDK's dict (``sparse_values``)."""
        if not isinstance(obj, Mapping):
            raise InvalidRecord(f"a record must be an object, got {type(obj).__name__}")
        if "id" not in obj:
            raise InvalidRecord("a record needs an 'id'")
        camel, snake = obj.get("sparseValues"), obj.get("sparse_values")
        if camel is not None and snake is not None:
            raise InvalidRecord(f"record {obj['id']!r} has both 'sparseValues' and 'sparse_values'")
        sparse_obj = camel if camel is not None else snake
        return cls(
            id=obj["id"],
            values=obj.get("values"),
            sparse=None if sparse_obj is None else SparseValues.from_json(sparse_obj),
            metadata=obj.get("metadata") or {},
        )

    def to_json(self) -> dict[str, Any]:
        """The data-plane wire shape, omitting empty parts; floats are exact float32 values."""
        body: dict[str, Any] = {"id": self.id}
        if self.values is not None:
            body["values"] = self.values.tolist()
        if self.sparse is not None:
            body["sparseValues"] = self.sparse.to_json()
        if self.metadata:
            body["metadata"] = self.metadata
        return body


_new_record = object.__new__
_set_field = object.__setattr__


def checked_record(record_id: str, values: npt.NDArray[np.float32] | None, metadata: Metadata) -> Record:
    """A :class:`Record` from parts a decoder has already put in their normal form, without checking them
    again: ``values`` a read-only 1-D float32 array, all finite, or ``None`` (never empty); ``metadata`` a
    dict without null values. No sparse values. For decoding fetched pages, where the checks of
    :class:`Record` cost as much as parsing the JSON; the result equals ``Record(record_id, values,
    metadata=metadata)``."""
    record: Record = _new_record(Record)
    _set_field(record, "id", record_id)
    _set_field(record, "values", values)
    _set_field(record, "sparse", None)
    _set_field(record, "metadata", metadata)
    return record


def approx_bytes(record: Record) -> int:
    """Pinecone's record-size estimate (dedicated read nodes): ID + 4/dimension + 9/sparse pair + metadata.

    Metadata counts as the length of its compact JSON, 0 when there is none.
    """
    size = len(record.id.encode("utf-8")) + 4 * record.dimension
    if record.sparse is not None:
        size += 9 * len(record.sparse)
    if record.metadata:
        size += len(orjson.dumps(record.metadata))
    return size


def _normalise(value: Any) -> Any:
    """Numbers to float64 (bools stay bools), recursively; null-valued keys of nested objects dropped."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        if all(type(item) is str for item in value):
            return value if type(value) is list else list(value)
        return [_normalise(item) for item in value]
    if isinstance(value, Mapping):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    raise InvalidRecord(f"metadata value of type {type(value).__name__} is not supported")


def canonical_metadata(metadata: Mapping[str, Any], ignore_metadata_keys: frozenset[str] = _NO_KEYS) -> bytes:
    """Metadata as canonical JSON bytes; ``b""`` when nothing is left after dropping nulls and ignored keys.

    Only top-level keys can be ignored: those are the stamp fields the tool writes. The loop dispatches on
    exact types inline because this runs once per record in every digest.
    """
    if not metadata:
        return b""
    canonical_as_is = not ignore_metadata_keys
    for value in metadata.values():
        kind = type(value)
        if kind is str or kind is float or kind is bool:
            continue
        if kind is list and set(map(type, value)) == _ONLY_STR:
            continue
        canonical_as_is = False
        break
    if canonical_as_is:  # the common case: nothing to normalise, one call into orjson
        try:
            return orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:
            raise InvalidRecord(f"metadata cannot be encoded canonically: {exc}") from exc
    normalised: dict[str, Any] = {}
    for key, value in metadata.items():
        kind = type(value)
        if kind is str or kind is float or kind is bool:
            normalised[key] = value
        elif kind is int:
            normalised[key] = float(value)
        elif kind is list and set(map(type, value)) == _ONLY_STR:
            normalised[key] = value
        elif value is not None:
            normalised[key] = _normalise(value)
    if ignore_metadata_keys:
        for key in ignore_metadata_keys.intersection(normalised):
            del normalised[key]
    if not normalised:
        return b""
    try:
        return orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise InvalidRecord(f"metadata cannot be encoded canonically: {exc}") from exc


def _sparse_bytes(sparse: SparseValues | None) -> bytes:
    if sparse is None:
        return b""
    return (
        sparse.indices.astype(_U32_LE, copy=False).tobytes()
        + sparse.values.astype(_F32_LE, copy=False).tobytes()
    )


def _prefixed(part: bytes) -> bytes:
    return len(part).to_bytes(8, "little") + part if part else _EMPTY_PART


def canonical_encoding(record: Record, ignore_metadata_keys: frozenset[str] = _NO_KEYS) -> bytes:
    """The exact byte stream :func:`record_digest` hashes (see the module docstring for its layout)."""
    values = b"" if record.values is None else record.values.astype(_F32_LE, copy=False).tobytes()
    return b"".join(
        (
            _prefixed(record.id.encode("utf-8")),
            _prefixed(values),
            _prefixed(_sparse_bytes(record.sparse)),
            _prefixed(canonical_metadata(record.metadata, ignore_metadata_keys)),
        )
    )


def record_digest(record: Record, ignore_metadata_keys: frozenset[str] = _NO_KEYS) -> int:
    """128-bit XXH3 digest of the record's canonical encoding, read as a little-endian integer.

    XXH3 rather than a cryptographic hash: the digest guards against accidental differences (a lost
    float, a dropped sparse pair), not against forgery, and it is six times faster than BLAKE2b here, which
    is the difference between hashing and the network being the limit of a verify.

    Written out part by part rather than via :func:`canonical_encoding` to avoid copying the dense values;
    ``tests/test_records.py`` checks both give the same bytes.
    """
    hasher = xxhash.xxh3_128()
    id_bytes = record.id.encode("utf-8")
    values = record.values
    if values is None:
        hasher.update(len(id_bytes).to_bytes(8, "little") + id_bytes + _EMPTY_PART)
    else:
        if values.dtype != _F32_LE or not values.flags.c_contiguous:
            values = np.ascontiguousarray(values, dtype=_F32_LE)
        hasher.update(len(id_bytes).to_bytes(8, "little") + id_bytes + (values.nbytes).to_bytes(8, "little"))
        hasher.update(values.data)
    tail = _prefixed(_sparse_bytes(record.sparse))
    if record.metadata:
        tail += _prefixed(canonical_metadata(record.metadata, ignore_metadata_keys))
    else:
        tail += _EMPTY_PART
    hasher.update(tail)
    return int.from_bytes(hasher.digest(), "little")


def digest_bytes(record: Record) -> bytes:
    """:func:`record_digest` as 16 bytes, the form the tool's state files keep."""
    return record_digest(record).to_bytes(16, "little")


def same_record(a: Record, b: Record) -> bool:
    """Whether two records have the same canonical encoding (bytewise values, normalised metadata)."""
    if a.id != b.id or (a.values is None) != (b.values is None) or (a.sparse is None) != (b.sparse is None):
        return False
    if (
        a.values is not None
        and b.values is not None
        and (a.values.shape != b.values.shape or a.values.tobytes() != b.values.tobytes())
    ):
        return False
    if _sparse_bytes(a.sparse) != _sparse_bytes(b.sparse):
        return False
    return canonical_metadata(a.metadata) == canonical_metadata(b.metadata)


@dataclass(slots=True)
class SetDigest:
    """Digest of a set of records: how many, and the sum of their digests mod 2^128.

    A sum is order-independent and mergeable: the digest of a namespace is the merge of its shards' digests,
    whichever run or worker computed them. Removing a digest undoes adding it (delta sync). The sum detects
    any changed record with overwhelming probability, but not which one; locate differences by ID walk.
    """

    count: int = 0
    total: int = 0

    def add(self, digest: int) -> None:
        """Account for one more record."""
        self.count += 1
        self.total = (self.total + digest) % _MOD

    def remove(self, digest: int) -> None:
        """Account for one record less (its digest must have been added)."""
        if self.count <= 0:
            raise ValueError("cannot remove a record from an empty set digest")
        self.count -= 1
        self.total = (self.total - digest) % _MOD

    def merge(self, other: SetDigest) -> None:
        """Add in another (disjoint) set's digest, e.g. another shard's."""
        self.count += other.count
        self.total = (self.total + other.total) % _MOD

    def to_json(self) -> dict[str, Any]:
        """``{"count": n, "total": "<32 hex digits>"}``: hex because JSON numbers lose 128-bit precision."""
        return {"count": self.count, "total": f"{self.total:032x}"}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SetDigest:
        """Inverse of :meth:`to_json`."""
        try:
            count, total_hex = obj["count"], obj["total"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"count must be a non-negative integer, got {count!r}")
            if not isinstance(total_hex, str) or len(total_hex) != 32:
                raise ValueError(f"total must be 32 hex digits, got {total_hex!r}")
            return cls(count=count, total=int(total_hex, 16))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a set digest: {exc}") from exc


def digest_of(records: Iterable[Record], ignore_metadata_keys: frozenset[str] = _NO_KEYS) -> SetDigest:
    """The set digest of ``records``."""
    result = SetDigest()
    count = 0
    total = 0
    for record in records:
        total += record_digest(record, ignore_metadata_keys)
        count += 1
    result.count = count
    result.total = total % _MOD
    return result
