"""The metadata filter language: each operator, validation messages, property tests against a reference."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinecone_migrator.filters import MAX_NESTING, FilterError, compile_filter

MOVIE: dict[str, Any] = {
    "genre": "drama",
    "year": 2019,
    "rating": 7.5,
    "live": True,
    "draft": False,
    "zero": 0,
    "tags": ["classic", "french"],
    "none": [],
}


def matches(filter_json: dict[str, Any] | None, metadata: dict[str, Any] = MOVIE) -> bool:
    return compile_filter(filter_json)(metadata)


# -- each operator -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_json", "expected"),
    [
        # $eq, bare values, and numbers as float64
        ({"genre": "drama"}, True),
        ({"genre": {"$eq": "drama"}}, True),
        ({"genre": {"$eq": "Drama"}}, False),
        ({"year": 2019}, True),
        ({"year": 2019.0}, True),
        ({"rating": {"$eq": 7.5}}, True),
        ({"rating": 7}, False),
        ({"zero": -0.0}, True),
        ({"live": True}, True),
        ({"live": False}, False),
        ({"draft": False}, True),
        # $ne
        ({"genre": {"$ne": "comedy"}}, True),
        ({"genre": {"$ne": "drama"}}, False),
        ({"year": {"$ne": 2019.0}}, False),
        ({"live": {"$ne": False}}, True),
        # ranges, bounds included or not
        ({"year": {"$gt": 2018}}, True),
        ({"year": {"$gt": 2019}}, False),
        ({"year": {"$gte": 2019}}, True),
        ({"year": {"$gte": 2019.5}}, False),
        ({"year": {"$lt": 2019}}, False),
        ({"year": {"$lt": 2019.5}}, True),
        ({"year": {"$lte": 2019}}, True),
        ({"year": {"$lte": 2018.99}}, False),
        ({"rating": {"$gt": 7, "$lt": 8}}, True),
        ({"rating": {"$gte": -1e308}}, True),
        # $in / $nin, including empty lists
        ({"genre": {"$in": ["comedy", "drama"]}}, True),
        ({"genre": {"$in": ["comedy"]}}, False),
        ({"year": {"$in": [2019.0, "x"]}}, True),
        ({"live": {"$in": [True]}}, True),
        ({"genre": {"$in": []}}, False),
        ({"genre": {"$nin": ["comedy", "horror"]}}, True),
        ({"genre": {"$nin": ["drama"]}}, False),
        ({"year": {"$nin": [2019]}}, False),
        ({"genre": {"$nin": []}}, True),
        # $exists
        ({"genre": {"$exists": True}}, True),
        ({"genre": {"$exists": False}}, False),
        ({"draft": {"$exists": True}}, True),
        ({"none": {"$exists": True}}, True),
        ({"absent": {"$exists": True}}, False),
        ({"absent": {"$exists": False}}, True),
    ],
)
def test_operators_on_scalars(filter_json: dict[str, Any], expected: bool) -> None:
    assert matches(filter_json) is expected


@pytest.mark.parametrize(
    ("filter_json", "expected"),
    [
        ({"tags": "french"}, True),
        ({"tags": {"$eq": "german"}}, False),
        ({"tags": {"$ne": "french"}}, False),
        ({"tags": {"$ne": "german"}}, True),
        ({"tags": {"$in": ["german", "classic"]}}, True),
        ({"tags": {"$in": ["german", "modern"]}}, False),
        ({"tags": {"$nin": ["german", "classic"]}}, False),
        ({"tags": {"$nin": ["german", "modern"]}}, True),
        ({"tags": {"$gt": 0}}, False),
        ({"tags": {"$lt": 1e300}}, False),
        ({"tags": {"$exists": True}}, True),
        # an empty list holds nothing
        ({"none": "x"}, False),
        ({"none": {"$ne": "x"}}, True),
        ({"none": {"$in": ["x"]}}, False),
        ({"none": {"$nin": ["x"]}}, True),
    ],
)
def test_operators_on_lists_of_strings(filter_json: dict[str, Any], expected: bool) -> None:
    assert matches(filter_json) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"$ne": True}, False),
        ({"$ne": "x"}, False),
        ({"$nin": ["x", 1]}, False),
        ({"$nin": []}, False),
        ({"$exists": False}, True),
        ({"$eq": "x"}, False),
        ("x", False),
        ({"$in": ["x", 1, True]}, False),
        ({"$gt": -1e300}, False),
        ({"$gte": 0}, False),
        ({"$lt": 1e300}, False),
        ({"$lte": 0}, False),
        ({"$exists": True}, False),
    ],
)
def test_a_missing_field_matches_only_exists_false(condition: Any, expected: bool) -> None:
    assert matches({"f": condition}, {}) is expected
    assert matches({"f": condition}, {"other": 1}) is expected
    assert matches({"f": condition}, {"f": None}) is expected  # a null counts as missing


def test_ne_true_alone_misses_records_never_stamped_so_stamp_mode_adds_exists_false() -> None:
    ne_only = compile_filter({"migrated": {"$ne": True}})
    assert not ne_only({})
    assert not ne_only({"genre": "drama"})
    assert ne_only({"migrated": False})
    unstamped = compile_filter({"$or": [{"migrated": {"$exists": False}}, {"migrated": {"$ne": True}}]})
    assert unstamped({})
    assert unstamped({"genre": "drama"})
    assert unstamped({"migrated": False})
    assert not unstamped({"migrated": True})


@pytest.mark.parametrize(
    ("filter_json", "metadata"),
    [
        ({"f": True}, {"f": 1}),
        ({"f": 1}, {"f": True}),
        ({"f": 1.0}, {"f": True}),
        ({"f": False}, {"f": 0}),
        ({"f": 0}, {"f": False}),
        ({"f": {"$in": [1]}}, {"f": True}),
        ({"f": {"$in": [True]}}, {"f": 1}),
        ({"f": {"$in": [0.0]}}, {"f": False}),
        ({"f": {"$gt": 0}}, {"f": True}),
        ({"f": {"$lte": 0}}, {"f": False}),
        ({"f": "5"}, {"f": 5}),
        ({"f": 5}, {"f": "5"}),
        ({"f": {"$in": ["5"]}}, {"f": 5}),
        ({"f": {"$gte": 0}}, {"f": "5"}),
        ({"f": "true"}, {"f": True}),
        ({"f": 1}, {"f": ["1"]}),
        ({"f": True}, {"f": ["True", "true"]}),
    ],
)
def test_types_never_mix_booleans_are_not_numbers(
    filter_json: dict[str, Any], metadata: dict[str, Any]
) -> None:
    assert not matches(filter_json, metadata)
    ((field, condition),) = filter_json.items()
    if not isinstance(condition, dict):
        assert matches({field: {"$ne": condition}}, metadata)
    elif "$in" in condition:
        assert matches({field: {"$nin": condition["$in"]}}, metadata)


@pytest.mark.parametrize(
    ("filter_json", "metadata", "expected"),
    [
        ({"f": 2**53}, {"f": 2**53 + 1}, True),  # float64 cannot tell them apart; Pinecone stores float64
        ({"f": {"$gt": 2**53}}, {"f": 2**53 + 1}, False),
        ({"f": {"$in": [2**53 + 1]}}, {"f": float(2**53)}, True),
        ({"f": 0.1 + 0.2}, {"f": 0.3}, False),
        ({"f": {"$gt": 1e308}}, {"f": 10**400}, True),  # out of float64 range: +infinity, not a crash
        ({"f": {"$lt": -1e308}}, {"f": -(10**400)}, True),
        ({"f": {"$ne": 1}}, {"f": 10**400}, True),
    ],
)
def test_numbers_compare_as_float64(
    filter_json: dict[str, Any], metadata: dict[str, Any], expected: bool
) -> None:
    assert matches(filter_json, metadata) is expected


# -- combining -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_json", "expected"),
    [
        ({"genre": "drama", "year": 2019}, True),
        ({"genre": "drama", "year": 2020}, False),
        ({"genre": "comedy", "year": 2019}, False),
        ({"year": {"$gte": 2010, "$lt": 2020}}, True),
        ({"year": {"$gte": 2010, "$lt": 2019}}, False),
        ({"year": {"$ne": 2018, "$in": [2018, 2019]}}, True),
        ({"$and": [{"genre": "drama"}, {"year": 2019}]}, True),
        ({"$and": [{"genre": "drama"}, {"year": 2018}]}, False),
        ({"$or": [{"genre": "comedy"}, {"year": 2019}]}, True),
        ({"$or": [{"genre": "comedy"}, {"year": 2018}]}, False),
        ({"$or": [{"genre": "comedy"}, {"$and": [{"year": 2019}, {"live": False}]}]}, False),
        ({"$or": [{"genre": "comedy"}, {"$and": [{"year": 2019}, {"live": True}]}]}, True),
        (
            {
                "$and": [
                    {"$or": [{"tags": "french"}, {"tags": "german"}]},
                    {"$or": [{"year": 1}, {"zero": 0}]},
                ]
            },
            True,
        ),
        ({"$and": [{"$or": [{"tags": "german"}, {"tags": "dutch"}]}, {"zero": 0}]}, False),
        ({"$or": [{"genre": "comedy"}], "year": 2019}, False),  # $or beside a field: both must hold
        ({"$or": [{"genre": "drama"}], "$and": [{"year": 2018}]}, False),
        ({"$or": [{"genre": "drama"}], "$and": [{"year": 2019}]}, True),
        ({"$and": [{}]}, True),
        ({"$or": [{}, {"genre": "comedy"}]}, True),
    ],
)
def test_and_or_and_implicit_and(filter_json: dict[str, Any], expected: bool) -> None:
    assert matches(filter_json) is expected


@pytest.mark.parametrize("filter_json", [None, {}])
@pytest.mark.parametrize("metadata", [{}, MOVIE])
def test_no_filter_matches_everything(filter_json: dict[str, Any] | None, metadata: dict[str, Any]) -> None:
    assert matches(filter_json, metadata) is True


def test_the_predicate_does_not_depend_on_the_filter_object_after_compiling() -> None:
    filter_json: dict[str, Any] = {"genre": {"$in": ["drama"]}, "$or": [{"year": 2019}]}
    predicate = compile_filter(filter_json)
    filter_json["genre"]["$in"].clear()
    filter_json["$or"].append({"live": False})
    filter_json["year"] = 1
    assert predicate(MOVIE)


def test_ten_thousand_values_are_allowed_in_in_and_nin() -> None:
    values = [f"v{i}" for i in range(10_000)]
    assert compile_filter({"f": {"$in": values}})({"f": "v9999"})
    assert not compile_filter({"f": {"$nin": values}})({"f": ["x", "v0"]})


# -- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_json", "phrases"),
    [
        ({"a": {"$regex": "x"}}, ["Unknown operator '$regex'", "field 'a'", "$eq, $ne"]),
        ({"a": {"$not": {"$eq": 1}}}, ["Unknown operator '$not'"]),
        ({"$not": {"a": 1}}, ["Unknown operator '$not'", "cannot start with '$'"]),
        ({"$nor": [{"a": 1}]}, ["Unknown operator '$nor'"]),
        ({"$eq": 1}, ["$eq must be applied to a field", '{"genre": {"$eq": ...}}']),
        ({"a": {"$and": [{"b": 1}]}}, ["$and cannot be used inside field 'a'", "top level"]),
        ({"a": {"$gt": "2019"}}, ["$gt on field 'a' needs a number", "str '2019'", "numbers only"]),
        ({"a": {"$gte": True}}, ["$gte on field 'a' needs a number", "got true"]),
        ({"a": {"$lt": None}}, ["$lt on field 'a' needs a number", "got null"]),
        ({"a": {"$lte": [1]}}, ["$lte on field 'a' needs a number", "list [1]"]),
        ({"a": {"$gt": float("nan")}}, ["$gt on field 'a'", "finite"]),
        ({"a": {"$lt": float("inf")}}, ["$lt on field 'a'", "finite"]),
        ({"a": {"$eq": 10**400}}, ["$eq on field 'a'", "finite float64"]),
        (
            {"a": {"$eq": None}},
            ["$eq on field 'a' needs a string, number or boolean", '{"a": {"$exists": false}}'],
        ),
        ({"a": None}, ["$eq on field 'a' needs a string, number or boolean", "got null"]),
        ({"a": ["x", "y"]}, ["$eq on field 'a'", "got list", '{"a": {"$in": [...]}}']),
        ({"a": {"$ne": ["x"]}}, ["$ne on field 'a' needs a string, number or boolean", "$in"]),
        ({"a": {"$in": "x"}}, ["$in on field 'a' needs a list of values", "str 'x'"]),
        ({"a": {"$nin": {"x": 1}}}, ["$nin on field 'a' needs a list of values"]),
        ({"a": {"$in": ["x", None]}}, ["$in on field 'a' needs a string, number or boolean", "got null"]),
        ({"a": {"$nin": [["x"]]}}, ["$nin on field 'a' needs a string, number or boolean", "got list"]),
        (
            {"a": {"$in": [f"v{i}" for i in range(10_001)]}},
            ["$in on field 'a' has 10001 values", "at most 10000"],
        ),
        ({"a": {"$nin": list(range(10_001))}}, ["$nin on field 'a' has 10001 values", "split"]),
        ({"a": {"$exists": 1}}, ["$exists on field 'a' needs true or false", "int 1"]),
        ({"a": {"$exists": "true"}}, ["$exists on field 'a' needs true or false"]),
        ({"$and": []}, ["$and needs a non-empty list of filter objects", "list []"]),
        ({"$or": {"a": 1}}, ["$or needs a non-empty list of filter objects", "dict"]),
        ({"$or": None}, ["$or needs a non-empty list", "got null"]),
        ({"$and": ["a"]}, ["Each entry of $and must be a JSON object", "str 'a'"]),
        ({"$or": [{"a": 1}, [{"b": 2}]]}, ["Each entry of $or must be a JSON object", "list"]),
        ({"a": {}}, ["field 'a' is an empty object", '{"a": {"$eq": value}}']),
        ({"a": {"b": 1}}, ["Field 'a' has a nested object with key 'b'", "cannot be nested"]),
        ({"a": {"$eq": 1, "b": 1}}, ["Field 'a' has a nested object with key 'b'"]),
        ({"a": {"$eq": {"b": 1}}}, ["$eq on field 'a' needs a string, number or boolean", "dict"]),
        ({"": 1}, ["'' is an invalid field name", "non-empty strings"]),
        ({1: "x"}, ["1 is an invalid field name"]),
        ({"$": 1}, ["Unknown operator '$'", "cannot start with '$'"]),
    ],
)
def test_invalid_filters_are_refused_with_a_clear_message(filter_json: Any, phrases: list[str]) -> None:
    with pytest.raises(FilterError) as refused:
        compile_filter(filter_json)
    for phrase in phrases:
        assert phrase in str(refused.value)


@pytest.mark.parametrize("filter_json", [[{"a": 1}], [], "a", "", 1, 0, False])
def test_a_filter_must_be_an_object(filter_json: Any) -> None:
    with pytest.raises(FilterError, match="A filter must be a JSON object"):
        compile_filter(filter_json)


def test_the_whole_filter_is_validated_even_where_evaluation_would_not_reach() -> None:
    with pytest.raises(FilterError, match=r"\$regex"):
        compile_filter({"$or": [{}, {"a": {"$regex": "x"}}]})
    with pytest.raises(FilterError, match=r"\$gt"):
        compile_filter({"$and": [{"a": {"$in": []}}, {"b": {"$gt": "x"}}]})


def test_filter_error_is_a_value_error() -> None:
    assert issubclass(FilterError, ValueError)


# -- nesting ------------------------------------------------------------------------------------------------


def _nested(levels: int, operator: str, second: bool = True) -> dict[str, Any]:
    """``levels`` of ``{operator: [inner, {"year": -1}]}`` (or ``[inner]``) around ``{"genre": "drama"}``."""
    node: dict[str, Any] = {"genre": "drama"}
    for _ in range(levels):
        node = {operator: [node, {"year": -1}] if second else [node]}
    return node


@pytest.mark.parametrize("operator", ["$and", "$or"])
def test_filters_nested_up_to_the_limit_compile_and_evaluate(operator: str) -> None:
    predicate = compile_filter(_nested(MAX_NESTING, operator))
    assert predicate(MOVIE) is (operator == "$or")
    assert compile_filter(_nested(MAX_NESTING, operator, second=False))(MOVIE) is True


@pytest.mark.parametrize("operator", ["$and", "$or"])
@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 300, 5_000])
@pytest.mark.parametrize("second", [True, False])
def test_filters_nested_deeper_are_refused_with_filter_error(
    operator: str, levels: int, second: bool
) -> None:
    with pytest.raises(FilterError, match=f"more than {MAX_NESTING} levels deep: flatten it"):
        compile_filter(_nested(levels, operator, second))


def test_and_and_or_levels_count_together_toward_the_limit() -> None:
    node: dict[str, Any] = {"genre": "drama"}
    for level in range(5_000):
        node = {("$and", "$or")[level % 2]: [node]}
    with pytest.raises(FilterError, match="more than"):
        compile_filter(node)


def _deep_list(levels: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(levels):
        inner.append([])
        inner = inner[0]
    return outer


@pytest.mark.parametrize(
    "filter_json",
    [
        {"genre": {"$eq": _deep_list(5_000)}},
        {"genre": {"$in": [_deep_list(5_000)]}},
        {"genre": {"$in": _deep_list(5_000)}},
        {"genre": {"$gt": _deep_list(5_000)}},
        {"genre": {"$eq": {"x": _deep_list(5_000)}}},
        {"$or": _deep_list(5_000)},
    ],
)
def test_a_deeply_nested_value_is_described_without_recursion_error(filter_json: dict[str, Any]) -> None:
    with pytest.raises(FilterError) as refused:
        compile_filter(filter_json)
    assert len(str(refused.value)) < 400


# -- property tests ------------------------------------------------------------------------------------------


def _reference(filter_json: dict[str, Any], metadata: dict[str, Any]) -> bool:
    """Pinecone's rules read literally, one comparison at a time (no keys, no sets, no closures)."""

    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, (int, float)):
            return "number"
        return "string" if isinstance(value, str) else "other"

    def equal(stored: Any, given: Any) -> bool:
        if kind(stored) != kind(given):
            return False
        if kind(stored) == "number":
            return float(stored) == float(given)
        return stored == given  # type: ignore[no-any-return]

    def holds(field: str, op: str, operand: Any) -> bool:
        stored = metadata.get(field)
        elements = [] if stored is None else stored if isinstance(stored, list) else [stored]
        if op == "$eq":
            return any(equal(element, operand) for element in elements)
        if op == "$ne":
            return stored is not None and not holds(field, "$eq", operand)
        if op == "$in":
            return any(holds(field, "$eq", option) for option in operand)
        if op == "$nin":
            return stored is not None and not holds(field, "$in", operand)
        if op == "$exists":
            return stored is not None if operand else stored is None
        if kind(stored) != "number":
            return False
        difference = float(stored) - float(operand)  # type: ignore[arg-type]  # a number, checked above
        return {
            "$gt": difference > 0,
            "$gte": difference >= 0,
            "$lt": difference < 0,
            "$lte": difference <= 0,
        }[op]

    for key, condition in filter_json.items():
        if key == "$and" and not all(_reference(part, metadata) for part in condition):
            return False
        if key == "$or" and not any(_reference(part, metadata) for part in condition):
            return False
        if key.startswith("$"):
            continue
        operators = condition if isinstance(condition, dict) else {"$eq": condition}
        if not all(holds(key, op, operand) for op, operand in operators.items()):
            return False
    return True


