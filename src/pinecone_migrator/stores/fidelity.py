"""What a target can hold exactly, and what happens to the records it cannot: the fidelity of a pair.

Every store says what it can hold (:class:`Room`: metrics, sparse values, metadata types and sizes, IDs,
float precision). :func:`between` compares the source's room and shape with the target's and lists the
:class:`Change` each difference causes, before anything is written. A change either alters records in a
documented way (``alters``: what a source record becomes in the target, e.g. sparse values dropped: lossy),
or makes the target refuse some records (``refuses``: they go to the dead letters with the reason, which is
not silent), or only renames something (a metric's name). A pair with any lossy change is refused unless the
user accepts the list (``--accept-changes``); every change is said before anything is written. Once
accepted, copy writes each record as ``alters`` makes it and counts the records changed, and verify compares
the source through the same function, so that "equal" means "equal up to the listed changes" and says so.

A store without its own room (Pinecone, files, memory) holds what a Pinecone index holds: :data:`PINECONE`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol, runtime_checkable

import numpy as np
import orjson

from ..errors import UserError
from ..records import Metadata, Record
from .base import IndexShape

PINECONE_METRICS = frozenset({"cosine", "euclidean", "dotproduct"})


@dataclass(frozen=True)
class Room:
    """What one store (this table, collection or index, or the one that would be created like the source)
    can hold exactly. For a source it also bounds what its records can carry: a table without a sparse
    column has ``sparse=False``, a JSON metadata column ``metadata_nested=True``."""

    kind: str = "Pinecone"  # the database's name, for messages
    # Metrics it can index by, in Pinecone's names; ``metric_names`` gives the store's own name of each.
    metrics: frozenset[str] = PINECONE_METRICS
    metric_names: dict[str, str] = field(default_factory=dict)
    dense: bool = True
    sparse: bool = True
    # Sparse values only beside these metrics (Pinecone: dotproduct); None: any.
    sparse_metrics: frozenset[str] | None = frozenset({"dotproduct"})
    max_dimension: int | None = 20_000
    max_sparse_nonzeros: int | None = 2_048
    max_sparse_index: int | None = 2**32 - 1
    # Sparse values above zero only (Milvus refuses negative ones and drops zeros, pgvector drops zeros).
    sparse_positive_only: bool = False
    sparse_zeros: bool = True  # a sparse value of 0 held as one (pgvector's sparsevec refuses it)
    # Cosine vectors scaled to length 1 on insert (Qdrant): a record reads back normalised.
    normalises_cosine: bool = False
    # Dense values held in 16-bit floats (pgvector's halfvec): each value rounds to float16 and back.
    float16: bool = False
    metadata_lists: bool = True  # list-of-string values held as lists
    metadata_nested: bool = False  # objects and lists of non-strings held as such
    metadata_empty_lists: bool = True  # an empty list held as one (Chroma refuses it)
    # Every float64 number held exactly (Chroma's server reads some of 16-17 significant digits one unit off;
    # the store finds and refuses those records).
    metadata_floats_exact: bool = True
    max_metadata_bytes: int | None = 40 * 1024
    max_id_length: int | None = 512
    ascii_ids: bool = True


PINECONE = Room()
# What a file tree holds: Pinecone's records without Pinecone's limits (metadata is JSON text).
FILES = replace(
    PINECONE,
    kind="files",
    sparse_metrics=None,
    max_dimension=None,
    max_sparse_nonzeros=None,
    metadata_nested=True,
    max_metadata_bytes=None,
    max_id_length=None,
    ascii_ids=False,
)


@dataclass(frozen=True)
class Change:
    """One thing the target does not hold exactly, said before anything is written."""

    name: str  # stable, short: what reports and tests name ("sparse-dropped")
    says: str  # a sentence for plans, confirmations and refusals
    # What a source record becomes in the target (returns the record itself when this change leaves it
    # alone); None: records are not altered (the target refuses some, or nothing changes).
    alters: Callable[[Record], Record] | None = None
    # Why the target refuses a record (None: it takes it); set for changes that refuse records. The target
    # store refuses such records itself as well: this lets the engine and tests know without asking it.
    refuses: Callable[[Record], str | None] | None = None

    @property
    def lossy(self) -> bool:
        """Whether records are changed silently unless the user accepts it. A refused record is not silent
        (it is a dead letter with its reason, and the exit code says so); a renamed metric changes nothing."""
        return self.alters is not None


@dataclass
class Fidelity:
    """The changes of one source → target pair, and the records they changed in this run."""

    changes: tuple[Change, ...] = ()
    changed: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def lossy(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.lossy)

    @property
    def exact(self) -> bool:
        return not self.lossy

    def names(self) -> list[str]:
        return [change.name for change in self.lossy]

    def expected(self, record: Record) -> Record:
        """The record as the target holds it: what verify compares the target's copy with."""
        for change in self.changes:
            if change.alters is not None:
                record = change.alters(record)
        return record

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (verify sends the request to worker processes): the lock is not sent."""
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def refusal_of(self, record: Record) -> str | None:
        """Why the target will refuse ``record`` as :meth:`expected` makes it (None: it holds it)."""
        for change in self.changes:
            if change.refuses is not None:
                reason = change.refuses(record)
                if reason is not None:
                    return reason
        return None

    def held(self, records: Iterable[Record]) -> list[Record]:
        """The records the target holds of ``records``, as it holds them (refused ones left out)."""
        kept = [self.expected(record) for record in records]
        return [record for record in kept if self.refusal_of(record) is None]

    def written(self, record: Record) -> tuple[Record, str | None]:
        """:meth:`expected` and :meth:`refusal_of` at once, for copy (once per record): the record as
        written, or why the target refuses it. Counts the written records each change altered."""
        altered: list[str] = []
        for change in self.changes:
            if change.alters is not None:
                after = change.alters(record)
                if after is not record:
                    altered.append(change.name)
                    record = after
        refusal = self.refusal_of(record)
        if altered and refusal is None:
            with self._lock:
                self.changed.update(altered)
        return record, refusal

    def refusal(self, source: str, target: str) -> str:
        """Why a lossy pair is refused without --accept-changes, naming each change."""
        lines = "\n".join(f"  - {change.name}: {change.says}" for change in self.lossy)
        return (
            f"{target} cannot hold everything {source} holds; copying would change records:\n{lines}\n"
            "Nothing was written. Pass --accept-changes to go on with these changes (a copy writes each "
            "record as they make it and counts them; verify compares through them), or choose another target."
        )

    def summary(self) -> list[str]:
        """One line per change, lossy or not (for plans and confirmations)."""
        return [f"{change.name}: {change.says}" for change in self.changes]

    def to_json(self) -> dict[str, Any]:
        return {
            "changes": [{"name": c.name, "says": c.says, "lossy": c.lossy} for c in self.changes],
            "changed_records": dict(sorted(self.changed.items())),
        }


def between(source_shape: IndexShape, source: Room, target: Room) -> Fidelity:
    """The changes copying records from a store with ``source`` room and shape into one with ``target``
    room makes. Raises :class:`UserError` for a pair no acceptance can make work (a metric or a kind of
    vector the target cannot index at all, a dimension beyond its limit)."""
    _refuse_impossible(source_shape, source, target)
    return Fidelity(tuple(_changes(source_shape, source, target)))


def _refuse_impossible(shape: IndexShape, source: Room, target: Room) -> None:
    if shape.metric not in target.metrics:
        held = ", ".join(sorted(target.metrics))
        raise UserError(
            f"{target.kind} cannot index by the source's metric {shape.metric!r} (it offers {held}): "
            "no record could be searched as on the source. Choose a target that has it."
        )
    if shape.vector_type == "sparse" and not target.sparse:
        raise UserError(
            f"The source holds sparse vectors only and {target.kind} cannot hold sparse vectors: nothing "
            "would be left of its records. Choose a target that holds sparse vectors."
        )
    if shape.vector_type == "dense" and not target.dense:
        raise UserError(f"{target.kind} cannot hold dense vectors: choose a target that does.")
    dimension = shape.dimension
    if dimension is not None and target.max_dimension is not None and dimension > target.max_dimension:
        raise UserError(
            f"The source's dimension {dimension} is beyond {target.kind}'s limit of {target.max_dimension}."
        )


def _changes(shape: IndexShape, source: Room, target: Room) -> Iterable[Change]:
    theirs = target.metric_names.get(shape.metric)
    if theirs is not None and theirs != shape.metric:
        yield Change("metric-named", f"metric {shape.metric} is {target.kind}'s {theirs!r}")
    if shape.metric == "cosine" and target.normalises_cosine and shape.vector_type == "dense":
        yield Change(
            "vectors-normalised",
            f"{target.kind} scales cosine vectors to length 1 when it stores them: dense values change "
            "(cosine scores do not)",
            alters=normalised,
        )
    if target.float16 and not source.float16 and shape.vector_type == "dense":
        yield Change(
            "values-float16",
            f"{target.kind} holds dense values as 16-bit floats: each value is rounded to float16",
            alters=float16_values,
        )
    sparse_possible = source.sparse and (
        source.sparse_metrics is None or shape.metric in source.sparse_metrics
    )
    if sparse_possible and shape.vector_type == "dense":
        if not target.sparse:
            yield Change(
                "sparse-dropped",
                f"{target.kind} holds no sparse vectors here: records' sparse values are dropped",
                alters=without_sparse,
            )
        elif target.sparse_metrics is not None and shape.metric not in target.sparse_metrics:
            yield Change(
                "sparse-refused",
                f"{target.kind} holds sparse values only with metric(s) "
                f"{', '.join(sorted(target.sparse_metrics))}: records with sparse values are refused "
                "(dead letters)",
                refuses=partial(_sparse_refused, target=target),
            )
    if sparse_possible or shape.vector_type == "sparse":
        yield from _sparse_limits(source, target)
    if source.metadata_lists and not target.metadata_lists:
        yield Change(
            "lists-as-json",
            f"{target.kind} metadata values must be scalars: a list of strings is stored as its JSON text "
            "(['a', 'b'] becomes '[\"a\",\"b\"]')",
            alters=lists_as_json,
        )
    if source.metadata_nested and not target.metadata_nested:
        yield Change(
            "nested-metadata-refused",
            f"{target.kind} metadata holds strings, numbers, booleans and lists of strings only: records "
            "with other values (objects, lists of numbers) are refused (dead letters)",
            refuses=partial(_nested_value, target=target),
        )
    if source.metadata_lists and target.metadata_lists and not target.metadata_empty_lists:
        yield Change(
            "empty-lists-refused",
            f"{target.kind} cannot hold an empty list: records with one are refused (dead letters)",
            refuses=partial(_empty_list, target=target),
        )
    if source.metadata_floats_exact and not target.metadata_floats_exact:
        yield Change(
            "inexact-floats-refused",
            f"{target.kind} changes some numbers of 16-17 significant digits: records with such a number "
            "that it would change are refused (dead letters; the store checks each one it writes)",
        )
    if _smaller(target.max_metadata_bytes, source.max_metadata_bytes):
        yield Change(
            "metadata-size-refused",
            f"{target.kind} holds at most {target.max_metadata_bytes:,} bytes of metadata per record: "
            "larger records are refused (dead letters)",
            refuses=partial(_metadata_too_large, target=target),
        )
    if _smaller(target.max_id_length, source.max_id_length):
        yield Change(
            "long-ids-refused",
            f"{target.kind} IDs are at most {target.max_id_length} characters: longer ones are refused "
            "(dead letters)",
            refuses=partial(_id_too_long, target=target),
        )
    if target.ascii_ids and not source.ascii_ids:
        yield Change(
            "non-ascii-ids-refused",
            f"{target.kind} IDs are ASCII: records with other IDs are refused (dead letters)",
            refuses=partial(_non_ascii_id, target=target),
        )


def _sparse_limits(source: Room, target: Room) -> Iterable[Change]:
    if _smaller(target.max_sparse_nonzeros, source.max_sparse_nonzeros):
        yield Change(
            "sparse-size-refused",
            f"{target.kind} holds at most {target.max_sparse_nonzeros:,} sparse values per record: records "
            "with more are refused (dead letters)",
            refuses=partial(_too_many_sparse, target=target),
        )
    if target.sparse_positive_only and not source.sparse_positive_only:
        yield Change(
            "sparse-nonpositive-refused",
            f"{target.kind} holds sparse values above zero only: records with zero or negative sparse values "
            "are refused (dead letters)",
            refuses=partial(_nonpositive_sparse, target=target),
        )
    elif not target.sparse_zeros and source.sparse_zeros and not source.sparse_positive_only:
        yield Change(
            "sparse-zeros-refused",
            f"{target.kind} cannot hold a sparse value of 0: records with one are refused (dead letters)",
            refuses=partial(_zero_sparse, target=target),
        )
    if _smaller(target.max_sparse_index, source.max_sparse_index):
        yield Change(
            "sparse-index-refused",
            f"{target.kind} sparse indices go up to {target.max_sparse_index:,}: records with larger ones "
            "are refused (dead letters)",
            refuses=partial(_sparse_index_too_large, target=target),
        )


def _sparse_refused(record: Record, target: Room) -> str | None:
    return None if record.sparse is None else f"{target.kind} holds no sparse values with this metric"


def _non_ascii_id(record: Record, target: Room) -> str | None:
    return None if record.id.isascii() else f"{target.kind} IDs must be ASCII"


def _nested_value(record: Record, target: Room) -> str | None:
    for key, value in record.metadata.items():
        scalar = isinstance(value, (str, int, float, bool))
        strings = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not (scalar or strings):
            return f"{target.kind} cannot hold metadata {key!r}: {type(value).__name__} values are not held"
    return None


def _empty_list(record: Record, target: Room) -> str | None:
    for key, value in record.metadata.items():
        if isinstance(value, list) and not value:
            return f"{target.kind} cannot hold the empty list of metadata {key!r}"
    return None


def _metadata_too_large(record: Record, target: Room) -> str | None:
    size = len(orjson.dumps(record.metadata)) if record.metadata else 0
    limit = target.max_metadata_bytes
    if limit is not None and size > limit:
        return f"metadata of {size:,} bytes exceeds {target.kind}'s {limit:,}"
    return None


def _id_too_long(record: Record, target: Room) -> str | None:
    limit = target.max_id_length
    if limit is not None and len(record.id) > limit:
        return f"ID of {len(record.id)} characters exceeds {target.kind}'s {limit}"
    return None


def _too_many_sparse(record: Record, target: Room) -> str | None:
    limit, sparse = target.max_sparse_nonzeros, record.sparse
    if limit is not None and sparse is not None and len(sparse) > limit:
        return f"{len(sparse):,} sparse values exceed {target.kind}'s {limit:,}"
    return None


def _nonpositive_sparse(record: Record, target: Room) -> str | None:
    sparse = record.sparse
    if sparse is not None and len(sparse) and bool((sparse.values <= 0).any()):
        return f"{target.kind} holds sparse values above zero only"
    return None


def _zero_sparse(record: Record, target: Room) -> str | None:
    sparse = record.sparse
    if sparse is not None and len(sparse) and bool((sparse.values == 0).any()):
        return f"{target.kind} cannot hold a sparse value of 0"
    return None


def _sparse_index_too_large(record: Record, target: Room) -> str | None:
    limit, sparse = target.max_sparse_index, record.sparse
    if limit is not None and sparse is not None and len(sparse) and int(sparse.indices.max()) > limit:
        return f"sparse index {int(sparse.indices.max()):,} exceeds {target.kind}'s {limit:,}"
    return None


def _smaller(target: int | None, source: int | None) -> bool:
    """Whether a target bound is tighter than the source's (None: unbounded)."""
    return target is not None and (source is None or target < source)


