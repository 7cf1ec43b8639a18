"""A target that cannot hold every record exactly: the pair's changes are said and refused before anything is
written, accepted ones are applied and counted by copy, and verify compares through them."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pinecone_migrator.engine.migrate.changes import LossyPair
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify.result import VerifyOptions
from pinecone_migrator.engine.workflows import VerifySettings, migrate, verify_index
from pinecone_migrator.errors import RecordsRejected, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, WriteAck
from pinecone_migrator.stores.fidelity import PINECONE, Room, between
from pinecone_migrator.stores.memory import MemoryStore

SHAPE = IndexShape("dense", "dotproduct", 4)
# A database like Chroma: no sparse vectors, scalar metadata only, and (to exercise refusals) short IDs.
SCALARS = Room(
    kind="Scalars",
    metric_names={"dotproduct": "ip"},
    sparse=False,
    metadata_lists=False,
    max_metadata_bytes=None,
    max_id_length=10,
    ascii_ids=False,
)


class ScalarStore(MemoryStore):
    """A memory store that holds what :data:`SCALARS` says, and refuses the rest as such a database does."""

    def room(self) -> Room:
        return SCALARS

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        for record in records:
            if record.sparse is not None or len(record.id) > 10:
                raise RecordsRejected("upsert", f"record {record.id!r}: not held here")
            if any(isinstance(value, list) for value in record.metadata.values()):
                raise RecordsRejected("upsert", f"record {record.id!r}: metadata lists are not held here")
        return super().write(namespace, records)


def _one(index: int) -> SparseValues:
    return SparseValues(np.array([index], np.uint32), np.array([0.5], np.float32))


def _source() -> MemoryStore:
    source = MemoryStore("source", SHAPE)
    rng = np.random.default_rng(3)
    for namespace in ("docs", DEFAULT_NAMESPACE):
        source.write(
            namespace,
            [
                Record(
                    id=f"{'long-id-' if n % 10 == 9 else ''}{namespace[:2]}{n}",
                    values=rng.standard_normal(4).astype(np.float32),
                    sparse=SparseValues(np.array([n], np.uint32), np.array([0.5], np.float32))
                    if n % 3
                    else None,
                    metadata={"n": n, "tags": ["a", str(n)]} if n % 2 else {"n": n},
                )
                for n in range(30)
            ],
        )
    return source


def _request(tmp_path: Path, accept: bool) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint("source", None),
        target=Endpoint("scalars://target", None, uri=True),
        state_path=tmp_path / "ledger.sqlite",
        accept_changes=accept,
    )


def test_a_lossy_pair_is_refused_with_its_changes_and_nothing_is_created(tmp_path: Path) -> None:
    target = ScalarStore("target")
    with pytest.raises(LossyPair) as refused:
        migrate(_request(tmp_path, accept=False), _source(), target)
    message = str(refused.value)
    assert "sparse-dropped" in message and "lists-as-json" in message and "--accept-changes" in message
    assert "long-ids-refused" not in message  # refusals are dead letters, not silent: no acceptance needed
    assert not target.exists() and not (tmp_path / "ledger.sqlite").exists()


def test_accepted_changes_are_applied_counted_and_verify_compares_through_them(tmp_path: Path) -> None:
    source, target = _source(), ScalarStore("target")
    outcome = migrate(_request(tmp_path, accept=True), source, target, verify="full")
    originals = {ns: list(source.records(ns).values()) for ns in ("docs", DEFAULT_NAMESPACE)}
    pair = between(SHAPE, PINECONE, SCALARS)
    long_ids = {r.id for records in originals.values() for r in records if len(r.id) > 10}
    summary = outcome.summary
    assert summary.dead_letters == len(long_ids) == 6
    kept = [r for records in originals.values() for r in records if r.id not in long_ids]
    assert summary.changed == {
        "sparse-dropped": sum(r.sparse is not None for r in kept),
        "lists-as-json": sum("tags" in r.metadata for r in kept),
    }
    for namespace, records in originals.items():
        held = {r.id: r for r in pair.held(records)}
        assert target.records(namespace) == held  # exactly what the documented changes make of each
    stored = target.records("docs")["do1"]
    assert stored.sparse is None and stored.metadata["tags"] == '["a","1"]'
    # verify compares through the same changes: only the refused records are missing, by ID
    verification = outcome.verification
    assert verification is not None and verification.compared_through == ["sparse-dropped", "lists-as-json"]
    missing = {d.id for d in verification.differences() if d.kind == "missing"}
    assert missing == long_ids and verification.count("different") == 0


def test_verify_of_a_lossy_pair_needs_the_acceptance_too(tmp_path: Path) -> None:
    source, target = _source(), ScalarStore("target")
    migrate(_request(tmp_path, accept=True), source, target)
    with pytest.raises(LossyPair):
        verify_index(_request(tmp_path, accept=False), source, target)
    settings = VerifySettings(options=VerifyOptions(level="full"))
    result = verify_index(_request(tmp_path, accept=True), source, target, settings).verification
    assert result.compared_through == ["sparse-dropped", "lists-as-json"]
    assert result.count("missing") == 6 and result.count("different") == 0


def test_changes_between_rooms() -> None:
    assert between(SHAPE, PINECONE, PINECONE).changes == ()
    assert between(SHAPE, PINECONE, fidelity.FILES).changes == ()
    qdrant = Room(
        kind="Qdrant", normalises_cosine=True, sparse_metrics=None, metric_names={"cosine": "Cosine"}
    )
    cosine = between(IndexShape("dense", "cosine", 4), PINECONE, qdrant)
    assert cosine.names() == ["vectors-normalised"]
    assert [c.name for c in cosine.changes] == ["metric-named", "vectors-normalised"]
    unit = cosine.expected(Record(id="v", values=np.array([3, 4, 0, 0], np.float32)))
    assert unit.values is not None and unit.values.tolist() == [0.6000000238418579, 0.800000011920929, 0, 0]
    half = between(SHAPE, PINECONE, replace(PINECONE, kind="halfvec", float16=True))
    assert half.names() == ["values-float16"]
    # back from a database that holds more than Pinecone: only refusals (dead letters), nothing to accept
    back = between(SHAPE, replace(fidelity.FILES, kind="pgvector"), PINECONE)
    assert back.exact and [c.name for c in back.changes] == [
        "sparse-size-refused",
        "nested-metadata-refused",
        "metadata-size-refused",
        "long-ids-refused",
        "non-ascii-ids-refused",
    ]
    nested = Record(id="é", values=np.ones(4, np.float32), metadata={"deep": {"a": 1}})  # type: ignore[dict-item]
    assert back.refusal_of(nested) is not None
    assert back.refusal_of(Record(id="ok", values=np.ones(4, np.float32), metadata={"a": ["x"]})) is None


def test_pairs_no_acceptance_makes_work_are_refused() -> None:
    with pytest.raises(UserError, match="sparse vectors only"):
        between(IndexShape("sparse", "dotproduct", None), PINECONE, SCALARS)
    with pytest.raises(UserError, match="metric 'manhattan'"):
        between(
            IndexShape("dense", "manhattan", 4), replace(PINECONE, metrics=frozenset({"manhattan"})), PINECONE
        )
    with pytest.raises(UserError, match="dimension 30000"):
        between(IndexShape("dense", "cosine", 30_000), fidelity.FILES, PINECONE)


def test_a_fidelity_travels_to_worker_processes() -> None:
    pair = between(SHAPE, fidelity.FILES, SCALARS)
    assert pair.written(Record(id="x", values=np.ones(4, np.float32), metadata={"t": ["a"]}))[1] is None
    copied = pickle.loads(pickle.dumps(pair))
    assert copied.names() == pair.names() and copied.changed == {"lists-as-json": 1}
    long = Record(id="x" * 11, values=np.ones(4, np.float32))
    assert copied.refusal_of(long) == pair.refusal_of(long) is not None
