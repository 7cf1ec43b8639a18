"""Pinecone's metadata filter language, operator by operator, plus a property test against a reference."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinecone_migrator.filters import FilterError, compile_filter

RECORD = {"genre": "drama", "year": 2019, "rating": 7.5, "live": True, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("filter_json", "matches"),
    [
        ({"genre": "drama"}, True),
        ({"genre": {"$eq": "comedy"}}, False),
        ({"genre": {"$ne": "comedy"}}, True),
        ({"year": 2019.0}, True),
        ({"year": {"$gt": 2018, "$lt": 2020}}, True),
        ({"year": {"$gte": 2019.0}}, True),
        ({"year": {"$lte": 2018}}, False),
        ({"rating": {"$in": [7.5, 8]}}, True),
        ({"rating": {"$nin": [7.5]}}, False),
        ({"live": True}, True),
        ({"live": 1}, False),
        ({"year": True}, False),
        ({"tags": "a"}, True),
        ({"tags": {"$ne": "a"}}, False),
        ({"tags": {"$ne": "z"}}, True),
        ({"tags": {"$in": ["z", "b"]}}, True),
        ({"tags": {"$nin": ["z", "b"]}}, False),
        ({"tags": {"$gt": 1}}, False),
        ({"genre": {"$gt": 1}}, False),
        ({"missing": {"$ne": True}}, False),  # Pinecone since 2024: $ne/$nin need the field
        ({"missing": {"$nin": ["x"]}}, False),
        ({"missing": {"$eq": "x"}}, False),
        ({"missing": {"$in": ["x"]}}, False),
        ({"missing": {"$exists": False}}, True),
        ({"genre": {"$exists": True}}, True),
        ({"genre": {"$exists": False}}, False),
        ({"$and": [{"genre": "drama"}, {"year": 2019}]}, True),
        ({"$or": [{"genre": "comedy"}, {"year": 2019}]}, True),
        ({"$or": [{"genre": "comedy"}, {"$and": [{"year": 2019}, {"live": False}]}]}, False),
        ({"genre": "drama", "year": 2020}, False),
        ({}, True),
    ],
)
def test_operators(filter_json: dict[str, Any], matches: bool) -> None:
    assert compile_filter(filter_json)(RECORD) is matches


@pytest.mark.parametrize(
    ("filter_json", "phrase"),
    [
        ({"a": {"$regex": "x"}}, "$regex"),
        ({"a": {"$gt": "x"}}, "needs a number"),
        ({"a": {"$gt": True}}, "needs a number"),
        ({"a": {"$in": "x"}}, "list"),
        ({"a": {"$in": list(range(10_001))}}, "10000"),
        ({"a": {"$exists": 1}}, "true or false"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$not": {"a": 1}}, "$not"),
        ({"a": {"$eq": {"b": 1}}}, "string, number or boolean"),
        ({"a": {"$eq": None}}, "string, number or boolean"),
        ({"a": {}}, "empty object"),
        ({"": 1}, "invalid field name"),
    ],
)
def test_invalid_filters_are_refused_with_a_clear_message(filter_json: dict[str, Any], phrase: str) -> None:
    with pytest.raises(FilterError, match=None) as refused:
        compile_filter(filter_json)
    assert phrase in str(refused.value)


def _reference(filter_json: dict[str, Any], metadata: dict[str, Any]) -> bool:
    """A direct, slow reading of Pinecone's rules, written independently of the compiled version."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        if isinstance(a, str) or isinstance(b, str):
            return isinstance(a, str) and isinstance(b, str) and a == b
        return float(a) == float(b)

    def test(field: str, op: str, operand: Any) -> bool:
        present = field in metadata and metadata[field] is not None
        value = metadata.get(field)
        items = value if isinstance(value, list) else [value]
        if op == "$eq":
            return present and any(same(i, operand) for i in items)
        if op == "$ne":
            return present and not any(same(i, operand) for i in items)
        if op == "$in":
            return present and any(same(i, o) for i in items for o in operand)
        if op == "$nin":
            return present and not any(same(i, o) for i in items for o in operand)
        if op == "$exists":
            return present is operand
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number:
            return False
        return {
            "$gt": value > operand,
            "$gte": value >= operand,
            "$lt": value < operand,
            "$lte": value <= operand,
        }[op]

    results = []
    for key, condition in filter_json.items():
        if key == "$and":
            results.append(all(_reference(part, metadata) for part in condition))
        elif key == "$or":
            results.append(any(_reference(part, metadata) for part in condition))
        elif isinstance(condition, dict):
            results.extend(test(key, op, operand) for op, operand in condition.items())
        else:
            results.append(test(key, "$eq", condition))
    return all(results)


fields = st.sampled_from(["a", "b", "c"])
scalars = st.one_of(
    st.sampled_from(["x", "y"]), st.integers(-2, 2), st.sampled_from([0.0, 1.0, 1.5]), st.booleans()
)
metadata = st.dictionaries(fields, st.one_of(scalars, st.lists(st.sampled_from(["x", "y", "z"]), max_size=3)))
numbers = st.one_of(st.integers(-2, 2), st.sampled_from([0.5, 1.0]))
conditions = st.one_of(
    scalars,
    st.dictionaries(st.sampled_from(["$eq", "$ne"]), scalars, min_size=1),
    st.dictionaries(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers, min_size=1),
    st.dictionaries(st.sampled_from(["$in", "$nin"]), st.lists(scalars, max_size=3), min_size=1),
    st.fixed_dictionaries({"$exists": st.booleans()}),
)
leaf = st.dictionaries(fields, conditions, min_size=1, max_size=2)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"$and": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"$or": st.lists(inner, min_size=1, max_size=3)}),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(filter_json=filters, record=metadata)
def test_compiled_filters_agree_with_the_reference(
    filter_json: dict[str, Any], record: dict[str, Any]
) -> None:
    assert compile_filter(filter_json)(record) is _reference(filter_json, record)
