"""Milvus end to end through the CLI, as a user runs it: a hybrid index with every metadata type in three
namespaces goes from the local Pinecone server into a collection (Milvus Lite served by a child process)
and back, equal up to the listed changes and the records Milvus refuses (sparse indices beyond 2**32-3,
negative sparse values: dead letters); a run killed with SIGKILL resumes; a lossy pair (a collection of the
user's without a sparse field) is refused with its list and writes nothing until accepted; verify names the
exact IDs damaged in the collection; bad input creates nothing (a Milvus Lite directory)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE
from pinecone_migrator.stores.fidelity import PINECONE, between
from pinecone_migrator.stores.milvus import MilvusStore, open_uri
from pinecone_migrator.stores.milvus.layout import MILVUS_ROOM
from pinecone_migrator.stores.uri import parse
from tests.databases.roundtrip import (
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

from .server import LiteServer

SOURCE_INDEX = "hybrid"
HELD_INDEX = "held"  # what Milvus holds whole: positive sparse values below its largest index
CHANGE_NAMES = (
    "metric-named",
    "sparse-dropped",
    "sparse-size-refused",
    "sparse-nonpositive-refused",
    "sparse-index-refused",
    "nested-metadata-refused",
    "metadata-size-refused",
    "long-ids-refused",
    "non-ascii-ids-refused",
)


def _held(contents: dict[str, list[Record]]) -> dict[str, list[Record]]:
    """Of a Pinecone index's records, those a Milvus collection holds (as it holds them)."""
    into_milvus = fidelity_of(MILVUS_ROOM)
    return {namespace: into_milvus.held(records) for namespace, records in contents.items()}


@pytest.fixture(scope="module")
def pinecone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pinecone_server(tmp_path_factory.mktemp("pinecone")) as server:
        fill_index(server, SOURCE_INDEX, hybrid_records())
        fill_index(server, HELD_INDEX, _held(hybrid_records()))
        yield server


def _store(uri: str) -> MilvusStore:
    return open_uri(parse(uri, side="target"))


def _changes_said(stderr: str) -> list[str]:
    return [name for name in CHANGE_NAMES if f"{name}: " in stderr]


def _count(contents: dict[str, Sequence[Any]]) -> int:
    return sum(len(records) for records in contents.values())


