"""Dedicated read nodes hold one namespace (Pinecone's DRN guide: "Max namespaces per index: 1")."""

from __future__ import annotations

import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors.exceptions import ApiError as SdkApiError

DEDICATED = {
    "mode": "Dedicated",
    "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": {"shards": 1, "replicas": 1}},
}
VECTOR = {"id": "a", "values": [0.1, 0.2, 0.3, 0.4]}


def _index(pc: Pinecone, name: str, read_capacity: dict[str, object] | None) -> object:
    spec = ServerlessSpec(cloud="aws", region="us-east-1", read_capacity=read_capacity)
    pc.create_index(name, dimension=4, metric="cosine", spec=spec)
    return pc.index(host=pc.describe_index(name).host)


def test_a_dedicated_index_refuses_a_second_namespace(pc: Pinecone) -> None:
    index = _index(pc, "drn", DEDICATED)
    index.upsert(vectors=[VECTOR], namespace="first")  # type: ignore[attr-defined]
    index.upsert(vectors=[{**VECTOR, "id": "b"}], namespace="first")  # type: ignore[attr-defined]
    with pytest.raises(SdkApiError) as refused:
        index.upsert(vectors=[VECTOR], namespace="second")  # type: ignore[attr-defined]
    assert refused.value.status_code == 400
    assert "dedicated read nodes" in str(refused.value) and "'first'" in str(refused.value)
    with pytest.raises(SdkApiError):
        index.upsert(vectors=[VECTOR])  # type: ignore[attr-defined]  # the default namespace is a second one
    with pytest.raises(SdkApiError) as created:
        index.create_namespace(name="third")  # type: ignore[attr-defined]
    assert created.value.status_code == 400
    stats = index.describe_index_stats()  # type: ignore[attr-defined]
    assert {name: ns.vector_count for name, ns in stats.namespaces.items()} == {"first": 2}


def test_an_emptied_namespace_frees_the_dedicated_index_for_another(pc: Pinecone) -> None:
    index = _index(pc, "drn", DEDICATED)
    index.upsert(vectors=[VECTOR], namespace="first")  # type: ignore[attr-defined]
    index.delete(ids=["a"], namespace="first")  # type: ignore[attr-defined]
    index.upsert(vectors=[VECTOR], namespace="second")  # type: ignore[attr-defined]
    stats = index.describe_index_stats()  # type: ignore[attr-defined]
    assert {name: ns.vector_count for name, ns in stats.namespaces.items()} == {"second": 1}


def test_an_on_demand_index_holds_many_namespaces(pc: Pinecone) -> None:
    index = _index(pc, "many", None)
    for namespace in ("first", "second", "third"):
        index.upsert(vectors=[VECTOR], namespace=namespace)  # type: ignore[attr-defined]
    assert len(index.describe_index_stats().namespaces) == 3  # type: ignore[attr-defined]


def test_a_dedicated_integrated_index_refuses_a_second_namespace_of_text_records(pc: Pinecone) -> None:
    embed = {"model": "llama-text-embed-v2", "field_map": {"text": "chunk_text"}, "dimension": 384}
    pc.create_index_for_model(
        name="drn-text", cloud="aws", region="us-east-1", embed=embed, read_capacity=DEDICATED
    )
    index = pc.index(host=pc.describe_index("drn-text").host)
    index.upsert_records(namespace="first", records=[{"_id": "a", "chunk_text": "apples grow on trees"}])
    with pytest.raises(SdkApiError) as refused:
        index.upsert_records(namespace="second", records=[{"_id": "b", "chunk_text": "pears too"}])
    assert refused.value.status_code == 400 and "dedicated read nodes" in str(refused.value)
    stats = index.describe_index_stats()
    assert {name: ns.vector_count for name, ns in stats.namespaces.items()} == {"first": 1}


def test_a_dedicated_index_takes_no_bulk_import_and_no_backup(pc: Pinecone) -> None:
    """Pinecone's DRN guide: "Dedicated indexes do not support backups or bulk imports"."""
    index = _index(pc, "drn", DEDICATED)
    with pytest.raises(SdkApiError) as imported:
        index.start_import(uri="s3://bucket/prefix/")  # type: ignore[attr-defined]
    assert imported.value.status_code == 400 and "bulk imports" in str(imported.value)
    with pytest.raises(SdkApiError) as backed_up:
        pc.create_backup(index_name="drn", backup_name="nightly")
    assert backed_up.value.status_code == 400 and "backups" in str(backed_up.value)
    assert list(pc.list_backups(index_name="drn")) == []
