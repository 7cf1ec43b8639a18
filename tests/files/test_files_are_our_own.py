"""Files this tool writes are its own: a resumed export removes what a killed run left half-written, escaped
namespace folders never collide with real names, older exports stay readable, object storage is checked
before anything is written."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import orjson
from hypothesis import example, given
from hypothesis import strategies as st
from pinecone import Pinecone

from pinecone_migrator.stores.files.layout import folder_of
from pinecone_migrator.stores.files.location import partial_name, single_component

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents
from ..helpers import dense_index, random_records
from ..objectstores import ObjectStore
from ..serverproc import ServerProcess
from .clirun import export_command, import_command, run


def _run_token(tmp_path: Path) -> str:
    with sqlite3.connect(tmp_path / "export-ledger.staging.sqlite") as db:
        (token,) = db.execute("SELECT value FROM meta WHERE key = 'run_token'").fetchone()
    return str(token)


def _load(pc: Pinecone, namespaces: list[str], count: int = 30) -> dict[str, object]:
    index = dense_index(pc, "src", dimension=8, metric="cosine")
    written: dict[str, object] = {}
    for n, namespace in enumerate(namespaces):
        records = random_records(count, 8, random.Random(n), prefix=f"n{n}-")
        index.upsert(vectors=records, namespace=namespace)
        written.update({f"{namespace}/{r['id']}": r["id"] for r in records})
    return written


def test_a_resumed_export_removes_its_own_leftovers_and_only_those(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, _ = servers
    _load(Pinecone(api_key=SOURCE_KEY, host=source.url), ["tenant-a"])
    out = tmp_path / "out"
    command = export_command(source, tmp_path, "--source-index", "src", "--to", str(out))
    assert run(command).returncode == 0
    token = _run_token(tmp_path)
    # What a run killed while writing leaves: a half-written data file and manifest under its token's
    # names, and an upload folder beside its staging file (object storage).
    leftovers = [out / "tenant-a" / partial_name(token), out / partial_name(token)]
    for path in leftovers:
        path.write_bytes(b"half")
    upload = tmp_path / f".{token}-upload-x1"
    upload.mkdir()
    (upload / "part.parquet").write_bytes(b"half")
    someone_elses = out / "tenant-a" / partial_name("othertok")
    someone_elses.write_bytes(b"not ours")
    resumed = run(command)
    assert resumed.returncode == 0, resumed.stderr
    assert not [path for path in leftovers if path.exists()]
    assert not upload.exists()
    assert someone_elses.exists(), "a temporary file of another writer was removed"


NAMESPACES = ["a/b", "%a%2Fb", "%", ".hidden", "%2Ehidden", "plain"]


def test_escaped_folders_never_collide_and_both_namespaces_round_trip(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    _load(Pinecone(api_key=SOURCE_KEY, host=source.url), NAMESPACES)
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    expected = contents(source_pc, "src")
    for file_format in ("parquet", "jsonl"):
        out = tmp_path / file_format
        exported = run(export_command(
            source, tmp_path, "--source-index", "src", "--to", str(out), "--format", file_format,
            "--state", str(tmp_path / f"{file_format}.sqlite"),
        ))  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        manifest = orjson.loads((out / "manifest.json").read_bytes())
        folders = [entry["folder"] for entry in manifest["namespaces"].values()]
        assert len(set(folders)) == len(NAMESPACES) and manifest["folder_naming"] == 2
        imported = run(import_command(
            target, tmp_path, "--from", str(out), "--target-index", f"back-{file_format}",
            "--state", str(tmp_path / f"import-{file_format}.sqlite"), "--verify", "digest",
        ))  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), f"back-{file_format}") == expected


def test_an_export_named_the_older_way_is_still_read(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    """Before folder_naming 2, a namespace starting with '%' kept its name as its folder."""
    source, target = servers
    _load(Pinecone(api_key=SOURCE_KEY, host=source.url), ["%older", "plain"])
    expected = contents(Pinecone(api_key=SOURCE_KEY, host=source.url), "src")
    out = tmp_path / "out"
    assert run(export_command(source, tmp_path, "--source-index", "src", "--to", str(out))).returncode == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    shutil.move(out / manifest["namespaces"]["%older"]["folder"], out / "%older")
    manifest["namespaces"]["%older"]["folder"] = "%older"
    del manifest["folder_naming"]
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    imported = run(import_command(target, tmp_path, "--from", str(out), "--target-index", "back"))
    assert imported.returncode == 0, imported.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "back") == expected


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
@example("a/b", "%a%2Fb")
@example(".x", "%2Ex")
def test_folder_of_is_one_to_one_and_always_one_folder_name(first: str, second: str) -> None:
    assert single_component(folder_of(first))
    if first != second:
        assert folder_of(first) != folder_of(second)


def test_export_to_a_missing_bucket_is_refused_before_anything_is_written(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, s3_store: ObjectStore
) -> None:
    source, _ = servers
    _load(Pinecone(api_key=SOURCE_KEY, host=source.url), ["tenant-a"], count=5)
    command = export_command(source, tmp_path, "--source-index", "src", "--to", "s3://no-such-bucket/out")
    refused = run(command, s3_store.child_env())
    assert refused.returncode == 2, refused.stderr
    assert "the bucket or container 'no-such-bucket' does not exist" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not list(tmp_path.glob("export-ledger*")), "the refused export wrote its state"
