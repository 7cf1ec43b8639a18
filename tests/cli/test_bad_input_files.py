"""Bad input to the file commands (export, import, import --bulk, backup, restore, validate): one row per case.

Each row runs the real CLI against two real servers; `run_case` asserts the exit code, the message, no
traceback, nothing created or written on either server, and the source's digest unchanged. A row's
``setup`` damages the fresh copies of the complete exports (``{export}`` Parquet, ``{jsonl}`` JSON Lines)
in the case's own folder; its ``check`` looks at what must not have changed on disk.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .badinput import EXPORT, IMPORT, STATE, Case, CaseWorld, World, run_case

DST = ("--target-host", "{dst}", "--target-api-key-env", "DST_KEY")
RESTORE = ("restore", *DST, *STATE)
BULK = ("import", "--bulk", *DST, *STATE)
NO_AWS = {  # no credentials anywhere, and nothing reachable should botocore try to connect
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def manifest_path(tree: Path) -> Path:
    return tree / "manifest.json"


def edit_manifest(tree: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = orjson.loads(manifest_path(tree).read_bytes())
    change(manifest)
    manifest_path(tree).write_bytes(orjson.dumps(manifest))


def entry(manifest: dict[str, Any], namespace: str = "tenant-a") -> dict[str, Any]:
    found: dict[str, Any] = manifest["namespaces"][namespace]
    return found


def data_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file() and p.name != "manifest.json")


def outside_copy(here: CaseWorld, tree: Path) -> Path:
    """A copy of tenant-a's folder outside the tree: what a traversal would import."""
    outside = here.tmp / "outside"
    shutil.copytree(tree / "tenant-a", outside)
    return outside


def folder_out_of_tree(which: str) -> Callable[[CaseWorld], None]:
    """tenant-a's manifest folder becomes '../outside' ("relative") or the absolute path ("absolute")."""

    def setup(here: CaseWorld) -> None:
        for tree in (here.export, here.jsonl):
            outside = outside_copy(here, tree) if tree == here.export else here.tmp / "outside"
            folder = "../outside" if which == "relative" else str(outside)
            edit_manifest(tree, lambda m, folder=folder: entry(m).update(folder=folder))

    return setup


def symlinked_folder(here: CaseWorld) -> None:
    """tenant-a's folder is a symbolic link to a folder outside the tree (same files)."""
    outside = outside_copy(here, here.export)
    shutil.rmtree(here.export / "tenant-a")
    (here.export / "tenant-a").symlink_to(outside)


def file_out_of_tree(here: CaseWorld) -> None:
    edit_manifest(here.export, lambda m: entry(m).update(files=["../../outside.parquet"]))


def two_namespaces_one_folder(here: CaseWorld) -> None:
    edit_manifest(here.export, lambda m: entry(m, "__default__").update(folder="tenant-a"))


