"""export -> object storage (moto S3, gcp-storage-emulator GCS, Azurite) -> import, in both formats."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source
from ..objectstores import ObjectStore
from ..serverproc import ServerProcess
from .clirun import export_command, import_command, run


@pytest.mark.parametrize("file_format", ["parquet", "jsonl"])
def test_round_trip_through_object_storage(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, object_store: ObjectStore, file_format: str
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=40)
    env = object_store.child_env()
    exported = run(
        export_command(
            source, tmp_path, "--source-index", "src", "--to", object_store.uri, "--format", file_format,
            "--rows-per-file", "25", "--verify", "digest",
        ),
        env,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    filesystem = object_store.filesystem()
    manifest = orjson.loads(filesystem.cat_file(object_store.path("manifest.json")))
    assert manifest["complete"] and sum(e["records"] for e in manifest["namespaces"].values()) == 120
    stored = sorted(p for p in filesystem.find(object_store.root) if "/part-" in p)
    assert len(stored) == 6 and not any(p.endswith(".partial") for p in stored)
    imported = run(
        import_command(
            target, tmp_path, "--from", object_store.uri, "--target-index", "back", "--verify", "digest"
        ),
        env,
    )
    assert imported.returncode == 0, imported.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "back") == written
