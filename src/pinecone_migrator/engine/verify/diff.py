"""Differences found by verify: one per ID, which part of a record differs, and the JSONL diff file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import numpy as np
import orjson

from ...records import Record, canonical_metadata

Kind = Literal["missing", "extra", "different"]
KINDS: tuple[Kind, ...] = ("missing", "extra", "different")

_F32_LE = np.dtype("<f4")
_U32_LE = np.dtype("<u4")


@dataclass(frozen=True)
class Difference:
    """One ID that differs between what the target should hold and what it holds.

    ``missing``: expected, not in the target namespace; ``extra``: in the target namespace, not expected;
    ``different``: in both, with ``parts`` naming what differs (``values``, ``sparse``, ``metadata:<key>``).
    ``source_namespace`` is where the expected record comes from (what a repair re-copies), when known.
    """

    namespace: str
    id: str
    kind: Kind
    parts: tuple[str, ...] = ()
    source_namespace: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "id": self.id,
            "kind": self.kind,
            "parts": list(self.parts),
        }
        if self.source_namespace is not None:
            body["source_namespace"] = self.source_namespace
        return body

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Difference:
        kind = obj.get("kind")
        if kind not in KINDS:
            raise ValueError(f"not a verify difference (kind {kind!r}): {obj!r}")
        return cls(
            namespace=str(obj["namespace"]),
            id=str(obj["id"]),
            kind=kind,
            parts=tuple(obj.get("parts") or ()),
            source_namespace=obj.get("source_namespace"),
        )


def _dense_bytes(values: np.ndarray[Any, Any] | None) -> bytes:
    return b"" if values is None else values.astype(_F32_LE, copy=False).tobytes()


def differing_parts(
    expected: Record, actual: Record, ignore_metadata_keys: frozenset[str]
) -> tuple[str, ...]:
    """Which parts of two records with the same ID differ, in the digest's own terms (float32 bytes, sparse
    pairs sorted by index, canonical metadata per key; ignored keys are not compared)."""
    parts: list[str] = []
    if _dense_bytes(expected.values) != _dense_bytes(actual.values):
        parts.append("values")
    mine, theirs = expected.sparse, actual.sparse
    if (mine is None) != (theirs is None) or (
        mine is not None
        and theirs is not None
        and (
            mine.indices.astype(_U32_LE, copy=False).tobytes()
            != theirs.indices.astype(_U32_LE, copy=False).tobytes()
            or _dense_bytes(mine.values) != _dense_bytes(theirs.values)
        )
    ):
        parts.append("sparse")
    for key in sorted((expected.metadata.keys() | actual.metadata.keys()) - ignore_metadata_keys):
        a, b = expected.metadata.get(key), actual.metadata.get(key)
        if (a is None) != (b is None) or (
            a is not None and b is not None and canonical_metadata({key: a}) != canonical_metadata({key: b})
        ):
            parts.append(f"metadata:{key}")
    return tuple(parts)


class JsonlDiffWriter:
    """Writes differences as JSON Lines (one per ID), as they are found; usable as ``on_difference``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("wb")
        self.written = 0

    def __call__(self, difference: Difference) -> None:
        self._file.write(orjson.dumps(difference.to_json()) + b"\n")
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlDiffWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_diff(path: Path) -> Iterator[Difference]:
    """The differences of a diff file written by :class:`JsonlDiffWriter` (e.g. to repair from it)."""
    with path.open("rb") as file:
        for line in file:
            if line.strip():
                yield Difference.from_json(orjson.loads(line))
