"""Fixtures of the engine's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..cliproc import SOURCE_KEY, TARGET_KEY
from ..serverproc import ServerProcess


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY) as target,
    ):
        yield source, target
