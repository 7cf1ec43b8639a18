"""The control plane: every index operation through SDK 10.x, and both dialects over raw HTTP.

SDK 10.x speaks the schema/deployment dialect (API 2026-07); the classic dialect (2025-10, SDK 9.x) is
exercised here with raw requests shaped exactly as SDK 9.x sends them (the SDK 9.x run itself is in
``test_control_plane_sdk9.py``). Raw HTTP is also the only way to reach the server's validation, because
SDK 10.x refuses most invalid arguments before sending them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pinecone import (
    ApiError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Pinecone,
    PodSpec,
    ServerlessSpec,
)
from pinecone.models.indexes.deployment import ManagedDeployment, PodDeployment
from pinecone.models.indexes.read_capacity import ReadCapacityDedicatedResponse, ReadCapacityOnDemandResponse
from pinecone.models.indexes.schema import DenseVectorField, SparseVectorField, StringField

from pinecone_migrator.server.runner import BackgroundServer

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
DEDICATED = {
    "mode": "Dedicated",
    "dedicated": {"node_type": "t1", "scaling": "Manual", "manual": {"shards": 2, "replicas": 3}},
}
READY = {"ready": True, "state": "Ready"}
ON_DEMAND = {"mode": "OnDemand", "status": {"state": "Ready"}}

# Request bodies exactly as the SDKs send them (captured from pinecone 9.1.0 and 10.2.0).
SDK9_DENSE = {
    "name": "classic-dense",
    "metric": "cosine",
    "vector_type": "dense",
    "deletion_protection": "disabled",
    "dimension": 8,
    "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
}
SDK9_SPARSE = {
    "name": "classic-sparse",
    "metric": "dotproduct",
    "vector_type": "sparse",
    "deletion_protection": "disabled",
    "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
}
SDK9_POD = {
    "name": "classic-pod",
    "metric": "euclidean",
    "vector_type": "dense",
    "deletion_protection": "disabled",
    "dimension": 4,
    "spec": {
        "pod": {
            "environment": "us-east-1-aws",
            "pod_type": "p1.x1",
            "replicas": 2,
            "shards": 3,
            "pods": 1,
            "metadata_config": None,
            "source_collection": None,
        }
    },
}
SDK10_DENSE = {
    "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 8, "metric": "cosine"}}},
    "name": "schema-dense",
    "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
    "deletion_protection": "enabled",
    "tags": {"env": "dev"},
}


def _client(server: BackgroundServer, version: str | None) -> httpx.Client:
    headers = {"X-Pinecone-Api-Version": version} if version else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


@pytest.fixture
def classic(server: BackgroundServer) -> Iterator[httpx.Client]:
    """Raw HTTP in the classic dialect, as SDK 9.x speaks it."""
    with _client(server, "2025-10") as client:
        yield client


@pytest.fixture
def schema(server: BackgroundServer) -> Iterator[httpx.Client]:
    """Raw HTTP in the schema/deployment dialect, as SDK 10.x speaks it."""
    with _client(server, "2026-07") as client:
        yield client


def _host(server: BackgroundServer, name: str) -> str:
    return f"{server.url}/data/{name}"


def _error(response: httpx.Response, status: int, code: str) -> str:
    """Assert Pinecone's control-plane error shape and return the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status, body
    assert body["error"]["code"] == code, body
    assert set(body) == {"status", "error"}, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    return message


def _schema_body(fields: dict[str, Any], name: str = "s", **extra: Any) -> dict[str, Any]:
    return {"name": name, "schema": {"fields": fields}, **extra}


DENSE_FIELD = {"type": "dense_vector", "dimension": 8, "metric": "cosine"}


def _classic(**changes: Any) -> dict[str, Any]:
    """SDK9_DENSE with some keys changed; a key set to None is left out."""
    body = {**SDK9_DENSE, **changes}
    return {key: value for key, value in body.items() if value is not None}


def _serverless(**settings: Any) -> dict[str, Any]:
    return {"serverless": {"cloud": "aws", "region": "us-east-1", **settings}}


def _pod(**settings: Any) -> dict[str, Any]:
    return {"pod": {"environment": "us-east-1-aws", "pod_type": "p1.x1", **settings}}


def _metadata_schema(**fields: Any) -> dict[str, Any]:
    return {"fields": fields}


def _dedicated(**dedicated: Any) -> dict[str, Any]:
    manual = {"shards": 1, "replicas": 1}
    return {
        "mode": "Dedicated",
        "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": manual, **dedicated},
    }