def truncated_parquet(here: CaseWorld) -> None:
    """The last file read (tenant-a's, after the default namespace's): its footer is cut off."""
    (path,) = (here.export / "tenant-a").glob("*.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def float64_parquet(here: CaseWorld) -> None:
    (path,) = (here.export / "tenant-a").glob("*.parquet")
    table = pq.read_table(path)
    values = table.column("values").cast(pa.list_(pa.float64()))
    pq.write_table(table.set_column(table.schema.get_field_index("values"), "values", values), path)


def manifest_text(text: bytes) -> Callable[[CaseWorld], None]:
    def setup(here: CaseWorld) -> None:
        manifest_path(here.export).write_bytes(text)
        manifest_path(here.jsonl).write_bytes(text)

    return setup


def jsonl_lines(here: CaseWorld) -> tuple[Path, list[bytes]]:
    (path,) = (here.jsonl / "tenant-a").glob("*.jsonl.gz")
    return path, gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def later_file(damage: Callable[[bytes, list[bytes]], bytes]) -> Callable[[CaseWorld], None]:
    """tenant-a gets a second file of 150 more records (the manifest lists it and counts them), damaged by
    ``damage(gzip of its lines, its lines)``: a whole page of good records is read before the damage."""

    def setup(here: CaseWorld) -> None:
        path, lines = jsonl_lines(here)
        more = []
        for number in range(150):
            record = orjson.loads(lines[number % len(lines)])
            more.append(orjson.dumps({**record, "id": f"more-{number:03d}"}) + b"\n")
        later = path.with_name(path.name.replace("part-", "part-9", 1))
        later.write_bytes(damage(gzip.compress(b"".join(more)), more))

        def listed(manifest: dict[str, Any]) -> None:
            entry(manifest).update(files=[path.name, later.name], records=len(lines) + len(more))

        edit_manifest(here.jsonl, listed)

    return setup


def cut_last_line(_: bytes, lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(lines[:-1]) + lines[-1][:40] + b"\n")


def cut_in_half(data: bytes, _: list[bytes]) -> bytes:
    return data[: len(data) // 2]


def changed_record(here: CaseWorld) -> None:
    """One record's metadata changed in the backup's files: counts agree, the digest does not."""
    path, lines = jsonl_lines(here)
    record = orjson.loads(lines[-1])
    record["metadata"] = {**(record["metadata"] or {}), "tampered": True}
    path.write_bytes(gzip.compress(b"".join(lines[:-1]) + orjson.dumps(record) + b"\n"))


def missing_file(here: CaseWorld) -> None:
    for path in (here.jsonl / "tenant-a").glob("*.jsonl.gz"):
        path.unlink()


def regular_file(name: str) -> Callable[[CaseWorld], None]:
    def setup(here: CaseWorld) -> None:
        (here.tmp / name).write_text("not a folder")

    return setup


def foreign_folder(here: CaseWorld) -> None:
    (here.tmp / "foreign").mkdir()
    (here.tmp / "foreign" / "notes.txt").write_text("someone's notes")


def foreign_file_in_export(here: CaseWorld) -> None:
    (here.export / "tenant-a" / "notes.txt").write_text("someone's notes")


def export_untouched(here: CaseWorld, _: subprocess.CompletedProcess[str]) -> None:
    """--restart refused: the earlier export, its manifest and any foreign file are all still there."""
    manifest = orjson.loads(manifest_path(here.export).read_bytes())
    listed = {f"{e['folder']}/{name}" for e in manifest["namespaces"].values() for name in e["files"]}
    present = {p.relative_to(here.export).as_posix() for p in data_files(here.export)}
    assert present - {"tenant-a/notes.txt"} == listed


def foreign_untouched(here: CaseWorld, _: subprocess.CompletedProcess[str]) -> None:
    assert [p.name for p in (here.tmp / "foreign").iterdir()] == ["notes.txt"]


def nothing_at(name: str) -> Callable[[CaseWorld, subprocess.CompletedProcess[str]], None]:
    def check(here: CaseWorld, _: subprocess.CompletedProcess[str]) -> None:
        assert not (here.tmp / name).exists(), f"{name} was created"

    return check


def ledger_held(here: CaseWorld) -> None:
    """Another process holds the export's ledger (statelock), until the case's check ends it."""
    code = (
        "import sys, time; from pathlib import Path; from pinecone_migrator.statelock import hold\n"
        f"with hold(Path({str(here.tmp / 'state' / 'ledger.sqlite')!r}), 'export'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    (here.tmp / "holder.pid").write_text(str(holder.pid))


def release_holder(here: CaseWorld, _: subprocess.CompletedProcess[str]) -> None:
    pid = int((here.tmp / "holder.pid").read_text())
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        time.sleep(0.05)
    export_untouched(here, _)


NEW = ("--target-index", "new")
TO_OUT = ("--source-index", "src", "--to", "{tmp}/out")

CASES = [
    # Item 5: paths stay inside their tree.
    Case("import: manifest folder ../outside", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"'tenant-a' names the folder '\.\./outside'.*refusing to read outside", setup=folder_out_of_tree("relative")),
    Case("import: manifest folder absolute", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"'tenant-a' names the folder '/.*outside'.*not one folder name", setup=folder_out_of_tree("absolute")),
    Case("import: namespace folder is a symlink out", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"tenant-a/part-.*leads out of .*through a symbolic link", setup=symlinked_folder),
    Case("import: manifest file ../../x", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"lists the file '\.\./\.\./outside\.parquet'", setup=file_out_of_tree),
    Case("import: two namespaces in one folder", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"namespaces '__default__' and 'tenant-a' both name the folder", setup=two_namespaces_one_folder),
    Case("restore: manifest folder ../outside", (*RESTORE, "--from", "{jsonl}", *NEW), 2,
         r"names the folder '\.\./outside'", setup=folder_out_of_tree("relative")),
    Case("import --bulk: manifest folder ../outside", (*BULK, "--from", "{export}", *NEW), 2,
         r"names the folder '\.\./outside'", setup=folder_out_of_tree("relative")),
    Case("import --bulk into a new dedicated-read-nodes target", (*BULK, "--from", "{export}", *NEW,
         "--target-read-nodes", "b1"), 2, r"dedicated read nodes, which take no bulk import"),
    Case("validate: manifest folder ../outside", ("validate", "{export}"), 2,
         r"names the folder '\.\./outside'.*refusing to read outside", setup=folder_out_of_tree("relative")),
    Case("validate: namespace folder is a symlink out", ("validate", "{export}"), 2,
         r"leads out of .*symbolic link", setup=symlinked_folder),
    # Item 3: everything an import reads is checked before anything is written.
    Case("import: truncated Parquet file", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"tenant-a/part-.*not a readable Parquet file.*damaged or truncated", setup=truncated_parquet),
    Case("import: Parquet values as float64", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"not in Pinecone's bulk-import layout: values is list<.*double>.*cast the values to float32",
         setup=float64_parquet),
    Case("import: manifest is not JSON", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"manifest\.json is not valid JSON", setup=manifest_text(b"{not json")),
    Case("import: manifest without its namespaces", (*IMPORT, "--from", "{export}", *NEW), 2,
         r"not a manifest this tool can read.*restore it from the original",
         setup=manifest_text(b'{"format": "parquet", "source": {}}')),
    Case("import: JSON Lines line cut short, in a later file", (*IMPORT, "--from", "{jsonl}", *NEW), 2,
         r"tenant-a/part-9.*\.jsonl\.gz, line 150: not a record", setup=later_file(cut_last_line)),
    Case("import: truncated JSON Lines file, a later one", (*IMPORT, "--from", "{jsonl}", *NEW), 2,
         r"tenant-a/part-9.*jsonl\.gz: cannot be read.*damaged or truncated", setup=later_file(cut_in_half)),
    Case("import --from a missing path", (*IMPORT, "--from", "./nowhere", *NEW), 2,
         r"\./nowhere does not exist: give the folder"),
    Case("import --from a regular file", (*IMPORT, "--from", "{tmp}/file.txt", *NEW), 2,
         r"file\.txt is a file: give the folder", setup=regular_file("file.txt")),
    Case("restore: a record changed in the backup", (*RESTORE, "--from", "{jsonl}", *NEW), 2,
         r"files of namespace 'tenant-a' do not hold what the manifest recorded", setup=changed_record),
    Case("restore: a data file missing", (*RESTORE, "--from", "{jsonl}", *NEW), 2,
         r"listed in the manifest but missing", setup=missing_file),
    Case("validate --report under /proc", ("validate", "{export}", "--report", "/proc/pm/report.json"), 2,
         r"--report /proc/pm/report\.json cannot be"),
    Case("validate: a JSON Lines export", ("validate", "{jsonl}"), 2,
         r"is a JSON Lines export: validate checks Parquet files"),
    Case("export --to a regular file", (*EXPORT, *TO_OUT[:3], "{tmp}/file.txt"), 2,
         r"file\.txt is a file: give a folder", setup=regular_file("file.txt"), check=nothing_at("state")),
    Case("export --to below a regular file", (*EXPORT, *TO_OUT[:3], "{tmp}/file.txt/out"), 2,
         r"cannot be created: .*file\.txt is a file", setup=regular_file("file.txt")),
    Case("export --to under /proc", (*EXPORT, *TO_OUT[:3], "/proc/pinecone-migrator/out"), 2,
         r"/proc/pinecone-migrator/out cannot be written: /proc does not accept new files",
         check=nothing_at("state")),
    Case("export --to s3:// without credentials", (*EXPORT, *TO_OUT[:3], "s3://bucket/out"), 2,
         r"no usable credentials for s3://.*set AWS_ACCESS_KEY_ID", env=NO_AWS, check=nothing_at("state")),
    Case("import --from s3:// without credentials", (*IMPORT, "--from", "s3://bucket/out", *NEW), 2,
         r"no usable credentials for s3://.*set AWS_ACCESS_KEY_ID", env=NO_AWS),
    # Item 9: files this tool writes are its own.
    Case("export into a folder of someone else's files", (*EXPORT, *TO_OUT[:3], "{tmp}/foreign"), 2,
         r"is not empty", setup=foreign_folder, check=foreign_untouched),
    Case("export --restart over someone else's file", (*EXPORT, *TO_OUT[:3], "{export}", "--restart"), 2,
         r"--restart: .* holds 1 file\(s\) this export did not write \(tenant-a/notes\.txt\); nothing was removed",
         setup=foreign_file_in_export, check=export_untouched),
    # Item 2 (for export): one process per ledger.
    Case("export --restart while another process holds its ledger",
         (*EXPORT, *TO_OUT[:3], "{export}", "--restart"), 2,
         r"in use by another run \(PID \d+", setup=ledger_held, check=release_holder),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_files(case: Case, world: World, tmp_path: Path) -> None:
    run_case(case, world, tmp_path)
