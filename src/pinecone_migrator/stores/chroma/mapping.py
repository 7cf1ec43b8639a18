"""Records <-> Chroma rows: what a record becomes in a collection, and back, exactly or refused.

- The ID is Chroma's ID, unchanged (any non-empty string).
- Dense values travel as float32: Chroma's client sends them as base64 float32 and the server answers with
  the shortest decimal of each float32, which reads back to the same float32 (-0.0 and subnormals kept).
- Metadata: strings, booleans, integers (int64) and floats (float64) are kept with their types; a list of
  strings is kept as a list (order and repeats kept). Chroma refuses an empty list, a key that is empty or
  starts with ``#`` and lists of mixed types, and hides keys starting with ``chroma:``: such records are
  refused (the engine puts them in the dead letters with the reason) rather than changed. Integers beyond
  int64 are written as float64 (the digest compares numbers as float64, so nothing changes).
- The document: Chroma keeps a text beside each record. It reads as the metadata key ``document_key``
  (default ``document``), and a string under that key is written as the document, so that the text of a
  Chroma collection survives a trip through Pinecone and back. ``document_key=`` (empty) leaves documents
  out.
- Metadata floats: the server reads a number of 16 or 17 significant digits (``0.30000000000000004``)
  inexactly, one unit in the last place off in about a third of them (measured on chromadb 1.5.9). A write
  reads back the records holding such numbers and refuses (deletes again) those Chroma changed, naming the
  value, so that no changed number is ever left in place silently; other numbers are held exactly.
- Sparse values: a local Chroma server holds none (its sparse vectors are Chroma Cloud's): records with
  them are refused; the engine drops them first when the user accepted the change ``sparse-dropped``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from ...records import Metadata, Record

INT64 = (-(2**63), 2**63 - 1)
RESERVED_PREFIXES = ("#", "chroma:")


@dataclass(frozen=True)
class Row:
    """One record as Chroma takes it."""

    id: str
    values: npt.NDArray[np.float32]
    metadata: dict[str, Any]  # empty: no metadata
    document: str | None


class Refused(ValueError):
    """A record Chroma cannot hold as it is; the message names the record and why."""


def to_row(record: Record, dimension: int | None, document_key: str | None) -> Row:
    """The row for ``record`` in a collection of ``dimension`` (None: not known yet), or :class:`Refused`."""
    if record.sparse is not None:
        raise Refused(f"record {record.id!r}: a local Chroma server holds no sparse values")
    if record.values is None:
        raise Refused(f"record {record.id!r}: Chroma needs dense values")
    if dimension is not None and record.values.shape[0] != dimension:
        raise Refused(
            f"record {record.id!r}: dimension {record.values.shape[0]} does not match the collection's "
            f"{dimension}"
        )
    metadata: dict[str, Any] = {}
    document = None
    for key, value in record.metadata.items():
        if document_key and key == document_key and isinstance(value, str):
            document = value
            continue
        metadata[key] = _stored(record.id, key, value)
    return Row(record.id, record.values, metadata, document)


def _stored(record_id: str, key: str, value: Any) -> Any:
    if not key or key.startswith(RESERVED_PREFIXES):
        raise Refused(
            f"record {record_id!r}: Chroma reserves metadata key {key!r} (empty, or starting with "
            f"{' or '.join(RESERVED_PREFIXES)})"
        )
    if isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value <= INT64[1] else float(value)
    if isinstance(value, list):
        if not value:
            raise Refused(f"record {record_id!r}: Chroma cannot hold the empty list in metadata {key!r}")
        kinds = {type(item) for item in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return list(value)
        raise Refused(
            f"record {record_id!r}: Chroma holds lists of one type (strings, numbers or booleans) only; "
            f"metadata {key!r} mixes them"
        )
    raise Refused(
        f"record {record_id!r}: Chroma cannot hold metadata {key!r} ({type(value).__name__} values are not "
        "held)"
    )


def from_row(
    record_id: str,
    values: npt.NDArray[np.float32] | None,
    metadata: Mapping[str, Any] | None,
    document: str | None,
    document_key: str | None,
) -> Record:
    """The record a Chroma row holds (``values`` already float32)."""
    read: Metadata = {}
    for key, value in (metadata or {}).items():
        if isinstance(value, (str, bool, int, float, list)):
            read[key] = value
        else:
            raise Refused(
                f"record {record_id!r}: metadata {key!r} holds a {type(value).__name__}, which a record "
                "cannot carry (Chroma Cloud's sparse vectors are not read)"
            )
    if document is not None and document_key:
        if document_key in read:
            raise Refused(
                f"record {record_id!r} has both a document and a metadata key {document_key!r}: choose "
                "another name for documents with the option document_key="
            )
        read[document_key] = document
    return Record(id=record_id, values=values, metadata=read)


def risky_number(value: Any) -> bool:
    """Whether Chroma may read ``value`` back changed. It reads a decimal S x 10^E exactly when S fits in 53
    bits and E lies in -22..22 (one exact division or multiplication, correctly rounded); other floats are
    read back to be sure."""
    if isinstance(value, list):
        return any(risky_number(item) for item in value)
    if not isinstance(value, float) or value == 0 or not math.isfinite(value):
        return False
    _, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    return int("".join(map(str, digits))) > 2**53 or not -22 <= exponent <= 22


def changed_numbers(row: Row, read: Mapping[str, Any] | None) -> str | None:
    """How Chroma changed a number of ``row`` it was given (None: every number reads back as written)."""
    for key, value in row.metadata.items():
        if risky_number(value):
            back = (read or {}).get(key)
            if back != value or type(back) is not type(value):
                return (
                    f"record {row.id!r}: Chroma keeps metadata {key!r} = {value!r} as {back!r} (it reads "
                    "some numbers of 16-17 significant digits inexactly), so the record was not kept"
                )
    return None