def _fields(**fields: Any) -> dict[str, Any]:
    """A schema-dialect create body with these fields."""
    return _schema_body(fields)


def _with(**extra: Any) -> dict[str, Any]:
    """A valid schema-dialect create body with extra top-level keys."""
    return _schema_body({"v": DENSE_FIELD}, **extra)


# -- SDK 10.x ----------------------------------------------------------------------------------------------


def test_dense_index_created_and_described_through_sdk10(pc: Pinecone, server: BackgroundServer) -> None:
    created = pc.create_index(
        "movies",
        dimension=8,
        metric="cosine",
        spec=ServerlessSpec(cloud="gcp", region="us-central1"),
        deletion_protection="enabled",
        tags={"env": "dev", "team": "ml"},
    )
    assert created.name == "movies"
    index = pc.describe_index("movies")
    assert (index.dimension, index.metric, index.vector_type) == (8, "cosine", "dense")
    assert index.host == _host(server, "movies")
    assert index.status.ready is True and index.status.state == "Ready"
    assert index.deletion_protection == "enabled"
    assert index.tags == {"env": "dev", "team": "ml"}
    assert isinstance(index.deployment, ManagedDeployment)
    assert (index.deployment.cloud, index.deployment.region) == ("gcp", "us-central1")
    assert (index.spec.serverless.cloud, index.spec.serverless.region) == ("gcp", "us-central1")
    assert isinstance(index.read_capacity, ReadCapacityOnDemandResponse)
    assert index.read_capacity.status.state == "Ready"
    assert isinstance(index.schema.fields["_values"], DenseVectorField)


def test_sparse_index_through_sdk10(pc: Pinecone) -> None:
    pc.create_index("keywords", metric="dotproduct", vector_type="sparse", spec=SPEC)
    index = pc.describe_index("keywords")
    assert (index.vector_type, index.dimension, index.metric) == ("sparse", None, "dotproduct")
    assert isinstance(index.schema.fields["_sparse_values"], SparseVectorField)
    assert index.tags is None
    assert index.deletion_protection == "disabled"


def test_list_indexes_returns_every_kind_of_index(pc: Pinecone, classic: httpx.Client) -> None:
    """SDK 10.x silently drops any list entry it cannot parse, so every kind of index must parse."""
    pc.create_index("dense", dimension=8, spec=SPEC)
    pc.create_index("sparse", vector_type="sparse", spec=SPEC)
    pc.create_index("pod", dimension=8, spec=PodSpec(environment="us-east-1-aws"))
    pc.create_index(
        "dedicated",
        dimension=8,
        spec=ServerlessSpec(cloud="aws", region="us-east-1", read_capacity=DEDICATED),
    )
    pc.indexes.create(
        name="typed",
        schema={"fields": {"emb": DENSE_FIELD, "genre": {"type": "string", "filterable": True}}},
        tags={"a": "b"},
    )
    pc.indexes.create(
        name="hybrid",
        schema={"fields": {"emb": {**DENSE_FIELD, "metric": "dotproduct"}, "kw": {"type": "sparse_vector"}}},
    )
    for body in (SDK9_DENSE, SDK9_SPARSE, SDK9_POD):
        assert classic.post("/indexes", json=body).status_code == 201
    metadata = _classic(
        name="classic-meta", spec=_serverless(schema=_metadata_schema(g={"filterable": True}))
    )
    assert classic.post("/indexes", json=metadata).status_code == 201

    sdk10_names = ["dense", "sparse", "pod", "dedicated", "typed", "hybrid"]
    expected = sorted([*sdk10_names, "classic-dense", "classic-sparse", "classic-pod", "classic-meta"])
    assert sorted(index.name for index in pc.list_indexes()) == expected
    assert sorted(index.name for index in pc.indexes.list()) == expected
    assert pc.list_indexes().names() == expected


def test_dedicated_read_capacity_round_trip(pc: Pinecone) -> None:
    pc.create_index(
        "fast", dimension=8, spec=ServerlessSpec(cloud="aws", region="us-east-1", read_capacity=DEDICATED)
    )
    capacity = pc.describe_index("fast").read_capacity
    assert isinstance(capacity, ReadCapacityDedicatedResponse)
    assert capacity.dedicated.node_type == "t1" and capacity.dedicated.scaling == "Manual"
    assert capacity.dedicated.manual is not None
    assert (capacity.dedicated.manual.shards, capacity.dedicated.manual.replicas) == (2, 3)
    assert (capacity.status.state, capacity.status.current_shards, capacity.status.current_replicas) == (
        "Ready",
        2,
        3,
    )
    assert pc.describe_index("fast").spec.serverless.read_capacity["mode"] == "Dedicated"

    smaller = {
        "mode": "Dedicated",
        "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": {"shards": 1, "replicas": 0}},
    }
    configured = pc.configure_index("fast", read_capacity=smaller)
    assert isinstance(configured.read_capacity, ReadCapacityDedicatedResponse)
    assert configured.read_capacity.dedicated.node_type == "b1"
    assert configured.read_capacity.status.current_replicas == 0

    pc.configure_index("fast", read_capacity={"mode": "OnDemand"})
    assert isinstance(pc.describe_index("fast").read_capacity, ReadCapacityOnDemandResponse)


