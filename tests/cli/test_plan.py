"""`plan` against two local servers (two projects) and within one: the paths a move can take, allowed or
not and why, their time and cost at the prices given, and the one recommended."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from pinecone import Pinecone, PodSpec

from ..cliproc import SOURCE_KEY, TARGET_KEY, load_source, migrate
from ..helpers import dense_index, random_records
from ..serverproc import ServerProcess

Servers = tuple[ServerProcess, ServerProcess]
MOVE = ("--source-index", "src", "--target-index", "dst")
BUCKET = ("--bucket", "s3://moves/docs", "--integration-id", "s3-moves")


@pytest.fixture
def loaded(servers: Servers) -> Servers:
    """The source project's `src` (3 namespaces of 250 records), the target project's empty `dst`."""
    source, target = servers
    load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=250)
    dense_index(Pinecone(api_key=TARGET_KEY, host=target.url), "dst", dimension=8, metric="dotproduct")
    return servers


def plan(source: ServerProcess, target: ServerProcess, tmp_path: Path, *args: str) -> Any:
    result = migrate(source, target, tmp_path, *MOVE, *args, verb="plan")
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stderr
    return result


def paths_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["path"]: p for p in body["paths"]}


def test_across_projects_only_a_copy_is_allowed_and_the_text_shows_the_json_s_figures(
    loaded: Servers, tmp_path: Path
) -> None:
    source, target = loaded
    body = orjson.loads(plan(source, target, tmp_path, "--json").stdout)
    paths = paths_of(body)
    assert body["recommended"] == "streaming copy" and paths["streaming copy"]["legal"]
    native = " ".join(paths["native backup -> restore"]["not_legal_because"])
    assert "another project" in native
    bulk = " ".join(paths["export -> bulk import"]["not_legal_because"])
    assert "needs --bucket" in bulk and "needs --integration-id" in bulk
    # 3 namespaces of 250: 3 list pages each; one fetch each (IDs like "d0#chunk 00001" fit ~500 a request)
    assert body["requests"] == {"list": 9, "fetch": 3, "upsert": 3}
    assert (
        0 < body["round_trip_seconds"]["source"] < 1
        and body["round_trip_seconds"]["target_measured_by"] == "list"
    )

    text = plan(source, target, tmp_path).stdout
    assert "Recommended: streaming copy: the only path allowed here" in text
    assert "not allowed: the target is in another project" in text
    assert "estimate, list prices of 2025-06" in text and "not a bill" in text
    for name, path in paths.items():
        row = next(line for line in text.splitlines() if line.strip().startswith(name))
        assert ("yes" if path["legal"] else "no") in row.split()


def test_within_a_project_a_backup_is_refused_only_for_what_stops_it(loaded: Servers, tmp_path: Path) -> None:
    source, _ = loaded
    pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    dense_index(pc, "dst", dimension=8, metric="dotproduct")
    same_project = ("--target-api-key-env", "SRC_KEY")
    body = orjson.loads(plan(source, source, tmp_path, *BUCKET, *same_project, "--json").stdout)
    paths = paths_of(body)
    assert paths["native backup -> restore"]["not_legal_because"] == [
        "the target index exists: a restore creates a new index"
    ]
    # An empty target with a bucket and an integration: an import is allowed, and the fastest allowed wins.
    assert paths["export -> bulk import"]["legal"]
    allowed = [p for p in body["paths"] if p["legal"]]
    assert body["recommended"] == min(allowed, key=lambda p: p["estimated_seconds"])["path"]

    pc.index(host=pc.describe_index("dst").host).upsert(
        vectors=[{"id": "x", "values": [0.1] * 8}], namespace="tenant-a"
    )
    args = (*BUCKET, *same_project, "--json", "--namespace", "tenant-a")
    paths = paths_of(orjson.loads(plan(source, source, tmp_path, *args).stdout))
    native = paths["native backup -> restore"]["not_legal_because"]
    assert "--namespace cannot apply: a backup restores every namespace as it is" in native
    assert paths["export -> bulk import"]["not_legal_because"] == [
        "target namespace(s) 'tenant-a' exist already: an import only creates namespaces"
    ]


def test_a_prices_file_prices_the_same_units(loaded: Servers, tmp_path: Path) -> None:
    source, target = loaded
    prices = tmp_path / "prices.toml"
    prices.write_text(
        'date = "2030-01"\nsource = "our contract"\nusd_per_million_read_units = 1000000\n'
        "usd_per_million_write_units = 0\nusd_per_gb_egress = 0\n"
    )
    body = orjson.loads(plan(source, target, tmp_path, "--prices", str(prices), "--json").stdout)
    streaming = paths_of(body)["streaming copy"]["estimated_cost"]
    assert streaming["usd"] == streaming["read_units"] > 0  # $1 a read unit, writes and egress free
    assert body["prices"]["label"] == "estimate, list prices of 2030-01 (our contract); not a bill"
    text = plan(source, target, tmp_path, "--prices", str(prices)).stdout
    assert f"${streaming['usd']:,.2f}" in text and "list prices of 2030-01 (our contract)" in text


def test_migrate_dry_run_is_the_plan(loaded: Servers, tmp_path: Path) -> None:
    source, target = loaded
    result = migrate(source, target, tmp_path, *MOVE, "--dry-run")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    assert "Plan (nothing written)" in result.stdout and "Recommended: streaming copy" in result.stdout
    assert not (tmp_path / "ledger.sqlite").exists()


def test_a_whole_index_into_a_new_index_of_its_project_may_go_by_backup(
    loaded: Servers, tmp_path: Path
) -> None:
    source, _ = loaded
    args = ("--source-index", "src", "--target-index", "new", *BUCKET, "--target-api-key-env", "SRC_KEY")
    result = migrate(source, source, tmp_path, *args, "--json", verb="plan")
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr
    body = orjson.loads(result.stdout)
    assert [p["legal"] for p in body["paths"]] == [True, True, True]
    assert body["round_trip_seconds"]["target_measured_by"] == "control plane"
    fastest = min(body["paths"], key=lambda p: p["estimated_seconds"])
    assert body["recommended"] == fastest["path"]

    elsewhere = migrate(
        source, source, tmp_path, *args, "--json", "--target-region", "eu-west-1", verb="plan"
    )
    assert isinstance(elsewhere, subprocess.CompletedProcess) and elsewhere.returncode == 0, elsewhere.stderr
    native = paths_of(orjson.loads(elsewhere.stdout))["native backup -> restore"]["not_legal_because"]
    regions = "source aws/us-east-1, target aws/eu-west-1"
    assert native == [f"a backup restores in its own cloud and region ({regions})"]


def test_a_pod_based_source_is_sampled_by_a_query_and_cannot_go_by_backup(
    servers: Servers, tmp_path: Path
) -> None:
    source, target = servers
    pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    pc.create_index("src", dimension=8, metric="cosine", spec=PodSpec(environment="us-east-1-aws"))
    index = pc.index(host=pc.describe_index("src").host)
    index.upsert(vectors=random_records(300, 8, random.Random(1), prefix="p-"), namespace="tenant-a")
    dense_index(Pinecone(api_key=TARGET_KEY, host=target.url), "dst", dimension=8)

    body = orjson.loads(plan(source, target, tmp_path, "--json").stdout)
    assert body["records"] == 300 and body["namespaces"][0]["sampled"] == 200
    paths = paths_of(body)
    streaming = paths["streaming copy"]
    assert streaming["legal"] and streaming["estimated_cost"]["read_units"] == 0
    assert any("found by query sweeps" in note for note in streaming["notes"])
    native = paths["native backup -> restore"]["not_legal_because"]
    assert "Pinecone backs up serverless indexes only; the source is not one" in native
    assert not any("region" in reason for reason in native)  # a pod index has an environment instead
