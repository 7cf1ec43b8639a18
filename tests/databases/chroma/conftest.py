"""One Chroma server for the session's tests of this package (each test names databases of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import ChromaServer


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    with ChromaServer() as server:
        yield server
