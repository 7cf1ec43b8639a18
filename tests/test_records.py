"""The record model and its digest: what must make two records the same, and what must tell them apart."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pytest
import xxhash
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pinecone_migrator.records import (
    STAMP_KEYS,
    InvalidRecord,
    Record,
    SetDigest,
    SparseValues,
    approx_bytes,
    canonical_encoding,
    digest_of,
    record_digest,
    same_record,
)

f32s = st.floats(width=32, allow_nan=False, allow_infinity=False)
ids = st.text(min_size=1, max_size=12)
metadata_values = st.one_of(
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=4),
)
metadatas = st.dictionaries(st.text(max_size=8), metadata_values, max_size=6)


@st.composite
def records(draw: st.DrawFn, dense: bool | None = None, sparse: bool | None = None) -> Record:
    has_dense = draw(st.booleans()) if dense is None else dense
    has_sparse = draw(st.booleans()) if sparse is None else sparse
    values = np.array(draw(st.lists(f32s, min_size=1, max_size=12)), np.float32) if has_dense else None
    sparse_values = None
    if has_sparse:
        pairs = draw(st.dictionaries(st.integers(0, 2**32 - 1), f32s, min_size=1, max_size=8))
        sparse_values = SparseValues(
            indices=np.array(list(pairs), np.uint32), values=np.array(list(pairs.values()), np.float32)
        )
    return Record(id=draw(ids), values=values, sparse=sparse_values, metadata=draw(metadatas))


def replace(record: Record, **changes: Any) -> Record:
    fields = {"id": record.id, "values": record.values, "sparse": record.sparse, "metadata": record.metadata}
    fields.update(changes)
    return Record(**fields)


def other_float32(x: float) -> np.float32:
    """A float32 that differs from ``x`` in value (not only in the sign of zero)."""
    return np.float32(1.0) if x == 0 else np.float32(-x)


# --- invariance: different spellings of the same record ---------------------------------------------------


@given(records(), st.randoms())
def test_digest_ignores_metadata_key_order(record: Record, rnd: random.Random) -> None:
    items = list(record.metadata.items())
    rnd.shuffle(items)
    assert record_digest(replace(record, metadata=dict(items))) == record_digest(record)


@given(records(), st.dictionaries(st.text(max_size=6), st.integers(-(2**53), 2**53), min_size=1))
def test_int_and_float_spellings_hash_equally(record: Record, numbers: dict[str, int]) -> None:
    as_ints = replace(record, metadata={**record.metadata, **numbers})
    as_floats = replace(record, metadata={**record.metadata, **{k: float(v) for k, v in numbers.items()}})
    assert record_digest(as_ints) == record_digest(as_floats)
    assert as_ints == as_floats


@given(records())
def test_json_round_trip_keeps_digest_and_equality(record: Record) -> None:
    wire = orjson.loads(orjson.dumps(record.to_json()))
    back = Record.from_json(wire)
    assert record_digest(back) == record_digest(record)
    assert back == record
    assert back.to_json() == record.to_json()


@given(st.lists(f32s, min_size=1, max_size=20))
def test_python_floats_of_float32_values_hash_like_the_array(floats: list[float]) -> None:
    array = np.array(floats, np.float32)
    spelled = orjson.loads(orjson.dumps([float(x) for x in array]))
    assert record_digest(Record(id="a", values=spelled)) == record_digest(Record(id="a", values=array))


def test_float64_values_are_rounded_to_float32() -> None:
    rounded = Record(id="a", values=[0.1, 1 / 3])
    assert rounded.values is not None and rounded.values.dtype == np.float32
    assert record_digest(rounded) == record_digest(Record(id="a", values=np.array([0.1, 1 / 3], np.float32)))


@given(st.lists(records(), max_size=12, unique_by=lambda r: r.id), st.randoms())
def test_set_digest_ignores_order(rs: list[Record], rnd: random.Random) -> None:
    shuffled = list(rs)
    rnd.shuffle(shuffled)
    assert digest_of(shuffled) == digest_of(rs)
    assert digest_of(rs).count == len(rs)


def test_sparse_pair_order_is_not_information() -> None:
    unsorted = SparseValues(indices=[9, 2, 5], values=[0.9, 0.2, 0.5])
    assert unsorted.indices.tolist() == [2, 5, 9]
    assert unsorted.values.tolist() == [np.float32(x) for x in (0.2, 0.5, 0.9)]
    ordered = SparseValues(indices=[2, 5, 9], values=[0.2, 0.5, 0.9])
    assert record_digest(Record(id="s", sparse=unsorted)) == record_digest(Record(id="s", sparse=ordered))


def test_nulls_dropped_and_absent_equals_empty() -> None:
    plain = Record(id="a", values=[1.0])
    assert Record(id="a", values=[1.0], metadata={"x": None, "y": 1}).metadata == {"y": 1}
    assert Record(id="a", values=[1.0], metadata={"x": None}) == plain
    assert record_digest(Record(id="a", values=[1.0], metadata={"x": None})) == record_digest(plain)
    assert record_digest(Record(id="a", values=[1.0], sparse=SparseValues([], []))) == record_digest(plain)
    empty_dense = Record(id="a", values=[], sparse=SparseValues([1], [1.0]))
    assert empty_dense.values is None
    assert record_digest(empty_dense) == record_digest(Record(id="a", sparse=SparseValues([1], [1.0])))
    assert Record(id="a", values=[1.0], sparse=SparseValues([], [])).sparse is None


def test_numpy_scalars_in_metadata_hash_like_python_numbers() -> None:
    python = Record(id="a", metadata={"n": 3, "f": 0.5, "b": True})
    numpy = Record(id="a", metadata={"n": np.int64(3), "f": np.float64(0.5), "b": np.bool_(True)})
    assert record_digest(numpy) == record_digest(python)


# --- sensitivity: any single change must change the digest ------------------------------------------------


@given(records(dense=True), st.data())
def test_changing_one_dense_value_changes_digest(record: Record, data: st.DataObject) -> None:
    assert record.values is not None
    i = data.draw(st.integers(0, record.values.size - 1))
    values = record.values.copy()
    values[i] = other_float32(float(values[i]))
    changed = replace(record, values=values)
    assert record_digest(changed) != record_digest(record)
    assert changed != record


def test_negative_zero_is_kept_distinct() -> None:
    positive, negative = Record(id="z", values=[0.0, 1.0]), Record(id="z", values=[-0.0, 1.0])
    assert record_digest(positive) != record_digest(negative)
    assert positive != negative
    back = Record.from_json(orjson.loads(orjson.dumps(negative.to_json())))
    assert record_digest(back) == record_digest(negative)


@given(records(sparse=True), st.data())
def test_changing_one_sparse_value_or_index_changes_digest(record: Record, data: st.DataObject) -> None:
    assert record.sparse is not None
    indices, values = record.sparse.indices.copy(), record.sparse.values.copy()
    i = data.draw(st.integers(0, indices.size - 1))
    if data.draw(st.booleans()):
        values[i] = other_float32(float(values[i]))
    else:
        new_index = data.draw(st.integers(0, 2**32 - 1).filter(lambda n: n not in set(indices.tolist())))
        indices[i] = new_index
    changed = replace(record, sparse=SparseValues(indices=indices, values=values))
    assert record_digest(changed) != record_digest(record)
    assert changed != record


@given(records(), metadata_values, st.text(max_size=8))
def test_changing_one_metadata_value_changes_digest(record: Record, new: Any, key: str) -> None:
    old = record.metadata.get(key)
    assume(
        old is None
        or (
            orjson.dumps(float(old) if type(old) is int else old)
            != orjson.dumps(float(new) if type(new) is int else new)
        )
    )
    changed = replace(record, metadata={**record.metadata, key: new})
    assert record_digest(changed) != record_digest(record)
    assert changed != record


@given(records(), st.lists(st.text(max_size=4), min_size=2, max_size=5, unique=True))
def test_list_order_is_information(record: Record, tags: list[str]) -> None:
    forward = replace(record, metadata={**record.metadata, "tags": tags})
    backward = replace(record, metadata={**record.metadata, "tags": tags[::-1]})
    assert record_digest(forward) != record_digest(backward)


@pytest.mark.parametrize(("flag", "number"), [(True, 1), (True, 1.0), (False, 0), (False, 0.0)])
def test_booleans_are_not_numbers(flag: bool, number: float) -> None:
    as_bool, as_number = Record(id="b", metadata={"k": flag}), Record(id="b", metadata={"k": number})
    assert record_digest(as_bool) != record_digest(as_number)
    assert as_bool != as_number


@given(records(), ids)
def test_changing_id_changes_digest(record: Record, new_id: str) -> None:
    assume(new_id != record.id)
    assert record_digest(replace(record, id=new_id)) != record_digest(record)


def test_parts_are_length_prefixed_so_bytes_cannot_move_between_parts() -> None:
    a, b = np.float32(0.5), np.float32(2.0)
    dense = Record(id="x", values=[a, b])
    # A sparse pair whose index has the bit pattern of ``a``: the same 8 bytes, in the next part along.
    index = int(np.array([a], "<f4").view("<u4")[0])
    sparse = Record(id="x", sparse=SparseValues([index], [b]))
    assert dense.values is not None and sparse.sparse is not None
    assert dense.values.tobytes() == sparse.sparse.indices.tobytes() + sparse.sparse.values.tobytes()
    assert record_digest(dense) != record_digest(sparse)
    # The ID and the metadata cannot trade bytes either.
    assert record_digest(Record(id="ab", metadata={"k": "v"})) != record_digest(
        Record(id="a", metadata={"k": "v"})
    )


@given(records(), st.frozensets(st.text(max_size=8)))
def test_record_digest_hashes_the_canonical_encoding(record: Record, ignore: frozenset[str]) -> None:
    expected = xxhash.xxh3_128(canonical_encoding(record, ignore)).digest()
    assert record_digest(record, ignore) == int.from_bytes(expected, "little")


# --- ignore keys ---------------------------------------------------------------------------------------


@given(records(), st.text(max_size=20), st.booleans())
def test_ignored_stamp_keys_do_not_count(record: Record, stamp: str, flag: bool) -> None:
    unstamped = {k: v for k, v in record.metadata.items() if k not in STAMP_KEYS}
    base = replace(record, metadata=unstamped)
    stamped = replace(record, metadata={**unstamped, "migrated": flag, "migrated_at": stamp})
    assert record_digest(stamped, STAMP_KEYS) == record_digest(base, STAMP_KEYS) == record_digest(base)
    assert record_digest(stamped) != record_digest(base)
    assert digest_of([stamped], STAMP_KEYS) == digest_of([base])


# --- set digests ---------------------------------------------------------------------------------------


@given(st.lists(records(), max_size=12), st.data())
def test_set_digest_merge_and_remove_are_consistent(rs: list[Record], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(rs)))
    left, right = digest_of(rs[:cut]), digest_of(rs[cut:])
    left.merge(right)
    assert left == digest_of(rs)
    for record in rs[cut:]:
        left.remove(record_digest(record))
    assert left == digest_of(rs[:cut])
    grown = SetDigest()
    for record in rs:
        grown.add(record_digest(record))
    assert grown == digest_of(rs)
    assert 0 <= grown.total < 2**128


def test_set_digest_detects_a_changed_record() -> None:
    rs = [Record(id=str(i), values=[float(i), 1.0]) for i in range(5)]
    changed = [*rs[:4], Record(id="4", values=[4.0, 1.5])]
    assert digest_of(rs) != digest_of(changed)
    assert digest_of(rs).count == digest_of(changed).count


def test_set_digest_sum_wraps_at_128_bits() -> None:
    top = SetDigest()
    top.add(2**128 - 1)
    top.add(2)
    assert top == SetDigest(count=2, total=1)
    top.remove(5)
    assert top.total == 2**128 - 4


def test_remove_from_empty_set_digest_is_refused() -> None:
    with pytest.raises(ValueError):
        SetDigest().remove(1)


@given(st.lists(records(), max_size=6))
def test_set_digest_json_round_trip(rs: list[Record]) -> None:
    digest = digest_of(rs)
    wire = orjson.loads(orjson.dumps(digest.to_json()))
    assert isinstance(wire["total"], str) and len(wire["total"]) == 32
    assert SetDigest.from_json(wire) == digest


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"count": 1},
        {"count": -1, "total": "0" * 32},
        {"count": 1, "total": "xyz"},
        {"count": True, "total": "0" * 32},
    ],
)
def test_set_digest_from_json_refuses_garbage(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SetDigest.from_json(bad)


# --- shapes: wire and SDK ------------------------------------------------------------------------------


def test_wire_shape_round_trip() -> None:
    wire = {
        "id": "doc-1",
        "values": [0.5, -1.25],
        "sparseValues": {"indices": [3, 1], "values": [0.3, 0.1]},
        "metadata": {"genre": "news", "year": 2020, "tags": ["a", "b"], "draft": False},
    }
    record = Record.from_json(wire)
    assert record.sparse is not None and record.sparse.indices.dtype == np.uint32
    out = record.to_json()
    assert out == {
        "id": "doc-1",
        "values": [0.5, -1.25],
        "sparseValues": {"indices": [1, 3], "values": [float(np.float32(0.1)), float(np.float32(0.3))]},
        "metadata": {"genre": "news", "year": 2020, "tags": ["a", "b"], "draft": False},
    }
    assert all(type(v) is float for v in out["values"] + out["sparseValues"]["values"])
    assert all(type(i) is int for i in out["sparseValues"]["indices"])
    assert Record.from_json(out) == record


def test_sdk_snake_case_shape_is_accepted() -> None:
    sdk = {"id": "s", "values": [], "sparse_values": {"indices": [7], "values": [0.5]}, "metadata": None}
    record = Record.from_json(sdk)
    assert record.values is None and record.metadata == {}
    assert record.to_json() == {"id": "s", "sparseValues": {"indices": [7], "values": [0.5]}}
    assert record == Record.from_json(record.to_json())


def test_to_json_omits_empty_parts() -> None:
    assert Record(id="only-id").to_json() == {"id": "only-id"}
    assert Record(id="d", values=[1.0]).to_json() == {"id": "d", "values": [1.0]}


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"values": [1.0]}, "id"),
        ({"id": 5, "values": [1.0]}, "string"),
        ({"id": "a", "values": [float("nan")]}, "NaN"),
        ({"id": "a", "values": [1e39]}, "float32"),
        ({"id": "a", "values": [[1.0]]}, "one-dimensional"),
        ({"id": "a", "sparseValues": {"indices": [1, 1], "values": [1.0, 2.0]}}, "distinct"),
        ({"id": "a", "sparseValues": {"indices": [1, 2], "values": [1.0]}}, "length"),
        ({"id": "a", "sparseValues": {"indices": [-1], "values": [1.0]}}, "0.."),
        ({"id": "a", "sparseValues": {"indices": [2**32], "values": [1.0]}}, "0.."),
        ({"id": "a", "sparseValues": {"indices": [1.5], "values": [1.0]}}, "integers"),
        ({"id": "a", "sparseValues": {"indices": [1]}}, "indices"),
        ({"id": "a", "sparseValues": {"indices": [1], "values": [1.0]}, "sparse_values": {}}, "both"),
        ({"id": "a", "metadata": ["x"]}, "metadata"),
    ],
)
def test_impossible_records_are_refused(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        Record.from_json(obj)


def test_records_are_read_only_and_unhashable() -> None:
    record = Record(id="a", values=np.ones(3, np.float32), sparse=SparseValues([1], [1.0]))
    assert record.values is not None and record.sparse is not None
    with pytest.raises(ValueError):
        record.values[0] = 2.0
    with pytest.raises(ValueError):
        record.sparse.values[0] = 2.0
    with pytest.raises(TypeError):
        hash(record)


@given(records())
def test_same_record_agrees_with_equality(record: Record) -> None:
    copy = Record.from_json(record.to_json())
    assert same_record(record, copy) and record == copy
    assert not same_record(record, replace(record, id=record.id + "x"))


# --- size estimate -------------------------------------------------------------------------------------


def test_approx_bytes_formula() -> None:
    metadata = {"genre": "news", "year": 2020}
    record = Record(
        id="café",
        values=np.ones(768, np.float32),
        sparse=SparseValues([1, 2, 3], [1, 2, 3]),
        metadata=metadata,
    )
    assert approx_bytes(record) == 5 + 4 * 768 + 9 * 3 + len(b'{"genre":"news","year":2020}')
    assert approx_bytes(Record(id="a")) == 1


@settings(max_examples=50)
@given(records())
def test_approx_bytes_grows_with_each_part(record: Record) -> None:
    expected = len(record.id.encode()) + 4 * record.dimension
    expected += 9 * (len(record.sparse) if record.sparse is not None else 0)
    expected += len(orjson.dumps(record.metadata)) if record.metadata else 0
    assert approx_bytes(record) == expected