def test_dedicated_read_capacity_through_the_schema_api(pc: Pinecone) -> None:
    pc.indexes.create(name="ded", schema={"fields": {"v": DENSE_FIELD}}, read_capacity=DEDICATED)
    capacity = pc.indexes.describe("ded").read_capacity
    assert isinstance(capacity, ReadCapacityDedicatedResponse)
    assert capacity.status.current_shards == 2


def test_configure_merges_tags_and_toggles_deletion_protection(pc: Pinecone) -> None:
    pc.create_index("tagged", dimension=8, spec=SPEC, tags={"env": "dev", "team": "ml", "keep": "me"})
    configured = pc.configure_index(
        "tagged", deletion_protection="enabled", tags={"env": "prod", "team": "", "owner": "a.b c+d@e;f"}
    )
    assert configured.tags == {"env": "prod", "keep": "me", "owner": "a.b c+d@e;f"}
    assert configured.deletion_protection == "enabled"
    described = pc.describe_index("tagged")
    assert described.tags == {"env": "prod", "keep": "me", "owner": "a.b c+d@e;f"}
    assert described.deletion_protection == "enabled"

    pc.configure_index("tagged", deletion_protection="disabled", tags={"env": "", "owner": "", "keep": ""})
    described = pc.describe_index("tagged")
    assert described.tags is None
    assert described.deletion_protection == "disabled"
    assert (described.dimension, described.metric) == (8, "cosine")


def test_deletion_protection_blocks_delete(pc: Pinecone) -> None:
    pc.create_index("precious", dimension=8, spec=SPEC, deletion_protection="enabled")
    with pytest.raises(ForbiddenError) as raised:
        pc.delete_index("precious")
    assert raised.value.status_code == 403
    assert "Deletion protection is enabled" in str(raised.value)
    assert pc.has_index("precious")

    pc.configure_index("precious", deletion_protection="disabled")
    pc.delete_index("precious")
    assert not pc.has_index("precious")
    with pytest.raises(NotFoundError):
        pc.describe_index("precious")
    assert pc.list_indexes().names() == []


def test_duplicate_name_conflicts_and_keeps_the_original(pc: Pinecone) -> None:
    pc.create_index("twice", dimension=8, spec=SPEC)
    with pytest.raises(ConflictError) as raised:
        pc.create_index("twice", dimension=16, spec=SPEC)
    assert raised.value.status_code == 409
    assert pc.describe_index("twice").dimension == 8


def test_unknown_index_is_not_found(pc: Pinecone) -> None:
    with pytest.raises(NotFoundError):
        pc.describe_index("missing")
    with pytest.raises(NotFoundError):
        pc.configure_index("missing", deletion_protection="enabled")
    with pytest.raises(NotFoundError):
        pc.delete_index("missing")
    assert not pc.has_index("missing")


def test_pod_index_through_sdk10(pc: Pinecone) -> None:
    pc.create_index(
        "pods", dimension=8, spec=PodSpec(environment="us-east-1-aws", pod_type="p1.x1", shards=2)
    )
    index = pc.describe_index("pods")
    assert isinstance(index.deployment, PodDeployment)
    assert (index.deployment.environment, index.deployment.replicas, index.deployment.shards) == (
        "us-east-1-aws",
        1,
        2,
    )
    assert (index.spec.pod.pod_type, index.spec.pod.pods) == ("p1.x1", 2)
    assert index.read_capacity is None

    configured = pc.indexes.configure("pods", deployment={"replicas": 3, "pod_type": "p1.x2"})
    assert isinstance(configured.deployment, PodDeployment)
    assert (configured.deployment.replicas, configured.deployment.pod_type) == (3, "p1.x2")
    assert pc.describe_index("pods").spec.pod.pods == 6
    pc.configure_index("pods", replicas=1)  # the 9.x-style keywords SDK 10 still translates
    assert pc.describe_index("pods").spec.pod.pods == 2

    with pytest.raises(ApiError) as raised:
        pc.configure_index("pods", read_capacity={"mode": "OnDemand"})
    assert raised.value.status_code == 400