# Small pools, so that stored values often coincide with operands (records also draw from the filter's own
# operands) and mutations of the implementation show; a few large numbers probe float64 rounding.
FIELDS = ["a", "b"]
strings = st.sampled_from(["x", "y", "1"])
numbers = st.one_of(
    st.sampled_from([0, 1, 0.0, -0.0, 1.0, 2.5]),  # mostly values a boolean could be mistaken for
    st.sampled_from([2**53, 2**53 + 1, float(2**53), -1e300]),
)
scalars = st.one_of(strings, numbers, st.booleans())
metadata_values = st.one_of(st.none(), st.lists(strings, max_size=3), scalars)

OPERANDS: dict[str, st.SearchStrategy[Any]] = {
    "$eq": scalars,
    "$ne": scalars,
    "$gt": numbers,
    "$gte": numbers,
    "$lt": numbers,
    "$lte": numbers,
    "$in": st.lists(scalars, max_size=4),
    "$nin": st.lists(scalars, max_size=4),
    "$exists": st.booleans(),
}
# Mostly one operator per field (several would mask each other's effect), sometimes two.
one_operator = st.sampled_from(sorted(OPERANDS)).flatmap(
    lambda op: OPERANDS[op].map(lambda value: {op: value})
)
operator_objects = st.lists(one_operator, min_size=1, max_size=2).map(lambda parts: {**parts[0], **parts[-1]})
# A lone $eq is sometimes written bare ({"a": 1}). (st.one_of(scalars, ...) would favour bare values: one_of
# flattens the branches of scalars.)
conditions = st.tuples(operator_objects, st.booleans()).map(
    lambda pair: pair[0]["$eq"] if pair[1] and list(pair[0]) == ["$eq"] else pair[0]
)
leaves = st.dictionaries(st.sampled_from(FIELDS), conditions, min_size=1, max_size=2)
filters = st.recursive(
    leaves,
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "$and": st.lists(inner, min_size=1, max_size=3),
            "$or": st.lists(inner, min_size=1, max_size=3),
            "a": conditions,
        },
    ),
    max_leaves=5,
)


