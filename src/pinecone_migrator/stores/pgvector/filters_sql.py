"""Pinecone's metadata filters as SQL over a table's metadata, with exactly the semantics of
:mod:`pinecone_migrator.filters` (which validates the filter first).

Every metadata key becomes one jsonb expression: its own column as jsonb (a ``real`` through double
precision, as records read it; a type read as text, as text), else the key in the ``metadata`` jsonb
column, else NULL (missing). A JSON ``null`` is a missing key, as in records. Then, on that value ``x``:
numbers compare as float64 (``x::float8``, rounded as records round them), strings exactly, booleans as
booleans, a list of strings "equals" a string it contains (``x ? s``), ``$ne``/``$nin`` need the key present.
Each typed comparison sits in a CASE on ``jsonb_typeof(x)`` so that a cast is only ever applied to a value
of its type (PostgreSQL may evaluate the parts of an AND in any order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...filters import LOGICAL_OPERATORS, compile_filter
from .schema import Layout, quoted

_RANGE_SQL = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class Translation:
    """A filter's SQL condition and its parameters, in order."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.parameters: list[Any] = []

    def parameter(self, value: Any, cast: str) -> str:
        self.parameters.append(value)
        return f"%s::{cast}"

    def value(self, key: str) -> str:
        """The jsonb expression of metadata key ``key`` (NULL when missing)."""
        column = self.layout.column(key)
        if column is not None:
            name = quoted(column.name)
            if column.type_name == "float4":
                return f"to_jsonb({name}::float8)"
            if column.kind == "other":
                return f"to_jsonb({name}::text)"
            return f"to_jsonb({name})"
        if self.layout.json_column is None:
            return "NULL::jsonb"
        return f"({quoted(self.layout.json_column)} -> {literal(key)})"

    def node(self, node: Mapping[str, Any]) -> str:
        parts = []
        for key, value in node.items():
            if key in LOGICAL_OPERATORS:
                joined = f" {key[1:].upper()} ".join(self.node(child) for child in value)
                parts.append(f"({joined})")
            elif isinstance(value, Mapping):
                parts += [self.condition(key, op, operand) for op, operand in value.items()]
            else:
                parts.append(self.condition(key, "$eq", value))
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"

    def condition(self, key: str, op: str, operand: Any) -> str:
        x = self.value(key)
        present = f"({x} IS NOT NULL AND jsonb_typeof({x}) <> 'null')"
        if op == "$exists":
            return present if operand else f"NOT {present}"
        if op in _RANGE_SQL:
            bound = self.parameter(float(operand), "float8")
            compare = f"{x}::float8 {_RANGE_SQL[op]} {bound}"
            return f"(CASE WHEN jsonb_typeof({x}) = 'number' THEN {compare} ELSE false END)"
        operands = [operand] if op in ("$eq", "$ne") else list(operand)
        matches = self.member(x, operands)
        return f"({present} AND NOT {matches})" if op in ("$ne", "$nin") else matches

    def member(self, x: str, operands: list[Any]) -> str:
        """Whether ``x`` equals one of ``operands`` (a list of strings: contains one of the strings)."""
        strings = [value for value in operands if isinstance(value, str)]
        numbers = [float(v) for v in operands if isinstance(v, (int, float)) and not isinstance(v, bool)]
        booleans = sorted(
            {"'true'::jsonb" if v else "'false'::jsonb" for v in operands if isinstance(v, bool)}
        )
        cases = []
        if strings:
            wanted = self.parameter(strings, "text[]")
            cases.append(f"WHEN 'string' THEN {x} #>> '{{}}' = ANY({wanted})")
            cases.append(f"WHEN 'array' THEN {x} ?| {self.parameter(strings, 'text[]')}")
        if numbers:
            cases.append(f"WHEN 'number' THEN {x}::float8 = ANY({self.parameter(numbers, 'float8[]')})")
        if booleans:
            cases.append(f"WHEN 'boolean' THEN {x} IN ({', '.join(booleans)})")
        if not cases:
            return "false"
        return f"(CASE jsonb_typeof({x}) {' '.join(cases)} ELSE false END IS TRUE)"


def literal(text: str) -> str:
    """``text`` as an SQL string constant (an escape string: backslashes mean the same on every server; a
    ``%`` doubled, since the statement carries parameters)."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''").replace("%", "%%") + "'"


def translated(metadata_filter: Mapping[str, Any] | None, layout: Layout) -> tuple[str, list[Any]]:
    """The SQL condition of a filter (validated as Pinecone validates it) and its parameters."""
    compile_filter(metadata_filter)  # raises FilterError for what Pinecone refuses
    translation = Translation(layout)
    condition = translation.node(metadata_filter or {})
    return condition, translation.parameters