def test_pod_scaling_is_refused_for_serverless_indexes(pc: Pinecone) -> None:
    pc.create_index("serverless", dimension=8, spec=SPEC)
    with pytest.raises(ApiError) as raised:
        pc.indexes.configure("serverless", deployment={"replicas": 2})
    assert raised.value.status_code == 400
    assert "not pod-based" in str(raised.value)


def test_schema_fields_are_echoed(pc: Pinecone) -> None:
    fields = {
        "embedding": {"type": "dense_vector", "dimension": 4, "metric": "euclidean"},
        "genre": {"type": "string", "filterable": True},
        "year": {"type": "float", "filterable": True},
    }
    pc.indexes.create(
        name="typed",
        schema={"fields": fields},
        deployment={"deployment_type": "managed", "cloud": "azure", "region": "eastus2"},
    )
    index = pc.indexes.describe("typed")
    assert set(index.schema.fields) == {"embedding", "genre", "year"}
    assert isinstance(index.schema.fields["genre"], StringField) and index.schema.fields["genre"].filterable
    assert (index.dimension, index.metric, index.vector_type) == (4, "euclidean", "dense")
    assert index.spec.serverless.cloud == "azure"


def test_hybrid_schema_is_a_dense_dotproduct_index(pc: Pinecone) -> None:
    fields = {
        "emb": {"type": "dense_vector", "dimension": 8, "metric": "dotproduct"},
        "kw": {"type": "sparse_vector"},
    }
    pc.indexes.create(name="hybrid", schema={"fields": fields})
    index = pc.indexes.describe("hybrid")
    assert isinstance(index.schema.fields["kw"], SparseVectorField)
    assert (index.vector_type, index.metric, index.dimension) == ("dense", "dotproduct", 8)


def test_server_names_an_index_created_without_a_name(pc: Pinecone) -> None:
    created = pc.indexes.create(schema={"fields": {"v": DENSE_FIELD}})
    assert created.name.startswith("index-")
    assert pc.describe_index(created.name).dimension == 8


# -- classic dialect over raw HTTP --------------------------------------------------------------------------


def test_classic_dense_create_answers_the_2025_10_index_model(
    classic: httpx.Client, server: BackgroundServer
) -> None:
    response = classic.post("/indexes", json={**SDK9_DENSE, "tags": {"env": "dev"}})
    assert response.status_code == 201, response.text
    expected = {
        "name": "classic-dense",
        "dimension": 8,
        "metric": "cosine",
        "host": _host(server, "classic-dense"),
        "spec": {"serverless": {"cloud": "aws", "region": "us-east-1", "read_capacity": ON_DEMAND}},
        "status": READY,
        "vector_type": "dense",
        "deletion_protection": "disabled",
        "tags": {"env": "dev"},
    }
    assert response.json() == expected
    assert classic.get("/indexes/classic-dense").json() == expected
    assert classic.get("/indexes").json() == {"indexes": [expected]}


def test_classic_sparse_index_has_no_dimension(classic: httpx.Client) -> None:
    body = classic.post("/indexes", json=SDK9_SPARSE).json()
    assert "dimension" not in body
    assert (body["vector_type"], body["metric"]) == ("sparse", "dotproduct")
    without_metric = {key: value for key, value in SDK9_SPARSE.items() if key != "metric"}
    assert classic.post("/indexes", json={**without_metric, "name": "s2"}).json()["metric"] == "dotproduct"


def test_classic_pod_spec_creates_a_pod_index(
    classic: httpx.Client, schema: httpx.Client, server: BackgroundServer
) -> None:
    response = classic.post("/indexes", json=SDK9_POD)
    assert response.status_code == 201, response.text
    pod = {"environment": "us-east-1-aws", "pod_type": "p1.x1", "replicas": 2, "shards": 3, "pods": 6}
    assert response.json()["spec"] == {"pod": pod}
    assert server.state.catalog.get("classic-pod").is_pod

    with_config = {**SDK9_POD, "name": "pod-meta"}
    with_config["spec"] = {"pod": {**SDK9_POD["spec"]["pod"], "metadata_config": {"indexed": ["genre"]}}}
    assert classic.post("/indexes", json=with_config).json()["spec"]["pod"]["metadata_config"] == {
        "indexed": ["genre"]
    }

    described = schema.get("/indexes/pod-meta").json()
    assert described["deployment"] == {
        "deployment_type": "pod",
        "environment": "us-east-1-aws",
        "pod_type": "p1.x1",
        "replicas": 2,
        "shards": 3,
    }
    assert "read_capacity" not in described


