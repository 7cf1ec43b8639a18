"""Chroma as a store (``chroma://host:8000/``): collections are namespaces. See :mod:`.store`.

``chromadb`` is imported on the store's first call, not here: importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..uri import StoreUri

if TYPE_CHECKING:
    from .store import ChromaStore


def open_uri(uri: StoreUri) -> ChromaStore:
    """The store a ``chroma://`` URI names, its options checked; the server is not contacted yet."""
    from .address import parse_address
    from .store import ChromaStore

    return ChromaStore(parse_address(uri), uri)
