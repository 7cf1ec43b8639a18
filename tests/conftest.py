"""Fixtures: real servers on 127.0.0.1, driven through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pinecone import Pinecone

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from tests.cliproc import SOURCE_KEY, TARGET_KEY
from tests.serverproc import ServerProcess


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    """A fresh in-memory server on a free port."""
    with BackgroundServer(ServerConfig(port=0)) as running:
        yield running


@pytest.fixture
def disk_server(tmp_path: Path) -> Iterator[BackgroundServer]:
    """A fresh server that persists to a temporary data directory."""
    with BackgroundServer(ServerConfig(port=0, data_dir=tmp_path / "data")) as running:
        yield running


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes with their own keys: a source project and a target project."""
    with (
        ServerProcess(tmp_path / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(tmp_path / "target", "--api-key", TARGET_KEY) as target,
    ):
        yield source, target


@pytest.fixture
def pc(server: BackgroundServer) -> Pinecone:
    """The official SDK (10.x) pointed at the local server."""
    return Pinecone(api_key="test-key", host=server.url)


# Object-storage emulators (moto S3, gcp-storage-emulator, Azurite) for fsspec exports: tests/objectstores.py.
from tests.objectstores import (  # noqa: E402, F401
    azure_emulator,
    azure_store,
    gcs_emulator,
    gcs_store,
    object_store,
    s3_emulator,
    s3_store,
)