def test_classic_read_capacity_and_metadata_schema_are_echoed(classic: httpx.Client) -> None:
    serverless = {
        "cloud": "aws",
        "region": "us-east-1",
        "read_capacity": DEDICATED,
        "schema": {"fields": {"genre": {"filterable": True}}},
    }
    body = classic.post("/indexes", json={**SDK9_DENSE, "spec": {"serverless": serverless}}).json()
    assert body["spec"]["serverless"]["read_capacity"] == {
        **DEDICATED,
        "status": {"state": "Ready", "current_shards": 2, "current_replicas": 3},
    }
    assert body["spec"]["serverless"]["schema"] == {"fields": {"genre": {"filterable": True}}}


def test_classic_configure(classic: httpx.Client) -> None:
    classic.post("/indexes", json=SDK9_DENSE)
    classic.post("/indexes", json=SDK9_POD)
    scaled = classic.patch(
        "/indexes/classic-pod", json={"spec": {"pod": {"replicas": 4, "pod_type": "p1.x2"}}}
    )
    assert scaled.status_code == 202, scaled.text
    assert scaled.json()["spec"]["pod"] == {
        "environment": "us-east-1-aws",
        "pod_type": "p1.x2",
        "replicas": 4,
        "shards": 3,
        "pods": 12,
    }

    capacity = classic.patch(
        "/indexes/classic-dense", json={"spec": {"serverless": {"read_capacity": DEDICATED}}}
    )
    assert capacity.status_code == 202, capacity.text
    assert capacity.json()["spec"]["serverless"]["read_capacity"]["status"]["current_replicas"] == 3

    tagged = classic.patch(
        "/indexes/classic-dense", json={"deletion_protection": "enabled", "tags": {"k": "v"}}
    )
    assert (tagged.json()["deletion_protection"], tagged.json()["tags"]) == ("enabled", {"k": "v"})


# -- schema dialect over raw HTTP ---------------------------------------------------------------------------


def test_schema_create_answers_the_2026_07_index_model(
    schema: httpx.Client, server: BackgroundServer
) -> None:
    response = schema.post("/indexes", json=SDK10_DENSE)
    assert response.status_code == 201, response.text
    expected = {
        "name": "schema-dense",
        "host": _host(server, "schema-dense"),
        "status": READY,
        "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
        "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 8, "metric": "cosine"}}},
        "deletion_protection": "enabled",
        "tags": {"env": "dev"},
        "read_capacity": ON_DEMAND,
    }
    assert response.json() == expected
    assert schema.get("/indexes/schema-dense").json() == expected


def test_schema_deployment_defaults_to_aws_us_east_1(schema: httpx.Client) -> None:
    body = schema.post("/indexes", json=_schema_body({"v": DENSE_FIELD})).json()
    assert body["deployment"] == {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}


def test_empty_tag_values_are_not_kept_at_creation(schema: httpx.Client, classic: httpx.Client) -> None:
    """An empty value unsets a tag (Pinecone's IndexTags rule), so it never shows up as a tag."""
    created = schema.post("/indexes", json=_with(tags={"gone": "", "kept": "x"})).json()
    assert created["tags"] == {"kept": "x"}
    untagged = classic.post("/indexes", json=_classic(name="untagged", tags={"gone": ""})).json()
    assert untagged["tags"] is None


def test_number_fields_are_reported_as_float(schema: httpx.Client) -> None:
    body = schema.post("/indexes", json=_schema_body({"v": DENSE_FIELD, "n": {"type": "number"}})).json()
    assert body["schema"]["fields"]["n"] == {"type": "float"}


# -- both dialects ------------------------------------------------------------------------------------------


def test_index_created_classic_is_managed_in_the_schema_dialect(
    classic: httpx.Client, schema: httpx.Client, pc: Pinecone
) -> None:
    classic.post("/indexes", json={**SDK9_DENSE, "deletion_protection": "enabled"})
    classic.post("/indexes", json=SDK9_SPARSE)
    described = schema.get("/indexes/classic-dense").json()
    assert described["schema"] == {
        "fields": {"_values": {"type": "dense_vector", "dimension": 8, "metric": "cosine"}}
    }
    assert schema.get("/indexes/classic-sparse").json()["schema"] == {
        "fields": {"_sparse_values": {"type": "sparse_vector"}}
    }

    assert schema.patch("/indexes/classic-dense", json={"deletion_protection": "disabled"}).status_code == 202
    assert classic.get("/indexes/classic-dense").json()["deletion_protection"] == "disabled"
    assert pc.describe_index("classic-sparse").vector_type == "sparse"
    pc.delete_index("classic-dense")
    assert classic.get("/indexes/classic-dense").status_code == 404


