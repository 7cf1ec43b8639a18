"""One local-mode Qdrant folder for the session's tests of this package (collections are named apart)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import QdrantFolder


@pytest.fixture(scope="session")
def qdrant_folder() -> Iterator[QdrantFolder]:
    with QdrantFolder() as folder:
        yield folder
