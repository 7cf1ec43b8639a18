"""Namespaces as partitions (``?namespaces=partitions``): a reversible naming under Milvus's rules.

A partition name is letters, digits and underscores, starting with a letter or an underscore, at most 255
characters. The default namespace is Milvus's ``_default`` partition. Any other namespace keeps its letters
and digits; ``_`` becomes ``__`` and every other byte of its UTF-8 ``_xx`` (two lower-case hex digits),
as does a leading digit, so that ``_default`` (the namespace) is ``__default`` and no two namespaces share
a name.
"""

from __future__ import annotations

import re

from ..base import DEFAULT_NAMESPACE

DEFAULT_PARTITION = "_default"
MAX_PARTITION_NAME = 255
_KEPT = re.compile(r"[A-Za-z0-9]")
_ENCODED = re.compile(r"__|_([0-9a-f]{2})|[A-Za-z0-9]")


def partition_of(namespace: str) -> str | None:
    """The partition holding ``namespace``; None when its name would be too long for Milvus."""
    if namespace == DEFAULT_NAMESPACE:
        return DEFAULT_PARTITION
    parts: list[str] = []
    for position, char in enumerate(namespace):
        if char == "_":
            parts.append("__")
        elif _KEPT.fullmatch(char) and not (position == 0 and char.isdigit()):
            parts.append(char)
        else:
            parts.extend(f"_{byte:02x}" for byte in char.encode("utf-8"))
    name = "".join(parts)
    return name if 0 < len(name) <= MAX_PARTITION_NAME else None


def namespace_of(partition: str) -> str | None:
    """The namespace a partition holds; None for a partition not named by :func:`partition_of`."""
    if partition == DEFAULT_PARTITION:
        return DEFAULT_NAMESPACE
    encoded = bytearray()
    position = 0
    while position < len(partition):
        match = _ENCODED.match(partition, position)
        if match is None:
            return None
        token = match.group(0)
        if token == "__":
            encoded += b"_"
        elif match.group(1) is not None:
            encoded.append(int(match.group(1), 16))
        else:
            encoded += token.encode()
        position = match.end()
    try:
        namespace = encoded.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return namespace if partition_of(namespace) == partition else None
