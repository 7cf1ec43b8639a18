"""Qdrant end to end through the CLI, as a user runs it (on qdrant-client's local mode): a hybrid index with
every metadata type in three namespaces goes from the local Pinecone server into a Qdrant collection and
back, digest-equal; a run killed with SIGKILL resumes; a cosine index, which Qdrant normalises, is refused
with that change until accepted and then verifies equal through it; verify names the exact IDs damaged in
the collection; bad input creates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from qdrant_client import QdrantClient, models

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Store
from pinecone_migrator.stores.fidelity import PINECONE, between
from pinecone_migrator.stores.qdrant import open_uri
from pinecone_migrator.stores.qdrant.mapping import point_id
from pinecone_migrator.stores.qdrant.schema import QDRANT
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

from .server import QdrantFolder

SOURCE_INDEX = "hybrid"
COSINE_INDEX = "cosine"
COSINE = replace(HYBRID, metric="cosine")
CHANGE_NAMES = (
    "metric-named",
    "vectors-normalised",
    "sparse-dropped",
    "sparse-size-refused",
    "nested-metadata-refused",
    "metadata-size-refused",
    "long-ids-refused",
    "non-ascii-ids-refused",
)


def _cosine_records() -> dict[str, list[Record]]:
    """The hybrid records without sparse values (a cosine index holds none)."""
    return {ns: [replace(r, sparse=None) for r in records] for ns, records in hybrid_records().items()}


@pytest.fixture(scope="module")
def pinecone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pinecone_server(tmp_path_factory.mktemp("pinecone")) as server:
        fill_index(server, SOURCE_INDEX, hybrid_records())
        fill_index(server, COSINE_INDEX, _cosine_records(), shape=COSINE)
        yield server


@pytest.fixture
def folder() -> Iterator[QdrantFolder]:
    with QdrantFolder() as made:
        yield made


def _qdrant(uri: str) -> Store:
    return open_uri(parse(uri, side="target"))


def _cli(folder: QdrantFolder, *args: str) -> tuple[int, str, str]:
    """The CLI run with the folder let go by this process (local mode: one process at a time)."""
    folder.release()
    done = run_cli(*args)
    return done.returncode, done.stdout, done.stderr


def _changes_said(stderr: str) -> list[str]:
    return [name for name in CHANGE_NAMES if f"{name}: " in stderr]


def test_pinecone_to_qdrant_and_back_is_digest_equal(
    pinecone: ServerProcess, folder: QdrantFolder, tmp_path: Path
) -> None:
    contents = hybrid_records()
    uri = folder.uri("items")
    code, _, err = _cli(
        folder, "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri,
        "--state", str(tmp_path / "there.sqlite"), "--verify", "digest",
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "Exception ignored" not in err  # the folder closed cleanly at exit
    into_qdrant = fidelity_of(QDRANT)
    assert [c.name for c in into_qdrant.changes] == ["metric-named"] and into_qdrant.exact
    assert _changes_said(err) == ["metric-named"]
    assert records_of(_qdrant(uri)) == expected_after(contents, into_qdrant) == as_records(contents)

    code, _, err = _cli(
        folder, "migrate", "--source", uri, *pinecone_side(pinecone, "target", "back"),
        "--state", str(tmp_path / "back.sqlite"),
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and "Exception ignored" not in err
    refusals = [
        "sparse-size-refused",
        "nested-metadata-refused",
        "metadata-size-refused",
        "long-ids-refused",
        "non-ascii-ids-refused",
    ]
    out_of_qdrant = between(HYBRID, QDRANT, PINECONE)
    assert [c.name for c in out_of_qdrant.changes] == refusals and out_of_qdrant.exact
    assert _changes_said(err) == refusals
    assert index_records(pinecone, "back") == as_records(contents)


def test_a_killed_copy_into_qdrant_resumes_and_ends_equal(folder: QdrantFolder, tmp_path: Path) -> None:
    contents = hybrid_records(per_namespace=800, seed=4)
    with ServerProcess(tmp_path / "slow", "--api-key", KEY, "--latency-ms", "40") as slow:
        fill_index(slow, SOURCE_INDEX, contents)
        uri = folder.uri("killed")
        ledger = tmp_path / "ledger.sqlite"
        args = [
            "migrate",
            *pinecone_side(slow, "source", SOURCE_INDEX),
            "--target",
            uri,
            "--state",
            str(ledger),
        ]
        folder.release()
        listed = killed_mid_run(args, ledger, at_least=300)
        assert listed < 2_400
        partial = sum(_qdrant(uri).describe().namespace_counts.values())
        assert partial < 2_400
        code, _, err = _cli(folder, *args)
        assert code == 0, err[-2000:]
    store = _qdrant(uri)
    assert records_of(store) == as_records(contents)
    assert sum(store.describe().namespace_counts.values()) == 2_400  # no point twice


def test_a_cosine_index_is_refused_with_its_change_until_accepted(
    pinecone: ServerProcess, folder: QdrantFolder, tmp_path: Path
) -> None:
    uri = folder.uri("normalised")
    args = ["migrate", *pinecone_side(pinecone, "source", COSINE_INDEX), "--target", uri]
    code, _, err = _cli(folder, *args, "--state", str(tmp_path / "refused.sqlite"))
    assert code == 2
    assert _changes_said(err) == ["vectors-normalised"] and "--accept-changes" in err
    assert not _qdrant(uri).exists()  # nothing created

    accepted = [*args, "--accept-changes", "--verify", "digest", "--state", str(tmp_path / "accepted.sqlite")]
    code, out, err = _cli(folder, *accepted)
    assert code == 0, out[-2000:] + err[-2000:]  # verified equal through the change
    fidelity = fidelity_of(QDRANT, COSINE)
    assert fidelity.names() == ["vectors-normalised"]
    expected = expected_after(_cosine_records(), fidelity)
    assert records_of(_qdrant(uri)) == expected != as_records(_cosine_records())


def test_verify_names_the_records_damaged_in_the_collection(
    pinecone: ServerProcess, folder: QdrantFolder, tmp_path: Path
) -> None:
    uri = folder.uri("items")
    code, _, err = _cli(
        folder, "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri,
        "--state", str(tmp_path / "copy.sqlite"),
    )  # fmt: skip
    assert code == 0, err[-2000:]
    records = hybrid_records()["tenant-a"]
    gone, changed = records[3].id, records[4].id
    client = QdrantClient(path=str(folder.path))
    try:
        client.delete("items", models.PointIdsList(points=[point_id("tenant-a", gone)]))
        client.set_payload("items", {"n": -1}, points=[point_id("tenant-a", changed)])
    finally:
        client.close()

    diff = tmp_path / "diff.jsonl"
    code, out, err = _cli(
        folder, "verify", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri,
        "--level", "full", "--diff", str(diff), "--state", str(tmp_path / "verify.sqlite"),
    )  # fmt: skip
    assert code == 5, out[-2000:] + err[-2000:]
    found = sorted(
        (row["namespace"], row["id"], row["kind"])
        for row in map(orjson.loads, diff.read_bytes().splitlines())
    )
    assert found == sorted([("tenant-a", gone, "missing"), ("tenant-a", changed, "different")])


def test_bad_input_creates_nothing(pinecone: ServerProcess, tmp_path: Path) -> None:
    nowhere = tmp_path / "new"
    code, _, err = _cli(
        QdrantFolder(tmp_path / "unused"), "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX),
        "--target", f"qdrant://{nowhere}?collection=c&vectr=dense", "--state", str(tmp_path / "a.sqlite"),
    )  # fmt: skip
    assert code == 2 and "unknown option(s) vectr" in err
    code, _, err = _cli(
        QdrantFolder(tmp_path / "unused"), "migrate", "--source", f"qdrant://{nowhere}?collection=c",
        *pinecone_side(pinecone, "target", "never"), "--state", str(tmp_path / "b.sqlite"),
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert not nowhere.exists()