def _operands(filter_json: dict[str, Any]) -> list[Any]:
    """Every scalar a filter compares with, so that records can be drawn to hit its boundaries."""
    found: list[Any] = []
    for key, condition in filter_json.items():
        if key in ("$and", "$or"):
            for part in condition:
                found.extend(_operands(part))
            continue
        for operand in condition.values() if isinstance(condition, dict) else [condition]:
            found.extend(operand if isinstance(operand, list) else [operand])
    return found


@settings(max_examples=1500, deadline=None)
@given(filter_json=filters, data=st.data())
def test_compiled_filters_agree_with_a_reference_interpreter(
    filter_json: dict[str, Any], data: st.DataObject
) -> None:
    values = metadata_values
    operands = _operands(filter_json)
    if operands:
        texts = [operand for operand in operands if isinstance(operand, str)] or ["x"]
        values = st.one_of(values, st.sampled_from(operands), st.lists(st.sampled_from(texts), max_size=3))
    records = data.draw(st.lists(st.dictionaries(st.sampled_from(FIELDS), values), min_size=1, max_size=8))
    predicate = compile_filter(filter_json)
    for record in records:
        assert predicate(record) is _reference(filter_json, record), (filter_json, record)


json_like = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**400, -(10**400)]),
        st.floats(),
        st.text(max_size=3),
        st.sampled_from(["$eq", "$in", "$and", "a"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    ["$eq", "$ne", "$gt", "$in", "$nin", "$exists", "$and", "$or", "$not", "a", "b", ""]
                ),
                st.text(max_size=2),
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=10,
)
odd_metadata = st.dictionaries(
    st.sampled_from(["a", "b"]),
    st.one_of(
        metadata_values, st.sampled_from([10**400, -(10**400), float("nan")]), st.lists(numbers, max_size=2)
    ),
)


@settings(max_examples=1500, deadline=None)
@given(filter_json=json_like, record=odd_metadata)
def test_anything_either_compiles_to_a_total_predicate_or_is_refused_with_filter_error(
    filter_json: Any, record: dict[str, Any]
) -> None:
    try:
        predicate = compile_filter(filter_json)
    except FilterError as error:
        assert str(error)
        return
    assert predicate(record) in (True, False)
