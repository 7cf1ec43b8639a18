"""Milvus filter expressions built from values, quoted so that any ID or namespace is a literal."""

from __future__ import annotations

from collections.abc import Iterable

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def quoted(value: str) -> str:
    """``value`` as a Milvus string literal."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def number_or_string(value: str | int) -> str:
    return str(value) if isinstance(value, int) else quoted(value)


def among(field: str, values: Iterable[str | int]) -> str:
    return f"{field} in [{', '.join(number_or_string(value) for value in values)}]"


def equals(field: str, value: str) -> str:
    return f"{field} == {quoted(value)}"


def after(field: str, value: str | int) -> str:
    return f"{field} > {number_or_string(value)}"


def starting_with(field: str, prefix: str) -> str | None:
    """Strings that start with ``prefix`` as a range of ``field`` (code point order is UTF-8 byte order,
    so the range holds exactly them); None for the empty prefix. A range needs no LIKE escaping."""
    if not prefix:
        return None
    upper = successor(prefix)
    lower = f"{field} >= {quoted(prefix)}"
    return lower if upper is None else f"{lower} and {field} < {quoted(upper)}"


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: there is none)."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _LAST_CODE_POINT:
            return "".join(chars) + chr(code)
    return None


def both(*parts: str | None) -> str:
    return " and ".join(f"({part})" for part in parts if part)
