"""PostgreSQL + pgvector end to end through the CLI, as a user runs it: a hybrid index with every metadata
type in three namespaces goes from the local Pinecone server into a table and back, equal up to the listed
changes (sparse indices beyond a sparsevec's are refused: dead letters); a run killed with SIGKILL resumes;
a lossy pair (halfvec) is refused with its list and creates nothing until accepted; verify names the exact
IDs damaged in the table; bad input creates nothing."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, Store
from pinecone_migrator.stores.fidelity import PINECONE, between
from pinecone_migrator.stores.pgvector import open_uri
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

from .conftest import new_table
from .server import PostgresServer
from .test_conformance import PGVECTOR_ROOM

SOURCE_INDEX = "hybrid"
SMALL_INDEX = "small"  # what a sparsevec holds whole: sparse indices below 1,000,000,000
CHANGE_NAMES = (
    "metric-named",
    "values-float16",
    "sparse-size-refused",
    "sparse-zeros-refused",
    "sparse-index-refused",
    "nested-metadata-refused",
    "metadata-size-refused",
    "long-ids-refused",
    "non-ascii-ids-refused",
)


def _small(contents: dict[str, list[Record]]) -> dict[str, list[Record]]:
    return {
        namespace: [r for r in records if r.sparse is None or int(r.sparse.indices[-1]) < 1_000_000_000]
        for namespace, records in contents.items()
    }


@pytest.fixture(scope="module")
def pinecone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with pinecone_server(tmp_path_factory.mktemp("pinecone")) as server:
        fill_index(server, SOURCE_INDEX, hybrid_records())
        fill_index(server, SMALL_INDEX, _small(hybrid_records()))
        yield server


def _store(uri: str) -> Store:
    return open_uri(parse(uri, side="target"))


def _sql(server: PostgresServer, statement: str, parameters: Any = None) -> list[Any]:
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        cursor = connection.execute(statement, parameters)
        return cursor.fetchall() if cursor.description is not None else []


def _changes_said(stderr: str) -> list[str]:
    """The change names a run logged before writing ("name: sentence" lines)."""
    return [name for name in CHANGE_NAMES if f"{name}: " in stderr]


def test_pinecone_to_pgvector_and_back(
    pinecone: ServerProcess, postgres: PostgresServer, tmp_path: Path
) -> None:
    contents = hybrid_records()
    uri = postgres.uri(new_table("items"))
    there = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX), "--target", uri,
        "--state", str(tmp_path / "there.sqlite"),
    )  # fmt: skip
    into_pg = fidelity_of(PGVECTOR_ROOM)
    said = ["metric-named", "sparse-zeros-refused", "sparse-index-refused"]
    assert [c.name for c in into_pg.changes] == said and into_pg.exact
    assert _changes_said(there.stderr) == said
    refused = sum(len(records) for records in contents.values()) - sum(
        len(records) for records in expected_after(contents, into_pg).values()
    )
    assert refused > 0 and there.returncode == 4, there.stderr[-2000:]  # finished, with dead letters
    assert records_of(_store(uri)) == expected_after(contents, into_pg)

    back = run_cli(
        "migrate", "--source", uri, *pinecone_side(pinecone, "target", "back"),
        "--state", str(tmp_path / "back.sqlite"),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr[-2000:]
    out_of_pg = between(HYBRID, PGVECTOR_ROOM, PINECONE)
    refusals = [
        "sparse-size-refused",
        "nested-metadata-refused",
        "metadata-size-refused",
        "non-ascii-ids-refused",
    ]
    assert [c.name for c in out_of_pg.changes] == refusals and out_of_pg.exact
    assert _changes_said(back.stderr) == refusals
    assert index_records(pinecone, "back") == expected_after(contents, into_pg)


def _killed_once_written(args: list[str], postgres: PostgresServer, table: str, at_least: int) -> int:
    """Run the CLI, SIGKILL it once the table holds ``at_least`` rows, and return how many it then held."""
    running = subprocess.Popen(
        cli_command(*args), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while running.poll() is None and time.monotonic() < deadline:
            if _sql(postgres, "SELECT to_regclass(%s) IS NOT NULL", (table,)) == [(True,)]:
                written = int(_sql(postgres, f"SELECT count(*) FROM {table}")[0][0])
                if written >= at_least:
                    running.send_signal(signal.SIGKILL)
                    running.wait(timeout=30)
                    return int(_sql(postgres, f"SELECT count(*) FROM {table}")[0][0])
            time.sleep(0.01)
        raise AssertionError(f"the run wrote fewer than {at_least} rows (exit {running.poll()})")
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(timeout=30)


def test_a_killed_copy_into_pgvector_resumes_and_ends_equal(postgres: PostgresServer, tmp_path: Path) -> None:
    contents = _small(hybrid_records(per_namespace=800, seed=4))
    total = sum(len(records) for records in contents.values())
    with ServerProcess(tmp_path / "slow", "--api-key", KEY, "--latency-ms", "40") as slow:
        fill_index(slow, SOURCE_INDEX, contents)
        table = new_table("killed")
        uri = postgres.uri(table)
        ledger = tmp_path / "ledger.sqlite"
        args = [
            "migrate",
            *pinecone_side(slow, "source", SOURCE_INDEX),
            "--target",
            uri,
            "--state",
            str(ledger),
        ]
        args += [
            "--concurrency",
            "2",
            "--max-request-bytes",
            "10000",
        ]  # small writes: a kill lands among them
        written = _killed_once_written(args, postgres, table, at_least=200)
        assert 200 <= written < total  # killed part-way
        resumed = run_cli(*args)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert records_of(_store(uri)) == as_records(contents)
    assert _sql(postgres, f"SELECT count(*) FROM {table}") == [(total,)]  # no row twice
    # The copy finished: the table got its vector index, by the source's metric.
    index = "SELECT indexdef LIKE '%%hnsw (embedding vector_ip_ops)' FROM pg_indexes WHERE tablename = %s"
    assert _sql(postgres, index + " AND indexname LIKE '%%hnsw'", (table,)) == [(True,)]


def test_a_lossy_pair_is_refused_with_its_list_until_accepted(
    pinecone: ServerProcess, postgres: PostgresServer, tmp_path: Path
) -> None:
    table = new_table("half")
    uri = postgres.uri(table, vector_type="halfvec")
    args = ["migrate", *pinecone_side(pinecone, "source", SMALL_INDEX), "--target", uri]
    refused = run_cli(*args, "--state", str(tmp_path / "refused.sqlite"))
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "values-float16: " in refused.stderr and "--accept-changes" in refused.stderr
    assert _sql(postgres, "SELECT to_regclass(%s) IS NULL", (table,)) == [(True,)]  # nothing created

    accepted = run_cli(*args, "--accept-changes", "--state", str(tmp_path / "accepted.sqlite"))
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    fidelity = fidelity_of(_store(uri).room())  # type: ignore[attr-defined]
    assert fidelity.names() == ["values-float16"]
    assert records_of(_store(uri)) == expected_after(_small(hybrid_records()), fidelity)
    verified = run_cli(
        "verify", *pinecone_side(pinecone, "source", SMALL_INDEX), "--target", uri, "--level", "digest",
        "--accept-changes", "--state", str(tmp_path / "verify.sqlite"),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]


def test_verify_names_the_records_damaged_in_the_table(
    pinecone: ServerProcess, postgres: PostgresServer, tmp_path: Path
) -> None:
    table = new_table("damaged")
    uri = postgres.uri(table)
    copied = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SMALL_INDEX), "--target", uri,
        "--state", str(tmp_path / "copy.sqlite"),
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr[-2000:]
    searched = run_cli(
        "verify", *pinecone_side(pinecone, "source", SMALL_INDEX), "--target", uri, "--level", "search",
        "--state", str(tmp_path / "search.sqlite"),
    )  # fmt: skip
    assert searched.returncode == 0 and "EQUAL" in searched.stdout, (
        searched.stdout[-2000:] + searched.stderr[-2000:]
    )
    records = _small(hybrid_records())["tenant-a"]
    gone, changed, default_gone = (
        records[3].id,
        records[4].id,
        _small(hybrid_records())[DEFAULT_NAMESPACE][0].id,
    )
    _sql(
        postgres,
        f"DELETE FROM {table} WHERE (namespace, id) IN (('tenant-a', %s), ('', %s))",
        (gone, default_gone),
    )
    _sql(postgres, f"UPDATE {table} SET metadata = metadata || '{{\"n\": -1}}' WHERE id = %s", (changed,))

    diff = tmp_path / "diff.jsonl"
    verified = run_cli(
        "verify", *pinecone_side(pinecone, "source", SMALL_INDEX), "--target", uri, "--level", "full",
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


def test_bad_input_creates_nothing(pinecone: ServerProcess, postgres: PostgresServer, tmp_path: Path) -> None:
    table = new_table("never")
    misspelt = run_cli(
        "migrate", *pinecone_side(pinecone, "source", SOURCE_INDEX),
        "--target", postgres.uri(table, metirc="cosine"), "--state", str(tmp_path / "a.sqlite"),
    )  # fmt: skip
    assert misspelt.returncode == 2 and "unknown option(s) metirc" in misspelt.stderr
    missing = run_cli(
        "migrate", "--source", postgres.uri(table), *pinecone_side(pinecone, "target", "never"),
        "--state", str(tmp_path / "b.sqlite"),
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr[-2000:]
    assert _sql(postgres, "SELECT to_regclass(%s) IS NULL", (table,)) == [(True,)]


def test_a_table_is_never_its_own_target(postgres: PostgresServer, tmp_path: Path) -> None:
    """The same table named two ways (localhost and 127.0.0.1, postgres:// and postgresql://) is one."""
    table = new_table("itself")
    _sql(postgres, "CREATE EXTENSION IF NOT EXISTS vector")
    _sql(postgres, f"CREATE TABLE {table} (id text PRIMARY KEY, embedding vector(2))")
    _sql(postgres, f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
    _sql(postgres, f"INSERT INTO {table} VALUES ('a', '[1,2]')")
    other_spelling = f"postgres://postgres@localhost:{postgres.port}/postgres?table=public.{table}"
    refused = run_cli(
        "migrate",
        "--source",
        postgres.uri(table),
        "--target",
        other_spelling,
        "--state",
        str(tmp_path / "s.sqlite"),
    )
    assert refused.returncode == 2 and "never writes to its source" in refused.stderr, refused.stderr[-2000:]
    assert _sql(postgres, f"SELECT id, embedding::text FROM {table}") == [("a", "[1,2]")]


def test_sync_follows_a_tables_updated_column(
    pinecone: ServerProcess, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Continuous sync from a user's table with an epoch-seconds column: a pass copies only what changed
    since the last (PostgreSQL evaluates the filter on the column)."""
    table = new_table("synced")
    _sql(postgres, "CREATE EXTENSION IF NOT EXISTS vector")
    _sql(
        postgres,
        f"CREATE TABLE {table} (id text PRIMARY KEY, embedding vector(2), title text, updated float8)",
    )
    _sql(postgres, f"INSERT INTO {table} VALUES ('a', '[1,0]', 'first', 0), ('b', '[0,1]', 'second', 0)")
    uri = postgres.uri(table, metric="cosine")
    args = ["sync", "--source", uri, *pinecone_side(pinecone, "target", "synced"), "--once",
            "--updated-field", "updated", "--state", str(tmp_path / "sync.sqlite")]  # fmt: skip
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    now = "extract(epoch FROM clock_timestamp())"  # what an application writing the table would set
    _sql(postgres, f"UPDATE {table} SET title = 'changed', updated = {now} WHERE id = 'b'")
    _sql(postgres, f"INSERT INTO {table} VALUES ('c', '[1,1]', 'third', {now})")
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "new 1, updated 1" in second.stdout + second.stderr
    copied = index_records(pinecone, "synced")[DEFAULT_NAMESPACE]
    assert {record_id: r.metadata["title"] for record_id, r in copied.items()} == {
        "a": "first",
        "b": "changed",
        "c": "third",
    }
