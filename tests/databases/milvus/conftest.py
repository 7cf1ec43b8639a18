"""Milvus for this package's tests, shared by the session: Milvus Lite embedded in the test process, and
Milvus Lite served by a child process (the ``milvus://host:port/collection`` form). Collections are named
apart; both stop when the session ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import LiteDirectory, LiteServer


@pytest.fixture(scope="session")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteDirectory]:
    directory = LiteDirectory(tmp_path_factory.mktemp("milvus-lite"))
    try:
        yield directory
    finally:
        directory.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    data: Path = tmp_path_factory.mktemp("milvus-served") / "data.db"
    with LiteServer(data) as server:
        yield server