def test_index_created_in_schema_dialect_is_managed_classically(
    schema: httpx.Client, classic: httpx.Client
) -> None:
    schema.post("/indexes", json=SDK10_DENSE)
    described = classic.get("/indexes/schema-dense").json()
    assert (described["dimension"], described["metric"], described["vector_type"]) == (8, "cosine", "dense")
    assert described["spec"]["serverless"]["read_capacity"] == ON_DEMAND
    assert classic.delete("/indexes/schema-dense").status_code == 403
    classic.patch("/indexes/schema-dense", json={"deletion_protection": "disabled"})
    assert classic.delete("/indexes/schema-dense").status_code == 202
    assert schema.get("/indexes").json() == {"indexes": []}


@pytest.mark.parametrize(
    ("version", "dialect"),
    [
        (None, "classic"),
        ("2025-10", "classic"),
        ("2025-04", "classic"),
        ("2026-04", "classic"),  # the 2026-04 spec still has the classic index model
        ("banana", "classic"),
        ("2026-01.alpha", "schema"),
        ("2026-07", "schema"),
        ("2027-01", "schema"),
    ],
)
def test_dialect_is_chosen_by_the_api_version_header(
    server: BackgroundServer, version: str | None, dialect: str
) -> None:
    with _client(server, "2025-10") as classic:
        classic.post("/indexes", json=SDK9_DENSE)
    with _client(server, version) as client:
        body = client.get("/indexes/classic-dense").json()
    assert ("spec" in body, "schema" in body) == (dialect == "classic", dialect == "schema")


def test_host_follows_the_host_header(classic: httpx.Client, schema: httpx.Client) -> None:
    classic.post("/indexes", json=SDK9_DENSE)
    headers = {"Host": "pinecone.local:9999"}
    assert (
        classic.get("/indexes/classic-dense", headers=headers).json()["host"]
        == "http://pinecone.local:9999/data/classic-dense"
    )
    assert (
        schema.get("/indexes", headers=headers).json()["indexes"][0]["host"]
        == "http://pinecone.local:9999/data/classic-dense"
    )


# -- errors -------------------------------------------------------------------------------------------------

CODES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 422: "UNPROCESSABLE_ENTITY"}


