"""The README's Python example runs as written against the local server and copies every record."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
from pinecone import Pinecone

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.registry import PineconeIndex, open_store

from .helpers import dense_index, namespace_digest, random_records

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_example() -> str:
    section = README.read_text().split("## From Python", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's 'From Python' section has no python block"
    return found.group(1)


def test_the_readme_python_example_migrates_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with BackgroundServer(ServerConfig(port=0)) as server:
        pc = Pinecone(api_key="readme-key", host=server.url)
        records = random_records(250, 8, random.Random(3), sparse=True)
        dense_index(pc, "products", metric="dotproduct").upsert(vectors=records, namespace="shop")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setitem(os.environ, "PINECONE_HOST", server.url)
        monkeypatch.setitem(os.environ, "PINECONE_API_KEY", "readme-key")
        exec(compile(_python_example(), "README.md", "exec"), {})
        assert capsys.readouterr().out.split() == ["0", "250", "True"]
        source, copied = (open_store(PineconeIndex(name, server.url)) for name in ("products", "products-v2"))
        assert namespace_digest(copied, "shop") == namespace_digest(source, "shop")
