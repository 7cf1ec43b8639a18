"""Chroma end to end through the CLI, as a user runs it: a hybrid index with every metadata type in three
namespaces goes from the local Pinecone server into a Chroma server and back. The pair is lossy (Chroma has
no sparse vectors here): refused with its list and nothing created until accepted; then equal up to the
listed changes, less the records Chroma refuses (an empty list; a float it would keep changed), which are
dead letters. A run killed with SIGKILL resumes; verify names the exact IDs damaged in Chroma."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE
from pinecone_migrator.stores.chroma import open_uri
from pinecone_migrator.stores.chroma.mapping import risky_number
from pinecone_migrator.stores.chroma.naming import collection_name
from pinecone_migrator.stores.chroma.room import CHROMA
from pinecone_migrator.stores.chroma.store import ChromaStore
from pinecone_migrator.stores.fidelity import PINECONE, between
from pinecone_migrator.stores.uri import parse
from tests.databases.roundtrip import (
    HYBRID,
    KEY,
    as_records,
    cli_command,
    cli_env,
    expected_after,
    fidelity_of,
    fill_index,
    hybrid_records,
    index_records,
    pinecone_server,
    pinecone_side,
    records_of,
    run_cli,
)
from tests.serverproc import ServerProcess

from .server import ChromaServer

SOURCE_INDEX = "hybrid"
PLAIN_INDEX = "plain"  # what Chroma holds whole: no empty lists, no floats of 16-17 digits


def _plain(contents: dict[str, list[Record]]) -> dict[str, list[Record]]:
    def plain(record: Record) -> Record:
        metadata = {k: v for k, v in record.metadata.items() if k not in ("empty", "ratio")}
        return replace(record, sparse=None, metadata=metadata)

    return {namespace: [plain(r) for r in records] for namespace, records in contents.items()}


@pytest.fixture(scope="module")
def pinecone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pinecone_server(tmp_path_factory.mktemp("pinecone")) as server:
        fill_index(server, SOURCE_INDEX, hybrid_records())
        fill_index(server, PLAIN_INDEX, _plain(hybrid_records()))
        yield server


def _store(uri: str) -> ChromaStore:
    return open_uri(parse(uri, side="target"))


def _database_exists(server: ChromaServer, database: str) -> bool:
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import NotFoundError

    admin = chromadb.AdminClient(
        Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host=server.host,
            chroma_server_http_port=server.port,
            anonymized_telemetry=False,
        )
    )
    try:
        admin.get_database(database)
    except NotFoundError:
        return False
    return True


def _collection(server: ChromaServer, database: str, namespace: str) -> Any:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(
        host=server.host, port=server.port, database=database, settings=Settings(anonymized_telemetry=False)
    )
    return client.get_collection(collection_name(namespace, ""), embedding_function=None)


def test_pinecone_to_chroma_and_back(
    pinecone: ServerProcess, chroma_server: ChromaServer, tmp_path: Path
) -> None:
    contents = hybrid_records()
    database = chroma_server.new_database("roundtrip")
    uri = chroma_server.uri(database)
    args = ["migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri]
    refused = run_cli(*args, "--state", str(tmp_path / "refused.sqlite"))
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "sparse-dropped: " in refused.stderr and "--accept-changes" in refused.stderr
    assert not _database_exists(chroma_server, database)  # nothing created

    there = run_cli(*args, "--accept-changes", "--state", str(tmp_path / "there.sqlite"))
    into_chroma = fidelity_of(CHROMA)
    assert [c.name for c in into_chroma.changes] == [
        "metric-named",
        "sparse-dropped",
        "empty-lists-refused",
        "inexact-floats-refused",
    ]
    assert into_chroma.names() == ["sparse-dropped"]
    assert "metric-named: " in there.stderr and "sparse-dropped: " in there.stderr
    assert there.returncode == 4, there.stderr[-2000:]  # finished, with dead letters
    held = records_of(_store(uri))
    expected = expected_after(contents, into_chroma)
    # What Chroma refused beyond the records fidelity says it refuses: records with a float it would change.
    refused_ids = {(ns, i) for ns, records in expected.items() for i in records} - {
        (ns, i) for ns, records in held.items() for i in records
    }
    with_empty = {(ns, r.id) for ns, records in contents.items() for r in records if "empty" in r.metadata}
    assert with_empty and not with_empty & {(ns, i) for ns, records in held.items() for i in records}
    for namespace, record_id in refused_ids:  # beyond the empty lists, which fidelity leaves out already
        assert any(risky_number(v) for v in expected[namespace][record_id].metadata.values())
    assert held == {
        ns: {i: r for i, r in records.items() if (ns, i) not in refused_ids}
        for ns, records in expected.items()
    }

    back = run_cli(
        "migrate", "--source", uri, *pinecone_side(pinecone, "target", "back"),
        "--state", str(tmp_path / "back.sqlite"),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr[-2000:]
    out_of_chroma = between(HYBRID, CHROMA, PINECONE)
    refusals = ["metadata-size-refused", "long-ids-refused", "non-ascii-ids-refused"]
    assert [c.name for c in out_of_chroma.changes] == refusals and out_of_chroma.exact
    assert index_records(pinecone, "back") == held


def test_a_killed_copy_into_chroma_resumes_and_ends_equal(
    chroma_server: ChromaServer, tmp_path: Path
) -> None:
    contents = _plain(hybrid_records(per_namespace=200, seed=4))
    total = sum(len(records) for records in contents.values())
    with ServerProcess(tmp_path / "slow", "--api-key", KEY, "--latency-ms", "200") as slow:
        fill_index(slow, SOURCE_INDEX, contents)
        uri = chroma_server.uri(chroma_server.new_database("killed"))
        ledger = tmp_path / "ledger.sqlite"
        args = ["migrate", *pinecone_side(slow, "source", SOURCE_INDEX), "--target", uri]
        args += ["--accept-changes", "--state", str(ledger)]
        slowly = ["--concurrency", "1", "--max-request-bytes", "10000"]  # so that a kill lands part-way
        _killed_once_written([*args, *slowly], uri, at_least=100)
        assert sum(_store(uri).describe().namespace_counts.values()) < total  # killed part-way
        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert records_of(_store(uri)) == as_records(contents)
    assert _store(uri).describe().namespace_counts == {ns: len(r) for ns, r in contents.items()}


def _killed_once_written(args: list[str], uri: str, at_least: int) -> None:
    """Run ``pinecone-migrator ARGS`` and SIGKILL it once Chroma holds ``at_least`` of its records."""
    running = subprocess.Popen(
        cli_command(*args), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    store = _store(uri)
    try:
        deadline = time.monotonic() + 60
        while running.poll() is None and time.monotonic() < deadline:
            if store.exists() and sum(store.describe().namespace_counts.values()) >= at_least:
                running.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        assert running.wait(timeout=30) == -signal.SIGKILL, (
            running.stderr.read()[-2000:] if running.stderr else ""
        )
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(timeout=30)


def test_verify_names_the_records_damaged_in_chroma(
    pinecone: ServerProcess, chroma_server: ChromaServer, tmp_path: Path
) -> None:
    database = chroma_server.new_database("damaged")
    uri = chroma_server.uri(database)
    copied = run_cli(
        "migrate", *pinecone_side(pinecone, "source", PLAIN_INDEX), "--target", uri, "--accept-changes",
        "--state", str(tmp_path / "copy.sqlite"),
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr[-2000:]
    plain = _plain(hybrid_records())
    gone, changed = plain["tenant-a"][3].id, plain["tenant-a"][4].id
    default_gone = plain[DEFAULT_NAMESPACE][0].id
    _collection(chroma_server, database, "tenant-a").delete(ids=[gone])
    _collection(chroma_server, database, "tenant-a").update(ids=[changed], metadatas=[{"n": -1}])
    _collection(chroma_server, database, DEFAULT_NAMESPACE).delete(ids=[default_gone])

    diff = tmp_path / "diff.jsonl"
    verified = run_cli(
        "verify", *pinecone_side(pinecone, "source", PLAIN_INDEX), "--target", uri, "--level", "full",
        "--accept-changes", "--diff", str(diff), "--state", str(tmp_path / "verify.sqlite"),
    )  # fmt: skip
    assert verified.returncode == 5, verified.stdout[-2000:] + verified.stderr[-2000:]
    found = sorted(
        (row["namespace"], row["id"], row["kind"])
        for row in map(orjson.loads, diff.read_bytes().splitlines())
    )
    expected = [("tenant-a", gone, "missing"), ("tenant-a", changed, "different"),
                (DEFAULT_NAMESPACE, default_gone, "missing")]  # fmt: skip
    assert found == sorted(expected), verified.stdout[-3000:] + diff.read_text()[:2000]


def test_bad_input_creates_nothing(
    pinecone: ServerProcess, chroma_server: ChromaServer, tmp_path: Path
) -> None:
    database = chroma_server.new_database("never")
    misspelt = run_cli(
        "migrate", *pinecone_side(pinecone, "source", PLAIN_INDEX), "--accept-changes",
        "--target", chroma_server.uri(database, prefx="p"), "--state", str(tmp_path / "a.sqlite"),
    )  # fmt: skip
    assert misspelt.returncode == 2 and "unknown option(s) prefx" in misspelt.stderr, misspelt.stderr[-2000:]
    missing = run_cli(
        "migrate", "--source", chroma_server.uri(database), *pinecone_side(pinecone, "target", "never"),
        "--state", str(tmp_path / "b.sqlite"),
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr[-2000:]
    assert not _database_exists(chroma_server, database)