def test_pinecone_to_milvus_and_back(pinecone: ServerProcess, served: LiteServer, tmp_path: Path) -> None:
    contents = hybrid_records()
    uri = served.uri(served.new_name("items"))
    there = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri,
        "--state", str(tmp_path / "there.sqlite"),
    )  # fmt: skip
    into_milvus = fidelity_of(MILVUS_ROOM)
    said = ["metric-named", "sparse-nonpositive-refused", "sparse-index-refused"]
    assert [c.name for c in into_milvus.changes] == said
    assert into_milvus.exact and _changes_said(there.stderr) == said
    held = _held(contents)
    assert _count(held) < _count(contents) and there.returncode == 4, there.stderr[-2000:]  # dead letters
    assert records_of(_store(uri)) == as_records(held)

    back = run_cli(
        "migrate", "--source", uri, *pinecone_side(pinecone, "target", "back"),
        "--state", str(tmp_path / "back.sqlite"),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr[-2000:]
    out_of_milvus = between(HYBRID, MILVUS_ROOM, PINECONE)
    refusals = [
        "sparse-size-refused",
        "nested-metadata-refused",
        "metadata-size-refused",
        "non-ascii-ids-refused",
    ]
    assert [c.name for c in out_of_milvus.changes] == refusals and out_of_milvus.exact
    assert _changes_said(back.stderr) == refusals
    assert index_records(pinecone, "back") == as_records(held)


def test_a_killed_copy_into_milvus_resumes_and_ends_equal(served: LiteServer, tmp_path: Path) -> None:
    contents = _held(hybrid_records(per_namespace=1_000, seed=4))
    total = _count(contents)
    with ServerProcess(tmp_path / "slow", "--api-key", KEY, "--latency-ms", "40") as slow:
        fill_index(slow, SOURCE_INDEX, contents)
        uri = served.uri(served.new_name("killed"))
        ledger = tmp_path / "ledger.sqlite"
        args = [
            "migrate",
            *pinecone_side(slow, "source", SOURCE_INDEX),
            "--target",
            uri,
            "--state",
            str(ledger),
        ]
        target = _store(uri)

        def some_written() -> bool:
            return target.exists() and sum(target.describe().namespace_counts.values()) > 0

        killed_mid_run(args, ledger, at_least=1, until=some_written)
        assert sum(_store(uri).describe().namespace_counts.values()) < total
        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert records_of(_store(uri)) == as_records(contents)
    assert _store(uri).describe().namespace_counts == {ns: len(r) for ns, r in contents.items() if r}


def _users_collection_without_sparse(served: LiteServer, name: str) -> None:
    from pymilvus import DataType, MilvusClient

    client: Any = served.client()
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=2048)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=8)
    schema.add_field("info", DataType.JSON, nullable=True)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index("embedding", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")


def test_a_lossy_pair_is_refused_with_its_list_until_accepted(
    pinecone: ServerProcess, served: LiteServer, tmp_path: Path
) -> None:
    name = served.new_name("no_sparse")
    _users_collection_without_sparse(served, name)
    uri = served.uri(name)
    args = ["migrate", *pinecone_side(pinecone, "source", HELD_INDEX), "--target", uri,
            "--namespace", "tenant-a", "--target-namespace", "__default__"]  # fmt: skip
    refused = run_cli(*args, "--state", str(tmp_path / "refused.sqlite"))
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "sparse-dropped: " in refused.stderr and "--accept-changes" in refused.stderr
    assert _store(uri).describe().namespace_counts == {}  # nothing written

    accepted = run_cli(*args, "--accept-changes", "--state", str(tmp_path / "accepted.sqlite"))
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    fidelity = fidelity_of(_store(uri).room())
    assert fidelity.names() == ["sparse-dropped"]
    expected = expected_after({DEFAULT_NAMESPACE: _held(hybrid_records())["tenant-a"]}, fidelity)
    assert records_of(_store(uri)) == expected


def test_verify_names_the_records_damaged_in_the_collection(
    pinecone: ServerProcess, served: LiteServer, tmp_path: Path
) -> None:
    name = served.new_name("damaged")
    uri = served.uri(name)
    copied = run_cli(
        "migrate", *pinecone_side(pinecone, "source", HELD_INDEX), "--target", uri,
        "--state", str(tmp_path / "copy.sqlite"),
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr[-2000:]
    held = _held(hybrid_records())
    gone, changed, default_gone = (
        held["tenant-a"][3].id,
        held["tenant-a"][4].id,
        held[DEFAULT_NAMESPACE][0].id,
    )
    client: Any = served.client()
    client.delete(name, filter=f'pk in ["8:tenant-a{gone}", "11:__default__{default_gone}"]')
    row = client.query(name, filter=f'pk == "8:tenant-a{changed}"', output_fields=["*"])[0]
    client.upsert(name, [{**row, "metadata": {**row["metadata"], "n": -1}}])

    diff = tmp_path / "diff.jsonl"
    verified = run_cli(
        "verify", *pinecone_side(pinecone, "source", HELD_INDEX), "--target", uri, "--level", "full",
        "--diff", str(diff), "--state", str(tmp_path / "verify.sqlite"),
    )  # fmt: skip
    assert verified.returncode == 5, verified.stdout[-2000:] + verified.stderr[-2000:]
    found = sorted(
        (row["namespace"], row["id"], row["kind"])
        for row in map(orjson.loads, diff.read_bytes().splitlines())
    )
    expected = [("tenant-a", gone, "missing"), ("tenant-a", changed, "different"),
                (DEFAULT_NAMESPACE, default_gone, "missing")]  # fmt: skip
    assert found == sorted(expected), verified.stdout[-3000:] + diff.read_text()[:2000]


def test_bad_input_creates_nothing(pinecone: ServerProcess, tmp_path: Path) -> None:
    lite = tmp_path / "lite.db"
    misspelt = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX),
        "--target", f"milvus://{lite}?collection=never&namespace=field",
        "--state", str(tmp_path / "a.sqlite"),
    )  # fmt: skip
    assert misspelt.returncode == 2 and "unknown option(s) namespace" in misspelt.stderr, misspelt.stderr
    missing = run_cli(
        "migrate", "--source", f"milvus://{lite}?collection=never",
        *pinecone_side(pinecone, "target", "never"),
        "--state", str(tmp_path / "b.sqlite"),
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr[-2000:]
    assert not lite.exists()  # not even the data directory
