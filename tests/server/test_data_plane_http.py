"""Raw HTTP for what the SDK refuses to send: Pinecone's status, error shape and a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pinecone import Pinecone

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer

from ..helpers import dense_index, sparse_index

HEADERS = {"Api-Key": "k", "X-Pinecone-Api-Version": "2025-10"}


@pytest.fixture
def host(pc: Pinecone) -> str:
    dense_index(pc, "raw", dimension=4, metric="dotproduct")
    sparse_index(pc, "raw-sparse")
    return str(pc.describe_index("raw").host)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers=HEADERS, timeout=30) as client:
        yield client


def _vector(record_id: str = "a", **extra: Any) -> dict[str, Any]:
    return {"id": record_id, "values": [0.1, 0.2, 0.3, 0.4], **extra}


def _assert_error(response: httpx.Response, status: int, *phrases: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], int)
    for phrase in phrases:
        assert phrase in body["message"], body["message"]


@pytest.mark.parametrize(
    ("vectors", "phrases"),
    [
        ([_vector("")], ["1-512 characters"]),
        ([_vector("x" * 513)], ["1-512 characters", "513"]),
        ([_vector("caf\u00e9")], ["ASCII"]),
        ([{"id": "a", "values": [1, 2, 3]}], ["dimension 3 does not match", "4"]),
        ([{"id": "a"}], ["dimension 0 does not match"]),
        ([_vector(metadata={"nested": {"a": 1}})], ["nested", "'nested'"]),
        ([_vector(metadata={"mixed": ["a", 1]})], ["only contain strings"]),
        ([_vector(metadata={"big": "x" * 41_000})], ["exceeds the limit of 40960 bytes"]),
        ([_vector(metadata="not an object")], ["JSON object"]),
        ([_vector(sparseValues={"indices": [1, 1], "values": [1, 2]})], ["duplicate indices"]),
        ([_vector(sparseValues={"indices": [2**32], "values": [1]})], ["0 to 4294967295"]),
        ([_vector(sparseValues={"indices": [-1], "values": [1]})], ["0 to 4294967295"]),
        ([_vector(sparseValues={"indices": [1, 2], "values": [1]})], ["same length"]),
        ([_vector(sparseValues={"indices": list(range(2049)), "values": [1.0] * 2049})], ["2048"]),
        ([{"id": "a", "values": [1, 2, "x", 4]}], ["numbers"]),
        ([{"id": "a", "values": [1, 2, True, 4]}], ["numbers"]),
        ([{"id": "a", "values": [1, 2, 1e39, 4]}], ["float32"]),
        ([_vector(str(i)) for i in range(1001)], ["1001", "1000"]),
        ([], ["non-empty"]),
    ],
)
def test_bad_upserts_are_refused_with_a_clear_message(
    host: str, http: httpx.Client, vectors: list[Any], phrases: list[str]
) -> None:
    response = http.post(f"{host}/vectors/upsert", json={"vectors": vectors})
    _assert_error(response, 400, *phrases)
    assert http.post(f"{host}/describe_index_stats", json={}).json()["totalVectorCount"] == 0


def test_upsert_over_two_megabytes_is_refused(host: str, http: httpx.Client) -> None:
    vectors = [_vector(f"id-{i}", metadata={"text": "y" * 3000}) for i in range(800)]
    response = http.post(f"{host}/vectors/upsert", json={"vectors": vectors})
    _assert_error(response, 400, "exceeds the maximum of 2097152 bytes")


def test_sparse_index_refuses_dense_values(pc: Pinecone, host: str, http: httpx.Client) -> None:
    sparse_host = pc.describe_index("raw-sparse").host
    response = http.post(f"{sparse_host}/vectors/upsert", json={"vectors": [_vector()]})
    _assert_error(response, 400, "Sparse indexes take no dense values")


def test_fetch_and_delete_over_one_thousand_ids_are_refused(host: str, http: httpx.Client) -> None:
    ids = [f"i{n}" for n in range(1001)]
    _assert_error(http.get(f"{host}/vectors/fetch", params={"ids": ids}), 400, "at most 1000 IDs")
    _assert_error(http.post(f"{host}/vectors/delete", json={"ids": ids}), 400, "at most 1000 IDs")


def test_delete_needs_exactly_one_selector(host: str, http: httpx.Client) -> None:
    _assert_error(http.post(f"{host}/vectors/delete", json={}), 400, "exactly one")
    _assert_error(
        http.post(f"{host}/vectors/delete", json={"ids": ["a"], "deleteAll": True}), 400, "exactly one"
    )
    _assert_error(http.post(f"{host}/vectors/delete", json={"filter": {}}), 400, "empty metadata filter")


def test_query_limits_and_invalid_filters(host: str, http: httpx.Client) -> None:
    query = {"vector": [1, 0, 0, 0]}
    _assert_error(http.post(f"{host}/query", json={**query, "topK": 10_001}), 400, "topK", "10000")
    _assert_error(http.post(f"{host}/query", json={**query, "topK": 0}), 400, "topK")
    _assert_error(http.post(f"{host}/query", json={"topK": 1, "vector": [1, 0]}), 400, "dimension 2")
    _assert_error(
        http.post(f"{host}/query", json={**query, "topK": 1, "filter": {"a": {"$regex": "x"}}}), 400, "$regex"
    )


def test_list_limits_and_bad_tokens(host: str, http: httpx.Client) -> None:
    _assert_error(http.get(f"{host}/vectors/list", params={"limit": 101}), 400, "limit", "100")
    _assert_error(
        http.get(f"{host}/vectors/list", params={"paginationToken": "garbage!"}), 400, "pagination token"
    )


def test_malformed_json_is_a_400(host: str, http: httpx.Client) -> None:
    response = http.post(
        f"{host}/vectors/upsert", content=b'{"vectors": [', headers={"Content-Type": "application/json"}
    )
    _assert_error(response, 400, "not valid JSON")


def test_unknown_index_is_a_404(server: BackgroundServer, http: httpx.Client) -> None:
    response = http.post(f"{server.url}/data/nope/query", json={"topK": 1, "vector": [1]})
    _assert_error(response, 404, "nope")


def test_api_key_is_enforced_when_configured() -> None:
    with BackgroundServer(ServerConfig(port=0, api_key="secret-key")) as running:
        anonymous = httpx.get(f"{running.url}/indexes")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
        assert "secret-key" not in anonymous.text
        wrong = httpx.post(f"{running.url}/data/x/query", json={}, headers={"Api-Key": "wrong"})
        assert wrong.status_code == 401
        assert wrong.json()["code"] == 16
        good = httpx.get(f"{running.url}/indexes", headers={"Api-Key": "secret-key"})
        assert good.status_code == 200


def test_list_is_refused_on_a_pod_based_index(server: BackgroundServer, http: httpx.Client) -> None:
    created = http.post(
        f"{server.url}/indexes",
        json={
            "name": "podded",
            "dimension": 2,
            "metric": "cosine",
            "spec": {"pod": {"environment": "us-east1-gcp", "pod_type": "p1.x1", "pods": 1}},
        },
    )
    assert created.status_code == 201, created.text
    pod_host = created.json()["host"]
    upserted = http.post(f"{pod_host}/vectors/upsert", json={"vectors": [{"id": "a", "values": [1, 0]}]})
    assert upserted.status_code == 200
    _assert_error(http.get(f"{pod_host}/vectors/list"), 400, "only supported for serverless indexes")
    assert http.get(f"{pod_host}/vectors/fetch", params={"ids": ["a"]}).json()["vectors"]["a"]["id"] == "a"


@pytest.mark.parametrize(
    ("schema", "phrase"),
    [
        ({"fields": {"genre": None}}, "must be an object"),
        ({"fields": {"genre": {"filterable": False}}}, "only filterable: true"),
        ({"fields": {"genre": {"filterable": True, "other": 1}}}, "must be an object"),
        ({"fields": []}, "'fields' object"),
    ],
)
def test_namespace_schemas_are_validated(host: str, http: httpx.Client, schema: Any, phrase: str) -> None:
    _assert_error(http.post(f"{host}/namespaces", json={"name": "n", "schema": schema}), 400, phrase)
    created = http.post(f"{host}/namespaces", json={"name": "n", "schema": {"fields": {"genre": {}}}})
    assert created.json()["schema"] == {"fields": {"genre": {"filterable": True}}}
