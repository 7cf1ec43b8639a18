"""The registry opens every kind of store from a reference, reading keys as the reference says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec

from pinecone_migrator.errors import UserError
from pinecone_migrator.records import Record
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.files import DEFAULT_ROWS_PER_FILE, FileSource, FileTarget
from pinecone_migrator.stores.pinecone.store import PineconeStore
from pinecone_migrator.stores.registry import FileExport, Files, PineconeIndex, open_store

from .conformance import SHAPE, SOURCE

RECORDS = [Record(id=f"r{n}", values=np.full(4, n, np.float32), metadata={"n": n}) for n in range(5)]


def test_a_pinecone_index_is_opened_with_the_key_its_variable_holds(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    Pinecone(api_key="key", host=server.url).create_index(
        "found", dimension=4, metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    monkeypatch.setenv("REGISTRY_TEST_KEY", "key")
    store = open_store(PineconeIndex("found", server.url, key_variable="REGISTRY_TEST_KEY", side="source"))
    assert isinstance(store, PineconeStore)
    assert store.side is not None and (store.side.role, store.side.key_env) == ("source", "REGISTRY_TEST_KEY")
    assert store.exists() and store.describe().shape == SHAPE
    store.write("ns", RECORDS)
    assert sorted(r.id for r in store.fetch("ns", ["r0", "r4"])) == ["r0", "r4"]


def test_a_key_is_needed_and_one_given_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_TEST_KEY", raising=False)
    reference = PineconeIndex("any", key_variable="REGISTRY_TEST_KEY", side="target")
    with pytest.raises(UserError, match="for the target: set the environment variable REGISTRY_TEST_KEY"):
        open_store(reference)
    given = replace(reference, api_key="from-a-config-file")
    assert given == reference and "from-a-config-file" not in repr(given)  # keys stay out of logs
    assert open_store(given).side is not None
    assert open_store(PineconeIndex("any", api_key="k")).side is None  # no options to name in messages


def test_an_export_written_and_read_back_through_references(tmp_path: Path) -> None:
    uri = str(tmp_path / "export")
    target = open_store(FileExport(uri, "jsonl", tmp_path / "staging.sqlite"))
    assert isinstance(target, FileTarget) and target.rows_per_file == DEFAULT_ROWS_PER_FILE
    target.create_like(SOURCE)
    target.write("ns", RECORDS)
    target.finish()
    target.close()
    source = open_store(Files(uri))
    assert isinstance(source, FileSource)
    assert source.describe().namespace_counts == {"ns": 5}
    assert sorted(source.fetch("ns", [r.id for r in RECORDS]), key=lambda r: r.id) == RECORDS
    assert open_store(Files(uri, metric="cosine")).metric == "cosine"


def test_export_options_reach_the_store(tmp_path: Path) -> None:
    reference = FileExport(str(tmp_path / "export"), "parquet", tmp_path / "s.sqlite", rows_per_file=7)
    target = open_store(reference)
    assert (target.file_format, target.rows_per_file) == ("parquet", 7)
    target.close()


def test_a_reference_of_no_registered_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="no kind of store"):
        open_store("pinecone://index")  # type: ignore[call-overload]
