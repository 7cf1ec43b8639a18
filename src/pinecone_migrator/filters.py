"""Pinecone's metadata filter language: validation and exact evaluation (placeholder, being written)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MetadataPredicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """A filter Pinecone would refuse; the message says what is wrong."""


def compile_filter(filter_json: Mapping[str, Any] | None) -> MetadataPredicate:
    raise NotImplementedError("metadata filters are not implemented yet")
