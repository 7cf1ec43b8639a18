"""Folding namespaces into one (dedicated read nodes hold one) and splitting them again, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from pinecone import Pinecone, ServerlessSpec

from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, load_source, migrate
from ..helpers import dense_index, namespace_digest
from ..serverproc import ServerProcess

FOLD = ("--namespace-to-metadata", "home", "--target-namespace", "all")
# The reverse direction: the target server's index is read, the source server's is written.
BACKWARDS = ("--source-api-key-env", "DST_KEY", "--target-api-key-env", "SRC_KEY")


def _run(
    source: ServerProcess, target: ServerProcess, tmp_path: Path, *args: str, verb: str = "migrate"
) -> subprocess.CompletedProcess[str]:
    result = migrate(source, target, tmp_path, *args, verb=verb)
    assert isinstance(result, subprocess.CompletedProcess)
    return result


def _digests(server: ServerProcess, key: str, index: str) -> dict[str, Any]:
    store = PineconeStore(index, key, server.url)
    return {ns: namespace_digest(store, ns) for ns in sorted(store.describe().namespace_counts)}


def test_fold_into_dedicated_read_nodes_and_unfold_give_back_the_original(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    source_pc, target_pc = (
        Pinecone(api_key=SOURCE_KEY, host=source.url),
        Pinecone(api_key=TARGET_KEY, host=target.url),
    )
    written = load_source(source_pc, count=80)  # __default__, tenant-a, "tenant b/2": no ID in two of them
    fold = ("--source-index", "src", "--target-index", "folded", *FOLD)

    folded = _run(source, target, tmp_path / "fold", *fold, "--target-read-nodes", "b1", "--verify", "digest")
    assert folded.returncode == 0, folded.stderr
    assert target_pc.describe_index("folded").read_capacity.dedicated is not None
    got = contents(target_pc, "folded")
    assert len(got) == len(written) == 240
    for key, record in written.items():
        namespace, _, record_id = key.rpartition("/")  # IDs hold no "/", namespace "tenant b/2" does
        assert got[f"all/{record_id}"]["metadata"] == {**record["metadata"], "home": namespace}
    verified = _run(
        source,
        target,
        tmp_path / "fold",
        "--source-index",
        "src",
        "--target-index",
        "folded",
        *FOLD,
        "--level",
        "full",
        verb="verify",
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    unfold = ("--source-index", "folded", "--target-index", "back", "--namespace-from-metadata", "home")
    back = _run(target, source, tmp_path / "unfold", *BACKWARDS, *unfold, "--drop-namespace-field")
    assert back.returncode == 0, back.stderr
    assert _digests(source, SOURCE_KEY, "back") == _digests(source, SOURCE_KEY, "src")
    assert {k.removeprefix("back/"): v for k, v in contents(source_pc, "back").items()} == written
    checked = _run(
        target, source, tmp_path / "unfold", *BACKWARDS, *unfold, "--drop-namespace-field", verb="verify"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_verify_of_a_fold_sees_a_record_that_lost_its_namespace_field(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=20)
    fold = ("--source-index", "src", "--target-index", "folded", *FOLD)
    assert _run(source, target, tmp_path, *fold).returncode == 0
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    index = target_pc.index(host=target_pc.describe_index("folded").host)
    record = index.fetch(ids=["d1#chunk 00003"], namespace="all").vectors["d1#chunk 00003"]
    index.upsert(vectors=[{"id": record.id, "values": list(record.values)}], namespace="all")  # metadata gone
    verified = _run(source, target, tmp_path, *fold, "--level", "full", verb="verify")
    assert verified.returncode == 5, verified.stdout + verified.stderr
    assert "d1#chunk 00003" in verified.stdout + verified.stderr


def test_a_fold_refuses_ids_that_occur_in_several_namespaces(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    index = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "src", dimension=2)
    for namespace, ids in {"a": ["x1", "shared", "y"], "b": ["shared", "z"], "c": ["y", "w"]}.items():
        index.upsert(vectors=[{"id": i, "values": [1.0, 0.5]} for i in ids], namespace=namespace)
    for verb in ("migrate", "plan"):
        result = _run(
            source, target, tmp_path, "--source-index", "src", "--target-index", "dst", *FOLD, verb=verb
        )
        assert result.returncode == 2, result.stderr
        assert "'shared' in 'a', 'b'" in result.stderr and "'y' in 'a', 'c'" in result.stderr
        assert "--namespace" in result.stderr
    assert Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes().names() == []
    assert not (tmp_path / "ledger.sqlite").exists()


def test_a_fold_does_not_overwrite_a_field_already_in_the_metadata(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    index = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "src", dimension=2)
    index.upsert(
        vectors=[{"id": "p", "values": [1.0, 0.0], "metadata": {"home": "elsewhere"}}], namespace="a"
    )
    index.upsert(vectors=[{"id": "q", "values": [0.0, 1.0], "metadata": {"home": "b"}}], namespace="b")
    index.upsert(vectors=[{"id": "r", "values": [1.0, 1.0]}], namespace="b")
    report = tmp_path / "report.json"
    result = _run(
        source,
        target,
        tmp_path,
        "--source-index",
        "src",
        "--target-index",
        "dst",
        *FOLD,
        "--report",
        str(report),
    )
    assert result.returncode == 4, result.stderr  # finished with dead letters
    got = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst")
    assert {k: v.get("metadata") for k, v in got.items()} == {"all/q": {"home": "b"}, "all/r": {"home": "b"}}
    assert orjson.loads(report.read_bytes())["dead_letters"] == 1
    status = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "status", "--state", str(tmp_path / "ledger.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "already holds 'elsewhere'" in status.stdout
    # verify expects what the fold should write: the refused record is not expected in the target
    verified = _run(
        source, target, tmp_path, "--source-index", "src", "--target-index", "dst", *FOLD, verb="verify"
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 with no namespace to route to" in verified.stdout + verified.stderr


def test_an_existing_dedicated_target_holding_another_namespace_is_refused(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=10)
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    dedicated = {
        "mode": "Dedicated",
        "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": {"shards": 1, "replicas": 1}},
    }
    spec = ServerlessSpec(cloud="aws", region="us-east-1", read_capacity=dedicated)
    target_pc.create_index("drn", dimension=8, metric="dotproduct", spec=spec)
    drn = target_pc.index(host=target_pc.describe_index("drn").host)
    drn.upsert(vectors=[{"id": "old", "values": [0.5] * 8}], namespace="kept")
    # several namespaces into an existing DRN target: refused with the ways out
    several = _run(source, target, tmp_path, "--source-index", "src", "--target-index", "drn")
    assert several.returncode == 2 and "--namespace-to-metadata FIELD" in several.stderr, several.stderr
    # one namespace, but not the one the target holds
    other = _run(source, target, tmp_path, "--source-index", "src", "--target-index", "drn", *FOLD)
    assert other.returncode == 2 and "already holds 'kept'" in other.stderr, other.stderr
    assert drn.describe_index_stats().namespaces["kept"].vector_count == 1
    assert set(drn.describe_index_stats().namespaces) == {"kept"}
    # into the namespace it holds: a fold fits
    into = _run(
        source,
        target,
        tmp_path,
        "--source-index",
        "src",
        "--target-index",
        "drn",
        *FOLD[:2],
        "--target-namespace",
        "kept",
    )
    assert into.returncode == 0, into.stderr
    assert drn.describe_index_stats().namespaces["kept"].vector_count == 31


def test_plan_sizes_a_dedicated_target_for_the_one_folded_namespace(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=50)
    plain, folded = tmp_path / "plain.json", tmp_path / "folded.json"
    base = ("--source-index", "src", "--target-index", "dst")
    assert _run(source, target, tmp_path, *base, "--report", str(plain), verb="plan").returncode == 0
    result = _run(
        source,
        target,
        tmp_path,
        *base,
        *FOLD,
        "--target-read-nodes",
        "b1",
        "--report",
        str(folded),
        verb="plan",
    )
    assert result.returncode == 0, result.stderr
    before, after = orjson.loads(plain.read_bytes()), orjson.loads(folded.read_bytes())
    assert {n["target"] for n in after["namespaces"]} == {"all"}
    assert after["target_namespaces"] == ["all"]
    # every record carries its namespace name in "home": {"home":"tenant-a"} adds 18 bytes, and so on
    added = sum(
        50 * (len(orjson.dumps({"home": ns})) - 2 + 1) for ns in ("__default__", "tenant-a", "tenant b/2")
    )
    assert abs(after["index_bytes"] - before["index_bytes"] - added) <= 3  # per-namespace rounding
    assert "all" in result.stdout and "dedicated" in result.stdout
    assert Pinecone(api_key=TARGET_KEY, host=target.url).list_indexes().names() == []


def test_a_ledger_made_for_another_fold_is_refused(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=10)
    base = ("--source-index", "src", "--target-index", "dst", "--target-namespace", "all")
    assert _run(source, target, tmp_path, *base, "--namespace-to-metadata", "home").returncode == 0
    other = _run(source, target, tmp_path, *base, "--namespace-to-metadata", "origin")
    assert other.returncode == 2 and "belongs to a different migration" in other.stderr, other.stderr
    records = contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst").values()
    assert all("origin" not in record["metadata"] for record in records)
