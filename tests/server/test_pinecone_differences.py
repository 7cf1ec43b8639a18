"""Conformance: where the local server once differed from Pinecone, one test per difference, named after it.

Each difference is stated by Pinecone's specs or documentation, by the official SDK 10.2.0 (its source and
docstrings), or by what clients observed; the server code names the evidence where it is not documented.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pinecone import Pinecone

from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.files.parquet_layout import bulk_import_schema
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..helpers import dense_index

CLASSIC = {"Api-Key": "k", "X-Pinecone-Api-Version": "2025-10"}
BIG = 12345678901234567890  # above 2**53: float64 rounds it


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers=CLASSIC, timeout=30) as client:
        yield client


@pytest.fixture
def host(pc: Pinecone) -> str:
    dense_index(pc, "diff", dimension=2, metric="dotproduct")
    return str(pc.describe_index("diff").host)


def _pod_index(server: BackgroundServer, http: httpx.Client, name: str = "podded") -> str:
    created = http.post(
        f"{server.url}/indexes",
        json={
            "name": name,
            "dimension": 2,
            "metric": "cosine",
            "spec": {"pod": {"environment": "us-east1-gcp", "pod_type": "p1.x1", "pods": 1}},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["host"])


def _fetch_metadata(http: httpx.Client, host: str, record_id: str = "a") -> dict[str, Any]:
    fetched = http.get(f"{host}/vectors/fetch", params={"ids": [record_id]})
    assert fetched.status_code == 200, fetched.text
    return dict(fetched.json()["vectors"][record_id]["metadata"])


def _upsert(http: httpx.Client, host: str, metadata: dict[str, Any], record_id: str = "a") -> httpx.Response:
    body = {"vectors": [{"id": record_id, "values": [1, 0], "metadata": metadata}]}
    # json, not orjson: it writes integers of any size, as a client in another language could send them
    return http.post(f"{host}/vectors/upsert", content=json.dumps(body))


def _assert_refused(response: httpx.Response, *phrases: str) -> None:
    assert response.status_code == 400, response.text
    for phrase in phrases:
        assert phrase in response.json()["message"], response.json()["message"]


# -- 1. metadata numbers are float64 -------------------------------------------------------------------------


def test_metadata_numbers_are_float64_on_fetch_query_and_fetch_by_metadata(
    host: str, http: httpx.Client
) -> None:
    assert _upsert(http, host, {"n": 1, "big": BIG, "x": 2.5, "flag": True}).status_code == 200
    metadata = _fetch_metadata(http, host)
    assert metadata == {"n": 1.0, "big": float(BIG), "x": 2.5, "flag": True}
    assert type(metadata["n"]) is float and type(metadata["big"]) is float and metadata["flag"] is True
    query = http.post(f"{host}/query", json={"vector": [1, 0], "topK": 1, "includeMetadata": True}).json()
    assert type(query["matches"][0]["metadata"]["n"]) is float
    found = http.post(f"{host}/vectors/fetch_by_metadata", json={"filter": {"n": 1}}).json()
    assert type(found["vectors"]["a"]["metadata"]["big"]) is float
    # Filters agree with what is stored: BIG + 1 is the same float64 as BIG.
    same = http.post(f"{host}/vectors/fetch_by_metadata", json={"filter": {"big": float(BIG + 1)}}).json()
    assert list(same["vectors"]) == ["a"]


def test_metadata_numbers_set_by_update_are_float64(host: str, http: httpx.Client) -> None:
    assert _upsert(http, host, {"n": 1.5}).status_code == 200
    assert http.post(f"{host}/vectors/update", json={"id": "a", "setMetadata": {"n": 7}}).status_code == 200
    assert type(_fetch_metadata(http, host)["n"]) is float
    by_filter = http.post(f"{host}/vectors/update", json={"filter": {"n": 7}, "setMetadata": {"m": 3}})
    assert by_filter.status_code == 200, by_filter.text
    assert _fetch_metadata(http, host) == {"n": 7.0, "m": 3.0}
    assert type(_fetch_metadata(http, host)["m"]) is float


def test_metadata_numbers_of_a_bulk_import_are_float64(host: str, http: httpx.Client, tmp_path: Path) -> None:
    rows = [{"id": "a", "values": [1.0, 0.0], "metadata": orjson.dumps({"n": 1}).decode()}]
    path = tmp_path / "__default__" / "part.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=bulk_import_schema(True, False)), path)
    started = http.post(f"{host}/bulk/imports", json={"uri": str(tmp_path)}).json()
    deadline = time.monotonic() + 30
    while (job := http.get(f"{host}/bulk/imports/{started['id']}").json())["status"] != "Completed":
        assert job["status"] in ("Pending", "InProgress") and time.monotonic() < deadline, job
        time.sleep(0.05)
    assert type(_fetch_metadata(http, host)["n"]) is float


def test_metadata_integers_beyond_float64_are_refused(host: str, http: httpx.Client) -> None:
    refused = _upsert(http, host, {"huge": 10**400})
    assert refused.status_code == 400 and "infinity" in refused.json()["message"], refused.text


# -- 2. describe_index_stats with a filter -------------------------------------------------------------------


def test_describe_index_stats_with_a_filter_is_refused_on_serverless(host: str, http: httpx.Client) -> None:
    assert _upsert(http, host, {"g": 0}).status_code == 200
    _assert_refused(
        http.post(f"{host}/describe_index_stats", json={"filter": {"g": 0}}), "do not support filtering"
    )
    assert http.post(f"{host}/describe_index_stats", json={"filter": {}}).status_code == 200


def test_describe_index_stats_with_a_filter_still_counts_on_a_pod_index(
    server: BackgroundServer, http: httpx.Client
) -> None:
    pod = _pod_index(server, http)
    for i in range(3):
        assert _upsert(http, pod, {"g": i % 2}, record_id=f"r{i}").status_code == 200
    stats = http.post(f"{pod}/describe_index_stats", json={"filter": {"g": 0}})
    assert stats.status_code == 200, stats.text
    assert stats.json()["totalVectorCount"] == 2


# -- 3. $ne and $nin need the field --------------------------------------------------------------------------


def test_ne_and_nin_do_not_match_records_without_the_field(host: str, http: httpx.Client) -> None:
    assert _upsert(http, host, {"genre": "drama"}, "has").status_code == 200
    assert _upsert(http, host, {"other": "x"}, "lacks").status_code == 200
    for condition in ({"$ne": "comedy"}, {"$nin": ["comedy"]}):
        found = http.post(f"{host}/vectors/fetch_by_metadata", json={"filter": {"genre": condition}}).json()
        assert list(found["vectors"]) == ["has"], condition
        query = {"vector": [1, 0], "topK": 10, "filter": {"genre": condition}}
        assert [m["id"] for m in http.post(f"{host}/query", json=query).json()["matches"]] == ["has"]


# -- 4. limits -----------------------------------------------------------------------------------------------


def test_null_metadata_on_upsert_is_dropped_not_refused(host: str, http: httpx.Client) -> None:
    # SDK 10.2.0 cites the server's source: nulls are stripped on write (see validation.metadata_values).
    assert _upsert(http, host, {"ok": "x", "gone": None}).status_code == 200
    assert _fetch_metadata(http, host) == {"ok": "x"}


def test_null_in_set_metadata_neither_sets_nor_removes_the_key(host: str, http: httpx.Client) -> None:
    assert _upsert(http, host, {"keep": "x"}).status_code == 200
    update = {"id": "a", "setMetadata": {"keep": None, "new": "y"}}
    assert http.post(f"{host}/vectors/update", json=update).status_code == 200
    assert _fetch_metadata(http, host) == {"keep": "x", "new": "y"}


def test_sparse_vectors_over_2048_non_zeros_are_refused(host: str, http: httpx.Client) -> None:
    sparse = {"indices": list(range(2049)), "values": [1.0] * 2049}
    refused = http.post(
        f"{host}/vectors/upsert", json={"vectors": [{"id": "s", "values": [1, 0], "sparseValues": sparse}]}
    )
    _assert_refused(refused, "2049", "2048")
    at_limit = {"indices": list(range(2048)), "values": [1.0] * 2048}
    accepted = http.post(
        f"{host}/vectors/upsert", json={"vectors": [{"id": "s", "values": [1, 0], "sparseValues": at_limit}]}
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize(
    "body", [{}, {"filter": {}}, {"filter": {"g": 1}, "limit": 10_001}, {"filter": {"g": 1}, "limit": 0}]
)
def test_fetch_by_metadata_needs_a_filter_and_a_bounded_limit(
    host: str, http: httpx.Client, body: dict[str, Any]
) -> None:
    phrase = "limit must be between 1 and 10000" if "limit" in body else "Empty filter"
    _assert_refused(http.post(f"{host}/vectors/fetch_by_metadata", json=body), phrase)


def test_update_of_a_missing_id_is_a_200_that_changes_nothing(host: str, http: httpx.Client) -> None:
    updated = http.post(f"{host}/vectors/update", json={"id": "nobody", "setMetadata": {"x": "y"}})
    assert updated.status_code == 200, updated.text
    assert http.get(f"{host}/vectors/fetch", params={"ids": ["nobody"]}).json()["vectors"] == {}
    assert http.post(f"{host}/describe_index_stats", json={}).json()["totalVectorCount"] == 0


# -- 5. the default namespace's name -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2025-10", "2026-04", "2026-07"])
def test_default_namespace_is_named_default_in_serverless_stats_and_namespaces(
    host: str, http: httpx.Client, version: str
) -> None:
    assert _upsert(http, host, {"g": 1}).status_code == 200
    headers = {"X-Pinecone-Api-Version": version}
    stats = http.post(f"{host}/describe_index_stats", json={}, headers=headers).json()
    assert list(stats["namespaces"]) == ["__default__"]
    listed = http.get(f"{host}/namespaces", headers=headers).json()
    assert [ns["name"] for ns in listed["namespaces"]] == ["__default__"]


def test_default_namespace_is_the_empty_string_in_pod_stats_and_the_migrator_maps_it(
    server: BackgroundServer, http: httpx.Client
) -> None:
    pod = _pod_index(server, http)
    assert _upsert(http, pod, {"g": 1}).status_code == 200
    assert _upsert(http, pod, {"g": 1}, record_id="b").status_code == 200
    assert list(http.post(f"{pod}/describe_index_stats", json={}).json()["namespaces"]) == [""]
    store = PineconeStore("podded", api_key="k", control_host=server.url)
    assert store.describe().namespace_counts == {"__default__": 2}


# -- 6. the server never reaches outside ---------------------------------------------------------------------


def test_s3_import_without_a_configured_endpoint_fails_without_contacting_s3(
    monkeypatch: pytest.MonkeyPatch, pc: Pinecone
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    index = dense_index(pc, "from-s3", dimension=2)
    started = index.start_import(uri="s3://dev-bulk-import-datasets-pub/10-records-dim-10/")
    deadline = time.monotonic() + 30
    while (job := index.describe_import(id=started.id)).status not in ("Completed", "Failed", "Cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job.status == "Failed"
    assert "AWS_ENDPOINT_URL" in str(job.error) and "never contacts Amazon S3" in str(job.error)


@pytest.mark.parametrize(
    "uri", ["gs://bucket/folder/", "az://container/folder/", "https://acct.blob.core.windows.net/c/"]
)
def test_imports_from_other_clouds_are_refused_at_once(host: str, http: httpx.Client, uri: str) -> None:
    _assert_refused(http.post(f"{host}/bulk/imports", json={"uri": uri}), "never contacts cloud storage")
