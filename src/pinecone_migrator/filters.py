"""Pinecone's metadata filter language: validation and exact evaluation.

``compile_filter`` checks a whole filter once, raising ``FilterError`` for anything Pinecone would refuse,
and returns a predicate (nested closures) over one record's metadata. Semantics follow Pinecone's
documentation for serverless indexes; where it is silent, the choices are noted here.

* ``{"f": v}`` means ``{"f": {"$eq": v}}``. Several keys in one object, and several operators on one field
  (``{"year": {"$gte": 2000, "$lt": 2010}}``), are ANDed. ``$and``/``$or`` take a non-empty list of filter
  objects; an empty object inside them matches everything, as ``None`` or ``{}`` does at the top.
* ``$eq``/``$ne`` take a string, number or boolean; ``$gt``/``$gte``/``$lt``/``$lte`` a number;
  ``$in``/``$nin`` a list of 0 to 10,000 strings, numbers or booleans; ``$exists`` a boolean. Anything
  else, unknown operators (``$regex``, ``$not``), field names that are empty or start with ``$``, and nested
  objects that are not operator objects are refused.
* Numbers compare as float64: ``1`` equals ``1.0``, integers are rounded as Pinecone stores them, and an
  integer beyond float64's range counts as ±infinity in metadata (and is refused in a filter). A boolean is
  never a number: ``true`` does not equal ``1``.
* A value of another type than the operand is simply not equal (``$eq: "5"`` does not match ``5``, so
  ``$ne: "5"`` does); range operators match numbers only, never strings, booleans or lists.
* Against a list-of-strings value, ``$eq`` matches when the list contains the operand, ``$in`` when it
  shares an element with the operand list; ``$ne``/``$nin`` are exactly their negations.
* A missing field (or a null) matches ``$exists: false`` and nothing else: not ``$ne`` and not ``$nin``
  either. Pinecone changed this in 2024 (serverless indexes: "$ne/$nin" only match records that have the
  field; reported in deepset-ai/haystack-core-integrations#590, whose tests had to add ``$exists``), so
  ``{"migrated": {"$ne": true}}`` alone misses records never stamped: ask for
  ``{"$or": [{"migrated": {"$exists": false}}, {"migrated": {"$ne": true}}]}``.
* ``$and``/``$or`` may nest at most ``MAX_NESTING`` levels deep; a deeper filter is refused like any other
  invalid one (Pinecone documents no limit, see ``MAX_NESTING``).
"""

from __future__ import annotations

import json
import math
import operator
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

MetadataPredicate = Callable[[Mapping[str, Any]], bool]

MAX_IN_VALUES = 10_000
# Pinecone states no nesting limit for $and/$or (neither its documentation nor the 10.x SDK). Filters written
# by hand or built by query builders are a few levels deep, so 32 refuses nothing real, while it keeps both
# compiling (one recursion per level) and evaluating (one closure call per level) far from Python's
# recursion limit, wherever compile_filter is called from. The SDK cannot even send much deeper: it encodes
# with orjson, which refuses more than about 250 levels of JSON nesting (some 125 of $or).
MAX_NESTING = 32
FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
LOGICAL_OPERATORS = ("$and", "$or")