def _bad(case: str, status: int, body: Any) -> Any:
    """One refused request: its id, the status Pinecone answers, and the body."""
    return pytest.param(body, status, CODES[status], id=case)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        _bad("bad-name", 400, _classic(name="Bad_Name")),
        _bad("leading-hyphen", 400, _classic(name="-dash")),
        _bad("long-name", 400, _classic(name="x" * 46)),
        _bad("dimension-0", 400, _classic(dimension=0)),
        _bad("dimension-too-big", 400, _classic(dimension=20_001)),
        _bad("dimension-string", 422, _classic(dimension="8")),
        _bad("dimension-float", 422, _classic(dimension=8.5)),
        _bad("dense-without-dimension", 400, {**SDK9_DENSE, "dimension": None}),
        _bad("bad-metric", 400, _classic(metric="manhattan")),
        _bad("bad-vector-type", 400, _classic(vector_type="hybrid")),
        _bad("sparse-cosine", 400, {**SDK9_SPARSE, "metric": "cosine"}),
        _bad("sparse-with-dimension", 400, {**SDK9_SPARSE, "dimension": 8}),
        _bad("bad-protection", 400, _classic(deletion_protection="maybe")),
        _bad("bad-tag-key", 400, _classic(tags={"bad key": "v"})),
        _bad("bad-tag-value", 400, _classic(tags={"k": "no/slash"})),
        _bad("no-name", 422, _classic(name=None)),
        _bad("not-an-object", 422, [SDK9_DENSE]),
        _bad("no-spec", 422, _classic(spec=None)),
        _bad("empty-spec", 422, _classic(spec={})),
        _bad("no-region", 422, _classic(spec={"serverless": {"cloud": "aws"}})),
        _bad("unknown-cloud", 404, _classic(spec=_serverless(cloud="ibm"))),
        _bad("byoc", 400, _classic(spec={"byoc": {"environment": "e"}})),
        _bad("source-collection", 400, _classic(spec=_serverless(source_collection="c"))),
        _bad("bad-pod-type", 400, _classic(spec=_pod(pod_type="p9.x1"))),
        _bad("zero-replicas", 400, _classic(spec=_pod(replicas=0))),
        _bad("pod-without-environment", 422, _classic(spec={"pod": {"pod_type": "p1.x1"}})),
        _bad("bad-read-capacity-mode", 400, _classic(spec=_serverless(read_capacity={"mode": "Turbo"}))),
        _bad("bad-node-type", 400, _classic(spec=_serverless(read_capacity=_dedicated(node_type="x9")))),
        _bad("auto-scaling", 400, _classic(spec=_serverless(read_capacity=_dedicated(scaling="Auto")))),
        _bad("zero-shards", 400, _classic(spec=_serverless(read_capacity=_dedicated(manual={"shards": 0})))),
        _bad(
            "not-filterable",
            400,
            _classic(spec=_serverless(schema=_metadata_schema(g={"filterable": False}))),
        ),
        _bad(
            "reserved-metadata",
            400,
            _classic(spec=_serverless(schema=_metadata_schema(_values={"filterable": True}))),
        ),
    ],
)
def test_invalid_classic_create_is_refused(classic: httpx.Client, body: Any, status: int, code: str) -> None:
    _error(classic.post("/indexes", json=body), status, code)
    assert classic.get("/indexes").json() == {"indexes": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        _bad("no-schema", 422, {"name": "s"}),
        _bad("no-fields", 400, _fields()),
        _bad("no-dimension", 422, _fields(v={"type": "dense_vector", "metric": "cosine"})),
        _bad("no-metric", 422, _fields(v={"type": "dense_vector", "dimension": 8})),
        _bad("dimension-0", 400, _fields(v={**DENSE_FIELD, "dimension": 0})),
        _bad("bad-metric", 400, _fields(v={**DENSE_FIELD, "metric": "hamming"})),
        _bad("sparse-dimension", 400, _fields(v={"type": "sparse_vector", "dimension": 8})),
        _bad("sparse-cosine", 400, _fields(v={"type": "sparse_vector", "metric": "cosine"})),
        _bad("two-dense", 400, _fields(a=DENSE_FIELD, b=DENSE_FIELD)),
        _bad("hybrid-cosine", 400, _fields(a=DENSE_FIELD, b={"type": "sparse_vector"})),
        _bad("no-vector-field", 400, _fields(g={"type": "string", "filterable": True})),
        _bad("reserved-id", 400, _fields(_id=DENSE_FIELD)),
        _bad("reserved-values", 400, _fields(_values={"type": "sparse_vector"})),
        _bad("unknown-type", 422, _fields(v=DENSE_FIELD, t={"type": "geo"})),
        _bad("untyped", 422, _fields(v=DENSE_FIELD, t={"filterable": True})),
        _bad("filterable-string", 422, _fields(v=DENSE_FIELD, t={"type": "string", "filterable": "yes"})),
        _bad("semantic-text", 400, _fields(v=DENSE_FIELD, t={"type": "semantic_text", "model": "m"})),
        _bad("bad-name", 400, _schema_body({"v": DENSE_FIELD}, name="Bad")),
        _bad("bad-deployment-type", 422, _with(deployment={"deployment_type": "serverless"})),
        _bad("no-region", 422, _with(deployment={"deployment_type": "managed", "cloud": "aws"})),
        _bad("byoc", 400, _with(deployment={"deployment_type": "byoc", "environment": "e"})),
        _bad(
            "pod-read-capacity",
            400,
            _with(deployment={"deployment_type": "pod", **_pod()["pod"]}, read_capacity=DEDICATED),
        ),
        _bad("dedicated-without-manual", 400, _with(read_capacity=_dedicated(manual=None))),
        _bad("source-collection", 400, _with(source_collection="c")),
        _bad("tags-not-object", 422, _with(tags=["a"])),
    ],
)
def test_invalid_schema_create_is_refused(schema: httpx.Client, body: Any, status: int, code: str) -> None:
    _error(schema.post("/indexes", json=body), status, code)
    assert schema.get("/indexes").json() == {"indexes": []}


