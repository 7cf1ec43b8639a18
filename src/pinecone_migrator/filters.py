"""Pinecone's metadata filter language: validation and exact evaluation.

Semantics (Pinecone's documentation, serverless indexes):

* ``{"f": v}`` means ``{"f": {"$eq": v}}``; several keys at one level, and several operators on one field,
  are ANDed; ``$and``/``$or`` take non-empty lists of filters.
* ``$eq``/``$ne`` take a string, number or boolean; ``$gt``/``$gte``/``$lt``/``$lte`` a number;
  ``$in``/``$nin`` a list of those (at most 10,000); ``$exists`` a boolean.
* Numbers compare as float64 (``1`` equals ``1.0``); a boolean is never a number.
* Against a list-of-strings value, ``$eq``/``$in`` match when any element matches, ``$ne``/``$nin`` when none
  does; range operators never match a list.
* A missing field matches ``$ne``, ``$nin`` and ``$exists: false`` only — the original migration script's
  ``{"migrated": {"$ne": true}}`` relies on that to find unstamped records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MetadataPredicate = Callable[[Mapping[str, Any]], bool]
MAX_IN_VALUES = 10_000
_MISSING = object()


class FilterError(ValueError):
    """A filter Pinecone would refuse; the message says what is wrong."""


def _tag(value: Any) -> tuple[str, Any] | None:
    """A type-tagged scalar so that True and 1 never compare equal; None for unsupported values."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    return None


def _scalar(operator: str, field: str, value: Any) -> tuple[str, Any]:
    tagged = _tag(value)
    if tagged is None:
        raise FilterError(
            f"{operator} on field {field!r} needs a string, number or boolean, got {type(value).__name__}."
        )
    return tagged


def _values_of(metadata: Mapping[str, Any], field: str) -> list[tuple[str, Any]] | None:
    """The tagged values stored in a field (a list field gives its elements); None when missing."""
    value = metadata.get(field, _MISSING)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, list):
        return [("s", v) for v in value if isinstance(v, str)]
    tagged = _tag(value)
    return [] if tagged is None else [tagged]


def _number(metadata: Mapping[str, Any], field: str) -> float | None:
    value = metadata.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _field_condition(field: str, operator: str, operand: Any) -> MetadataPredicate:
    if operator in ("$eq", "$ne"):
        wanted = _scalar(operator, field, operand)
        if operator == "$eq":
            return lambda m: wanted in (_values_of(m, field) or ())
        return lambda m: wanted not in (_values_of(m, field) or ())
    if operator in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise FilterError(f"{operator} on field {field!r} needs a list of values.")
        if len(operand) > MAX_IN_VALUES:
            raise FilterError(f"{operator} on field {field!r} has {len(operand)} values; the limit is 10000.")
        options = frozenset(_scalar(operator, field, v) for v in operand)
        if operator == "$in":
            return lambda m: not options.isdisjoint(_values_of(m, field) or ())
        return lambda m: options.isdisjoint(_values_of(m, field) or ())
    if operator in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise FilterError(f"{operator} on field {field!r} needs a number, got {type(operand).__name__}.")
        bound = float(operand)
        compare: Callable[[float], bool] = {
            "$gt": lambda x: x > bound,
            "$gte": lambda x: x >= bound,
            "$lt": lambda x: x < bound,
            "$lte": lambda x: x <= bound,
        }[operator]

        def in_range(m: Mapping[str, Any]) -> bool:
            number = _number(m, field)
            return number is not None and compare(number)

        return in_range
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(f"$exists on field {field!r} needs true or false.")
        return lambda m: (m.get(field) is not None) == operand
    raise FilterError(
        f"Unknown operator {operator!r} on field {field!r}: use $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, "
        "$exists, $and or $or."
    )


def _all(predicates: list[MetadataPredicate]) -> MetadataPredicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda m: all(p(m) for p in predicates)


def _any(predicates: list[MetadataPredicate]) -> MetadataPredicate:
    return lambda m: any(p(m) for p in predicates)


def _compile(node: Any) -> MetadataPredicate:
    if not isinstance(node, Mapping):
        raise FilterError(f"A filter must be a JSON object, got {type(node).__name__}.")
    predicates: list[MetadataPredicate] = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} needs a non-empty list of filters.")
            parts = [_compile(part) for part in value]
            predicates.append(_all(parts) if key == "$and" else _any(parts))
        elif not isinstance(key, str) or not key or key.startswith("$"):
            raise FilterError(f"Unknown top-level operator or invalid field name {key!r}.")
        elif isinstance(value, Mapping):
            if not value:
                raise FilterError(f"The condition on field {key!r} is an empty object.")
            predicates.extend(_field_condition(key, op, operand) for op, operand in value.items())
        else:
            predicates.append(_field_condition(key, "$eq", value))
    if not predicates:
        return lambda m: True
    return _all(predicates)


def compile_filter(filter_json: Mapping[str, Any] | None) -> MetadataPredicate:
    """Validate a filter and return a predicate over a record's metadata. None or {} matches everything."""
    if not filter_json:
        return lambda m: True
    return _compile(filter_json)