# A scalar reduced to a hashable key that equals another key exactly when Pinecone calls the values equal:
# strings stay strings, numbers become floats, booleans become tuples (in Python True == 1 == 1.0, so a
# bare bool would collide with numbers in a set).
_Key: TypeAlias = "str | float | tuple[str, bool]"
_TRUE: _Key = ("bool", True)
_FALSE: _Key = ("bool", False)
_RANGE: dict[str, Callable[[float, float], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_SUPPORTED = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin and $exists on a field; $and and $or at the top"


class FilterError(ValueError):
    """A filter Pinecone would refuse; the message says what is wrong and how to fix it."""


def _bounded_repr() -> reprlib.Repr:
    """A repr bounded in depth too: a value nested thousands of levels deep must not overflow the stack
    while its error message is written. (Repr takes no keyword arguments before Python 3.12.)"""
    bounded = reprlib.Repr()
    bounded.maxlevel = 3
    bounded.maxstring = bounded.maxother = 40
    return bounded


_short_repr = _bounded_repr()


def _describe(value: Any) -> str:
    """A short description of an offending value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = _short_repr.repr(value) if isinstance(value, (list, dict)) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _example(field: str, op: str, operand: str) -> str:
    """A condition as JSON text, for the fixes error messages suggest."""
    return f'{{{json.dumps(field)}: {{"{op}": {operand}}}}}'


def _float64(number: int | float) -> float:
    """A number as Pinecone stores it; integers too large for float64 round to ±infinity."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _key(value: Any) -> _Key | None:
    """The comparison key of a metadata scalar; None for values no operand can equal (lists, objects)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, (int, float)):
        return _float64(value)
    return None


def _operand_number(op: str, field: str, value: Any) -> float:
    """A numeric operand, refused when it is not a finite float64."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise FilterError(
            f"{op} on field {field!r} has {_describe(value)}: numbers must be finite float64 values."
        )
    return number


def _operand_key(op: str, field: str, value: Any) -> _Key:
    """The key of an ``$eq``/``$ne``/``$in``/``$nin`` operand; only strings, numbers and booleans pass."""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _operand_number(op, field, value)
    hint = ""
    if isinstance(value, list):
        hint = f"; to match any of several values use {_example(field, '$in', '[...]')}"
    elif value is None:
        hint = f"; to match records without the field use {_example(field, '$exists', 'false')}"
    raise FilterError(
        f"{op} on field {field!r} needs a string, number or boolean, got {_describe(value)}{hint}."
    )


# -- predicates over one field ------------------------------------------------------------------------------


def _equals(field: str, wanted: _Key) -> MetadataPredicate:
    in_lists = isinstance(wanted, str)  # list elements are strings: only a string operand can be among them

    def equals(metadata: Mapping[str, Any]) -> bool:
        value = metadata.get(field)
        if isinstance(value, list):
            return in_lists and wanted in value
        return value is not None and _key(value) == wanted

    return equals


def _member(field: str, options: frozenset[_Key]) -> MetadataPredicate:
    def member(metadata: Mapping[str, Any]) -> bool:
        value = metadata.get(field)
        if isinstance(value, list):
            return any(isinstance(item, str) and item in options for item in value)
        return value is not None and _key(value) in options

    return member


def _in_range(field: str, compare: Callable[[float, float], bool], bound: float) -> MetadataPredicate:
    def in_range(metadata: Mapping[str, Any]) -> bool:
        value = metadata.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return compare(_float64(value), bound)

    return in_range


def _exists(field: str, wanted: bool) -> MetadataPredicate:
    return lambda metadata: (metadata.get(field) is not None) is wanted


def _negated(field: str, predicate: MetadataPredicate) -> MetadataPredicate:
    """``$ne``/``$nin``: the field is present and the positive condition fails (see the module notes)."""
    return lambda metadata: metadata.get(field) is not None and not predicate(metadata)


def _field_condition(field: str, op: str, operand: Any) -> MetadataPredicate:
    """One operator applied to one field, validated."""
    if op in ("$eq", "$ne"):
        equals = _equals(field, _operand_key(op, field, operand))
        return equals if op == "$eq" else _negated(field, equals)
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise FilterError(f"{op} on field {field!r} needs a list of values, got {_describe(operand)}.")
        if len(operand) > MAX_IN_VALUES:
            raise FilterError(
                f"{op} on field {field!r} has {len(operand)} values; at most {MAX_IN_VALUES} are allowed: "
                "split it into several conditions."
            )
        member = _member(field, frozenset(_operand_key(op, field, item) for item in operand))
        return member if op == "$in" else _negated(field, member)
    if op in _RANGE:
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise FilterError(
                f"{op} on field {field!r} needs a number, got {_describe(operand)}: range operators compare "
                "numbers only."
            )
        return _in_range(field, _RANGE[op], _operand_number(op, field, operand))
    if op == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(f"$exists on field {field!r} needs true or false, got {_describe(operand)}.")
        return _exists(field, operand)
    if op in LOGICAL_OPERATORS:
        raise FilterError(
            f"{op} cannot be used inside field {field!r}: put it at the top level of a filter object."
        )
    raise FilterError(
        f"Unknown operator {op!r} on field {field!r}: the supported operators are {_SUPPORTED}."
    )


# -- combining ----------------------------------------------------------------------------------------------


def _match_all(metadata: Mapping[str, Any]) -> bool:
    return True


def _conjunction(predicates: list[MetadataPredicate]) -> MetadataPredicate:
    if not predicates:
        return _match_all
    if len(predicates) == 1:
        return predicates[0]

    def conjunction(metadata: Mapping[str, Any]) -> bool:
        for predicate in predicates:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not predicate(metadata):
                return False
        return True

    return conjunction


def _disjunction(predicates: list[MetadataPredicate]) -> MetadataPredicate:
    if len(predicates) == 1:
        return predicates[0]

    def disjunction(metadata: Mapping[str, Any]) -> bool:
        for predicate in predicates:  # noqa: SIM110 - as in _conjunction
            if predicate(metadata):
                return True
        return False

    return disjunction


def _field(field: str, condition: Any) -> Iterable[MetadataPredicate]:
    """The predicates of ``{field: condition}``: a bare value, or an object of operators."""
    if isinstance(condition, Mapping):
        if not condition:
            raise FilterError(
                f"The condition on field {field!r} is an empty object: give an operator, e.g. "
                f"{_example(field, '$eq', 'value')}."
            )
        for op in condition:
            if not isinstance(op, str) or not op.startswith("$"):
                raise FilterError(
                    f"Field {field!r} has a nested object with key {op!r}: metadata cannot be nested, so a "
                    f"field's object may only hold operators such as $eq or $in."
                )
        return [_field_condition(field, op, operand) for op, operand in condition.items()]
    return [_field_condition(field, "$eq", condition)]


def _compile(node: Any, where: str, depth: int = 0) -> MetadataPredicate:
    """The predicate of one filter object; ``depth`` counts the $and/$or levels around it."""
    if not isinstance(node, Mapping):
        raise FilterError(
            f'{where} must be a JSON object such as {{"genre": "drama"}}, got {_describe(node)}.'
        )
    predicates: list[MetadataPredicate] = []
    for key, value in node.items():
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} needs a non-empty list of filter objects, got {_describe(value)}.")
            if depth >= MAX_NESTING:
                raise FilterError(
                    f"The filter nests $and/$or more than {MAX_NESTING} levels deep: flatten it, e.g. merge "
                    'nested $and lists into one, or nested $or lists into one, or use "$in" for alternatives '
                    "of one field."
                )
            parts = [_compile(part, f"Each entry of {key}", depth + 1) for part in value]
            predicates.append(_conjunction(parts) if key == "$and" else _disjunction(parts))
        elif not isinstance(key, str) or not key:
            raise FilterError(f"{key!r} is an invalid field name: field names must be non-empty strings.")
        elif key in FIELD_OPERATORS:
            raise FilterError(f"{key} must be applied to a field, e.g. {_example('genre', key, '...')}.")
        elif key.startswith("$"):
            raise FilterError(
                f"Unknown operator {key!r} (or invalid field name: field names cannot start with '$'): "
                f"the supported operators are {_SUPPORTED}."
            )
        else:
            predicates.extend(_field(key, value))
    return _conjunction(predicates)


def compile_filter(filter_json: Mapping[str, Any] | None) -> MetadataPredicate:
    """Validate a filter and return a predicate over a record's metadata. None or {} matches everything.

    Raises ``FilterError`` (a ``ValueError``) naming the offending operator, field or value.
    """
    if filter_json is None:
        return _match_all
    return _compile(filter_json, "A filter")