@pytest.mark.parametrize("version", ["2025-10", "2026-07"])
def test_malformed_json_is_a_bad_request(server: BackgroundServer, version: str) -> None:
    with _client(server, version) as client:
        response = client.post("/indexes", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert "JSON" in _error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("version", ["2025-10", "2026-07", None])
def test_unknown_index_error_body(server: BackgroundServer, version: str | None) -> None:
    expected = {"status": 404, "error": {"code": "NOT_FOUND", "message": "Index nope not found."}}
    with _client(server, version) as client:
        assert client.get("/indexes/nope").json() == expected
        assert client.patch("/indexes/nope", json={"tags": {"a": "b"}}).json() == expected
        assert client.delete("/indexes/nope").json() == expected


def test_duplicate_error_body(classic: httpx.Client, schema: httpx.Client) -> None:
    classic.post("/indexes", json=SDK9_DENSE)
    for client, body in (
        (classic, SDK9_DENSE),
        (schema, _schema_body({"v": DENSE_FIELD}, name="classic-dense")),
    ):
        response = client.post("/indexes", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "ALREADY_EXISTS"


def test_deletion_protection_error_body_and_delete_response(classic: httpx.Client) -> None:
    classic.post("/indexes", json={**SDK9_DENSE, "deletion_protection": "enabled"})
    message = "Deletion protection is enabled for this index. Disable deletion protection before retrying."
    refused = classic.delete("/indexes/classic-dense")
    assert refused.json() == {"status": 403, "error": {"code": "FORBIDDEN", "message": message}}
    classic.patch("/indexes/classic-dense", json={"deletion_protection": "disabled"})
    deleted = classic.delete("/indexes/classic-dense")
    assert (deleted.status_code, deleted.content) == (202, b"")


def _configure(case: str, version: str, index: str, status: int, body: Any) -> Any:
    return pytest.param(version, index, body, status, CODES[status], id=case)


@pytest.mark.parametrize(
    ("version", "index", "body", "status", "code"),
    [
        _configure("dimension", "2025-10", "classic-dense", 400, {"dimension": 16}),
        _configure("metric", "2026-07", "classic-dense", 400, {"metric": "euclidean"}),
        _configure("vector-type", "2025-10", "classic-dense", 400, {"vector_type": "sparse"}),
        _configure("pod-on-serverless", "2025-10", "classic-dense", 400, {"spec": {"pod": {"replicas": 2}}}),
        _configure(
            "serverless-on-pod",
            "2025-10",
            "classic-pod",
            400,
            {"spec": {"serverless": {"read_capacity": {"mode": "OnDemand"}}}},
        ),
        _configure(
            "byoc",
            "2025-10",
            "classic-dense",
            400,
            {"spec": {"byoc": {"read_capacity": {"mode": "OnDemand"}}}},
        ),
        _configure("pod-shards", "2025-10", "classic-pod", 400, {"spec": {"pod": {"shards": 9}}}),
        _configure("zero-replicas", "2025-10", "classic-pod", 400, {"spec": {"pod": {"replicas": 0}}}),
        _configure("bad-pod-type", "2025-10", "classic-pod", 400, {"spec": {"pod": {"pod_type": "x"}}}),
        _configure("embed", "2025-10", "classic-dense", 400, {"embed": {"model": "m"}}),
        _configure(
            "schema", "2026-07", "classic-dense", 400, {"schema": {"fields": {"g": {"type": "string"}}}}
        ),
        _configure(
            "deployment-type", "2026-07", "classic-pod", 400, {"deployment": {"deployment_type": "pod"}}
        ),
        _configure(
            "deployment-on-serverless", "2026-07", "classic-dense", 400, {"deployment": {"replicas": 2}}
        ),
        _configure(
            "read-capacity-on-pod", "2026-07", "classic-pod", 400, {"read_capacity": {"mode": "OnDemand"}}
        ),
        _configure(
            "bad-read-capacity", "2026-07", "classic-dense", 400, {"read_capacity": {"mode": "Sometimes"}}
        ),
        _configure("bad-protection", "2026-07", "classic-dense", 400, {"deletion_protection": "maybe"}),
        _configure("tags-not-object", "2026-07", "classic-dense", 422, {"tags": ["a"]}),
        _configure("tag-not-string", "2025-10", "classic-dense", 400, {"tags": {"k": 1}}),
        _configure(
            "too-many-tags", "2025-10", "classic-dense", 400, {"tags": {f"k{i}": "v" for i in range(21)}}
        ),
    ],
)
def test_invalid_configure_is_refused_and_changes_nothing(
    server: BackgroundServer,
    classic: httpx.Client,
    version: str,
    index: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    classic.post("/indexes", json=SDK9_DENSE)
    classic.post("/indexes", json=SDK9_POD)
    before = classic.get(f"/indexes/{index}").json()
    with _client(server, version) as client:
        _error(client.patch(f"/indexes/{index}", json=body), status, code)
    assert classic.get(f"/indexes/{index}").json() == before