# -- the alterations: one definition each, used by copy (what is written) and verify (what is expected) -----


def normalised(record: Record) -> Record:
    """Dense values scaled to length 1 in float32 exactly as Qdrant holds them once written.

    Qdrant divides each value by the float32 length ``sqrt(dot(v, v))`` when the length exceeds float32's
    epsilon (what its local mode does, and what the server does outside its own 1e-6 tolerance). That
    division is not idempotent in float32: about a third of scaled vectors have a computed length one unit
    in the last place away from 1 and would change again when written again, and copy writes the scaled
    record, which the target scales once more. So the result here is a vector Qdrant keeps as it is:
    Qdrant's scaling repeated until it no longer changes anything (once or twice nearly always), and where
    that cycles (about 1 vector in 100), the largest value moved one unit in the last place at a time until
    the computed length is exactly 1. Qdrant's server, whose summation order differs, keeps such a vector
    too (its length is within 1e-6 of 1)."""
    values = record.values
    if values is None:
        return record
    epsilon = np.float32(2.0**-23)

    def scaled(vector: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
        length = np.linalg.norm(vector)
        return vector / length if length > epsilon else vector

    current = np.ascontiguousarray(values, dtype=np.float32)
    for _ in range(4):
        after = scaled(current)
        if after.tobytes() == current.tobytes():
            break
        current = after
    else:
        current = current.copy()
        largest = int(np.argmax(np.abs(current)))
        for _ in range(100_000):
            length = np.linalg.norm(current)
            if length == 1:
                break
            toward = np.float32(0) if length > 1 else np.copysign(np.float32(np.inf), current[largest])
            current[largest] = np.nextafter(current[largest], toward)
    if current.tobytes() == values.tobytes():
        return record
    return replace(record, values=current)


def float16_values(record: Record) -> Record:
    values = record.values
    if values is None:
        return record
    rounded = values.astype(np.float16).astype(np.float32)
    return record if np.array_equal(rounded, values) else replace(record, values=rounded)


def without_sparse(record: Record) -> Record:
    return record if record.sparse is None else replace(record, sparse=None)


def lists_as_json(record: Record) -> Record:
    if not any(isinstance(value, list) for value in record.metadata.values()):
        return record
    metadata: Metadata = {
        key: orjson.dumps(value).decode() if isinstance(value, list) else value
        for key, value in record.metadata.items()
    }
    return replace(record, metadata=metadata)


@runtime_checkable
class DescribesRoom(Protocol):
    """Optional ability: the store says what it can hold (stores without it hold what Pinecone holds)."""

    def room(self) -> Room: ...


def room_of(store: object) -> Room:
    return store.room() if isinstance(store, DescribesRoom) else PINECONE


def pair(source: object, target: object, source_shape: IndexShape) -> Fidelity:
    """The fidelity of copying ``source``'s records (of ``source_shape``) into ``target``."""
    return between(source_shape, room_of(source), room_of(target))
