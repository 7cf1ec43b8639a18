"""The bad-input suite's world: two server processes (source and target projects) shared by every row,
with a source index `src`, an existing incompatible target `small` and complete exports of `src`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, load_source
from ..files.clirun import export_command, run
from ..helpers import dense_index
from ..serverproc import ServerProcess
from .badinput import World


def _export(source: ServerProcess, folder: str, *args: str, tmp: object) -> None:
    from pathlib import Path

    result: subprocess.CompletedProcess[str] = run(
        export_command(source, Path(str(tmp)), "--source-index", "src", "--to", folder, *args)
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("bad-input")
    with (
        ServerProcess(root / "source", "--api-key", SOURCE_KEY) as source,
        ServerProcess(root / "target", "--api-key", TARGET_KEY) as target,
    ):
        load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=100)
        dense_index(Pinecone(api_key=TARGET_KEY, host=target.url), "small", dimension=4)
        _export(source, str(root / "parquet"), tmp=root / "p")
        _export(source, str(root / "jsonl"), "--format", "jsonl", tmp=root / "j")
        yield World(source, target, root / "parquet", root / "jsonl")
