"""LanceDB end to end through the CLI, as a user runs it: a hybrid index with every metadata type in three
namespaces goes from the local Pinecone server into a LanceDB table and back, digest-equal; a run killed
with SIGKILL resumes; a lossy pair is refused with its list until accepted; verify names the exact IDs
damaged in the table; bad input creates nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import lancedb
import orjson
import pyarrow as pa
import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Store
from pinecone_migrator.stores.fidelity import PINECONE, between
from pinecone_migrator.stores.lancedb import open_uri
from pinecone_migrator.stores.uri import parse
from tests.databases.roundtrip import (
    DIMENSION,
    HYBRID,
    KEY,
    as_records,
    expected_after,
    fidelity_of,
    fill_index,
    hybrid_records,
    index_records,
    killed_mid_run,
    pinecone_server,
    pinecone_side,
    records_of,
    run_cli,
)
from tests.serverproc import ServerProcess

from .test_conformance import LANCE_ROOM

SOURCE_INDEX = "hybrid"


@pytest.fixture(scope="module")
def pinecone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pinecone_server(tmp_path_factory.mktemp("pinecone")) as server:
        fill_index(server, SOURCE_INDEX, hybrid_records())
        yield server


@pytest.fixture(scope="module")
def in_lance(pinecone: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The hybrid index copied into a LanceDB table by the CLI (with digest verify): its folder and the
    copy's stderr. Tests that change it work on a copy of the folder."""
    folder = tmp_path_factory.mktemp("lance")
    there = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", _uri(folder / "db"),
        "--state", str(folder / "there.sqlite"), "--verify", "digest",
    )  # fmt: skip
    assert there.returncode == 0, there.stderr[-2000:]
    return folder / "db", there.stderr


def _uri(folder: Path, table: str = "items") -> str:
    return f"lancedb://{folder}?table={table}"


def _lance(uri: str) -> Store:
    return open_uri(parse(uri, side="target"))


def _table(folder: Path, name: str) -> lancedb.table.Table:
    return lancedb.connect(str(folder)).open_table(name)


CHANGE_NAMES = (
    "metric-named",
    "vectors-normalised",
    "values-float16",
    "sparse-dropped",
    "sparse-refused",
    "sparse-size-refused",
    "sparse-index-refused",
    "lists-as-json",
    "nested-metadata-refused",
    "metadata-size-refused",
    "long-ids-refused",
    "non-ascii-ids-refused",
)


def _changes_said(stderr: str) -> list[str]:
    """The change names a run logged before writing ("name: sentence" lines), in fidelity's order."""
    return [name for name in CHANGE_NAMES if f"{name}: " in stderr]


def test_pinecone_to_lancedb_and_back_is_digest_equal(
    pinecone: ServerProcess, in_lance: tuple[Path, str], tmp_path: Path
) -> None:
    contents = hybrid_records()
    folder, said = in_lance
    uri = _uri(folder)
    into_lance = fidelity_of(LANCE_ROOM)
    assert [c.name for c in into_lance.changes] == ["metric-named"] and into_lance.exact
    assert _changes_said(said) == ["metric-named"]
    assert records_of(_lance(uri)) == expected_after(contents, into_lance) == as_records(contents)
    assert _table(folder, "items").schema.metadata[b"pinecone_migrator.metric"] == b"dotproduct"

    back = run_cli(
        "migrate", "--source", uri, *pinecone_side(pinecone, "target", "back"),
        "--state", str(tmp_path / "back.sqlite"),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr[-2000:]
    out_of_lance = between(HYBRID, LANCE_ROOM, PINECONE)
    refusals = [
        "sparse-size-refused",
        "nested-metadata-refused",
        "metadata-size-refused",
        "long-ids-refused",
        "non-ascii-ids-refused",
    ]
    assert [c.name for c in out_of_lance.changes] == refusals and out_of_lance.exact
    assert _changes_said(back.stderr) == refusals
    assert index_records(pinecone, "back") == as_records(contents)


def test_a_killed_copy_into_lancedb_resumes_and_ends_equal(tmp_path: Path) -> None:
    contents = hybrid_records(per_namespace=500, seed=4)
    with ServerProcess(tmp_path / "slow", "--api-key", KEY, "--latency-ms", "80") as slow:
        fill_index(slow, SOURCE_INDEX, contents)
        uri = f"lancedb://{tmp_path}/db?table=killed"
        ledger = tmp_path / "ledger.sqlite"
        args = [
            "migrate",
            *pinecone_side(slow, "source", SOURCE_INDEX),
            "--target",
            uri,
            "--state",
            str(ledger),
        ]
        killed_mid_run(args, ledger, at_least=100)
        assert _table(tmp_path / "db", "killed").count_rows() < 1_500  # killed part-way
        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert records_of(_lance(uri)) == as_records(contents)
    assert _table(tmp_path / "db", "killed").count_rows() == 1_500  # no row twice


def _users_table(folder: Path) -> None:
    """A table a user made: namespaces in a column, no sparse columns, metadata as typed columns with no
    list column (so lists must become their JSON text)."""
    schema = pa.schema(
        [
            pa.field("namespace", pa.string()),
            pa.field("id", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), DIMENSION)),
            *(pa.field(name, pa.string()) for name in ("title", "tags", "tenant", "empty")),
            *(pa.field(name, pa.float64()) for name in ("n", "ratio", "big")),
            pa.field("flag", pa.bool_()),
        ]
    )
    lancedb.connect(str(folder)).create_table("users", schema=schema)


