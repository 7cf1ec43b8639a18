"""One LanceDB folder for the session's tests of this package (tables are named apart)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import LanceFolder


@pytest.fixture(scope="session")
def lance_folder() -> Iterator[LanceFolder]:
    with LanceFolder() as folder:
        yield folder
