"""One PostgreSQL server (with pgvector) for the session's tests of this package; tables are named apart."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from .server import PostgresServer

_numbers = itertools.count(1)


def new_table(stem: str) -> str:
    return f"{stem}_{next(_numbers)}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server