def test_a_lossy_pair_is_refused_with_its_list_until_accepted(
    pinecone: ServerProcess, tmp_path: Path
) -> None:
    _users_table(tmp_path / "db")
    uri = f"lancedb://{tmp_path}/db?table=users&metric=dotproduct"
    args = ["migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri]
    refused = run_cli(*args, "--state", str(tmp_path / "refused.sqlite"))
    assert refused.returncode == 2
    assert "sparse-dropped: " in refused.stderr and "lists-as-json: " in refused.stderr
    assert "--accept-changes" in refused.stderr
    table = _table(tmp_path / "db", "users")
    assert table.count_rows() == 0 and table.version == 1  # nothing written

    accepted = run_cli(
        *args, "--accept-changes", "--verify", "digest", "--state", str(tmp_path / "accepted.sqlite")
    )
    assert accepted.returncode == 0, accepted.stderr[-2000:]  # verify included: equal up to the changes
    fidelity = fidelity_of(_lance(uri).room())  # type: ignore[attr-defined]
    assert fidelity.names() == ["sparse-dropped", "lists-as-json"]
    assert records_of(_lance(uri)) == expected_after(hybrid_records(), fidelity)


def test_verify_names_the_records_damaged_in_the_table(
    pinecone: ServerProcess, in_lance: tuple[Path, str], tmp_path: Path
) -> None:
    shutil.copytree(in_lance[0], tmp_path / "db")
    uri = _uri(tmp_path / "db")
    records = hybrid_records()["tenant-a"]
    gone, changed = records[3].id, records[4].id
    table = _table(tmp_path / "db", "items")
    from lancedb.expr import col, lit

    table.delete((col("namespace") == lit("tenant-a")) & (col("id") == lit(gone)))
    altered = Record(changed, records[4].values, records[4].sparse, {**records[4].metadata, "n": -1})
    _lance(uri).write("tenant-a", [altered])

    diff = tmp_path / "diff.jsonl"
    verified = run_cli(
        "verify", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri, "--level", "full",
        "--diff", str(diff), "--state", str(tmp_path / "verify.sqlite"),
    )  # fmt: skip
    assert verified.returncode == 5, verified.stdout[-2000:] + verified.stderr[-2000:]
    found = sorted(
        (row["namespace"], row["id"], row["kind"])
        for row in map(orjson.loads, diff.read_bytes().splitlines())
    )
    assert found == sorted([("tenant-a", gone, "missing"), ("tenant-a", changed, "different")])


def test_bad_input_creates_nothing(pinecone: ServerProcess, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    misspelt = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX),
        "--target", f"lancedb://{folder}?table=t&metirc=cosine", "--state", str(tmp_path / "a.sqlite"),
    )  # fmt: skip
    assert misspelt.returncode == 2 and "unknown option(s) metirc" in misspelt.stderr
    assert not folder.exists()
