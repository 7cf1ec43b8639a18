"""Integrated-embedding indexes on the local server: create-for-model, describe and configure in both
control-plane dialects, and the Records API (upsert_records, search_records), through the official SDKs.

The server embeds text with a deterministic stand-in for the hosted models; these tests check that text goes
through it (a record's vector is the stand-in's vector of its text) and that searches by text find it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import Pinecone
from pinecone.errors.exceptions import ApiError

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.embedding import STAND_IN, embed_dense, embed_sparse
from pinecone_migrator.server.runner import BackgroundServer

from ..helpers import dense_index

SDK9_PYTHON = Path(os.environ.get("PINECONE_MIGRATOR_SDK9_PYTHON", "/work/main/.venv-sdk9/bin/python"))
SDK9_SCENARIO = Path(__file__).with_name("sdk9_integrated_scenario.py")
TEXTS = {
    "r1": "The quick brown fox jumps over the lazy dog",
    "r2": "Vector databases store embeddings for semantic search",
    "r3": "A recipe for sourdough bread with a crisp crust",
    "r4": "Migrating an index keeps every record exactly",
}


def for_model(pc: Pinecone, name: str, **embed: Any) -> Any:
    embed.setdefault("field_map", {"text": "chunk_text"})
    pc.create_index_for_model(name=name, cloud="aws", region="us-east-1", embed=embed)
    return pc.index(host=pc.describe_index(name).host)


def load(index: Any, namespace: str = "docs") -> None:
    records = [{"_id": rid, "chunk_text": text, "n": i} for i, (rid, text) in enumerate(TEXTS.items())]
    index.upsert_records(namespace=namespace, records=records)


def test_create_for_model_describes_the_embedding_and_the_stand_in(pc: Pinecone) -> None:
    for_model(
        pc,
        "books",
        model="llama-text-embed-v2",
        metric="dotproduct",
        dimension=384,
        read_parameters={"input_type": "query"},
        write_parameters={"input_type": "passage", "truncate": "END"},
    )
    described = pc.describe_index("books")
    field = described.schema.fields["chunk_text"]
    assert (field.model, field.metric) == ("llama-text-embed-v2", "dotproduct")
    assert field.read_parameters == {"input_type": "query"}
    assert field.write_parameters == {"input_type": "passage", "truncate": "END"}
    assert STAND_IN in (field.description or "")
    assert described.embed.field_map == {"text": "chunk_text"}
    stats = pc.index(host=described.host).describe_index_stats()
    assert (stats.dimension, stats.metric) == (384, "dotproduct")
    assert "books" in pc.list_indexes().names()


def test_a_model_s_defaults_fill_what_the_request_leaves_out(pc: Pinecone) -> None:
    index = for_model(pc, "e5", model="multilingual-e5-large")
    assert pc.describe_index("e5").schema.fields["chunk_text"].metric == "cosine"
    assert index.describe_index_stats().dimension == 1024


@pytest.mark.parametrize(
    ("embed", "complaint"),
    [
        ({"model": "text-embedding-3-small"}, "not a supported embedding model"),
        ({"model": "multilingual-e5-large", "dimension": 768}, "dimension 768"),
        ({"model": "llama-text-embed-v2", "metric": "euclidean"}, "metric 'euclidean'"),
        ({"model": "pinecone-sparse-english-v0", "metric": "cosine"}, "metric 'cosine'"),
    ],
)
def test_what_pinecone_does_not_host_is_refused(pc: Pinecone, embed: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ApiError) as refused:
        for_model(pc, "refused", **embed)
    assert refused.value.status_code == 400 and complaint in str(refused.value)
    assert "refused" not in pc.list_indexes().names()


def test_upserted_text_is_embedded_and_kept_as_metadata(pc: Pinecone) -> None:
    index = for_model(pc, "books", model="llama-text-embed-v2", dimension=512)
    load(index)
    index.upsert_records(namespace="docs", records=[{"id": "twin", "chunk_text": TEXTS["r2"]}])
    fetched = index.fetch(ids=[*TEXTS, "twin"], namespace="docs").vectors
    assert fetched["r2"].metadata == {"chunk_text": TEXTS["r2"], "n": 1.0}
    for rid, text in TEXTS.items():
        stand_in = embed_dense("llama-text-embed-v2", 512, text)
        assert np.array_equal(np.asarray(fetched[rid].values, dtype=np.float32), stand_in)
    assert fetched["twin"].values == fetched["r2"].values
    assert fetched["r1"].values != fetched["r2"].values
    assert index.describe_index_stats().namespaces["docs"].vector_count == 5


def test_a_text_search_finds_the_record_with_that_text(pc: Pinecone) -> None:
    index = for_model(pc, "books", model="multilingual-e5-large")
    load(index)
    for rid, text in TEXTS.items():
        found = index.search(namespace="docs", top_k=2, inputs={"text": text})
        assert found.result.hits[0].id == rid
        assert found.result.hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert found.result.hits[1].score < 0.9
    near = index.search(namespace="docs", top_k=1, inputs={"text": "semantic search with vector databases"})
    assert near.result.hits[0].id == "r2"
    assert near.usage.embed_total_tokens == 5


def test_search_options_fields_filter_id_and_vector(pc: Pinecone) -> None:
    index = for_model(pc, "books", model="multilingual-e5-large")
    load(index)
    picked = index.search(namespace="docs", top_k=4, inputs={"text": TEXTS["r1"]}, fields=["n"])
    assert picked.result.hits[0].fields == {"n": 0.0}
    filtered = index.search(
        namespace="docs", top_k=4, inputs={"text": TEXTS["r1"]}, filter={"n": {"$gte": 2}}
    )
    assert [hit.id for hit in filtered.result.hits] == ["r3", "r4"] or {
        hit.id for hit in filtered.result.hits
    } == {"r3", "r4"}
    by_id = index.search(namespace="docs", top_k=1, id="r3")
    assert by_id.result.hits[0].id == "r3"
    vector = [float(v) for v in embed_dense("multilingual-e5-large", 1024, TEXTS["r4"])]
    by_vector = index.search(namespace="docs", top_k=1, vector=vector)
    assert by_vector.result.hits[0].id == "r4"


def test_records_api_refuses_what_pinecone_refuses(pc: Pinecone, server: BackgroundServer) -> None:
    plain = dense_index(pc, "plain", dimension=8)
    with pytest.raises(ApiError) as refused:
        plain.upsert_records(namespace="ns", records=[{"_id": "a", "chunk_text": "text"}])
    assert refused.value.status_code == 400 and "no integrated embedding" in str(refused.value)
    index = for_model(pc, "books", model="multilingual-e5-large")
    with pytest.raises(ApiError) as no_text:
        index.upsert_records(namespace="ns", records=[{"_id": "a", "other": "text"}])
    assert no_text.value.status_code == 400 and "chunk_text" in str(no_text.value)
    too_many = [{"_id": f"r{i}", "chunk_text": "t"} for i in range(97)]
    with pytest.raises(ApiError) as batch:
        index.upsert_records(namespace="ns", records=too_many)
    assert batch.value.status_code == 400 and "96" in str(batch.value)
    with pytest.raises(ApiError) as rerank:
        index.search(
            namespace="ns",
            top_k=1,
            inputs={"text": "t"},
            rerank={"model": "bge-reranker-v2-m3", "rank_fields": ["chunk_text"]},
        )
    assert rerank.value.status_code == 400
    host = pc.describe_index("books").host
    raw = httpx.post(
        f"{host}/records/namespaces/ns/upsert",
        content=b'{"_id": "a", "chunk_text": "fine"}\nnot json\n',
        headers={"Content-Type": "application/x-ndjson", "Api-Key": "k"},
    )
    assert raw.status_code == 400 and "Line 2" in raw.json()["message"]


def test_a_sparse_model_embeds_to_sparse_vectors(pc: Pinecone) -> None:
    index = for_model(pc, "keywords", model="pinecone-sparse-english-v0")
    assert pc.describe_index("keywords").schema.fields["chunk_text"].metric == "dotproduct"
    assert index.describe_index_stats().metric == "dotproduct"
    load(index)
    fetched = index.fetch(ids=["r3"], namespace="docs").vectors["r3"]
    indices, values = embed_sparse("pinecone-sparse-english-v0", TEXTS["r3"])
    assert list(fetched.sparse_values.indices) == indices.tolist()
    assert np.allclose(fetched.sparse_values.values, values)
    found = index.search(namespace="docs", top_k=1, inputs={"text": "sourdough bread"})
    assert found.result.hits[0].id == "r3"
    both = index.search(
        namespace="docs",
        top_k=4,
        inputs={"text": "the fox and the bread"},
        match_terms={"strategy": "all", "terms": ["lazy dog"]},
    )
    assert [hit.id for hit in both.result.hits] == ["r1"]


def test_configure_changes_parameters_never_the_model(pc: Pinecone) -> None:
    for_model(pc, "books", model="multilingual-e5-large", write_parameters={"input_type": "passage"})
    change = {"type": "semantic_text", "read_parameters": {"input_type": "query", "truncate": "NONE"}}
    pc.indexes.configure("books", schema={"fields": {"chunk_text": change}})
    field = pc.describe_index("books").schema.fields["chunk_text"]
    assert field.read_parameters == {"input_type": "query", "truncate": "NONE"}
    assert field.write_parameters == {"input_type": "passage"}
    other_model = {"type": "semantic_text", "model": "llama-text-embed-v2"}
    with pytest.raises(ApiError) as refused:
        pc.indexes.configure("books", schema={"fields": {"chunk_text": other_model}})
    assert refused.value.status_code == 400 and "cannot be changed" in str(refused.value)


@pytest.mark.sdk9
@pytest.mark.skipif(not SDK9_PYTHON.exists(), reason=f"no SDK 9.x environment at {SDK9_PYTHON}")
def test_sdk9_creates_describes_configures_and_searches(server: BackgroundServer, pc: Pinecone) -> None:
    for_model(pc, "made-by-sdk10", model="llama-text-embed-v2", dimension=768, metric="dotproduct")
    result = subprocess.run(
        [str(SDK9_PYTHON), str(SDK9_SCENARIO), server.url],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"SDK 9 scenario failed:\n{result.stdout}\n{result.stderr}"
    assert "all steps passed with pinecone 9." in result.stdout
    # what SDK 9 made and configured, as SDK 10 sees it
    field = pc.describe_index("made-by-sdk9").schema.fields["body"]
    assert (field.model, field.metric) == ("multilingual-e5-large", "cosine")
    assert field.read_parameters == {"input_type": "query", "truncate": "END"}


def control(server: BackgroundServer, method: str, path: str, version: str, body: Any) -> httpx.Response:
    headers = {"Api-Key": "k", "X-Pinecone-Api-Version": version}
    return httpx.request(method, f"{server.url}{path}", json=body, headers=headers)


def test_the_spec_s_flat_create_for_model_body(server: BackgroundServer, pc: Pinecone) -> None:
    body = {
        "name": "flat",
        "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
        "field": "content",
        "model": "llama-text-embed-v2",
        "metric": "dotproduct",
        "read_parameters": {"input_type": "query"},
    }
    created = control(server, "POST", "/indexes/create-for-model", "2026-07", body)
    assert created.status_code == 201, created.text
    assert created.json()["schema"]["fields"]["content"]["type"] == "semantic_text"
    field = pc.describe_index("flat").schema.fields["content"]
    assert (field.model, field.metric, field.read_parameters) == (
        "llama-text-embed-v2",
        "dotproduct",
        {"input_type": "query"},
    )


def test_classic_configure_turns_a_fitting_index_into_an_integrated_one(
    server: BackgroundServer, pc: Pinecone
) -> None:
    dense_index(pc, "fits", dimension=1024)
    dense_index(pc, "narrow", dimension=8)
    embed = {"model": "multilingual-e5-large", "field_map": {"text": "body"}}
    turned = control(server, "PATCH", "/indexes/fits", "2025-10", {"embed": embed})
    assert turned.status_code == 202, turned.text
    assert turned.json()["embed"]["field_map"] == {"text": "body"}
    assert pc.describe_index("fits").schema.fields["body"].model == "multilingual-e5-large"
    index = pc.index(host=pc.describe_index("fits").host)
    index.upsert_records(namespace="ns", records=[{"_id": "a", "body": "now searchable by text"}])
    assert index.search(namespace="ns", top_k=1, inputs={"text": "searchable"}).result.hits[0].id == "a"
    refused = control(server, "PATCH", "/indexes/narrow", "2025-10", {"embed": embed})
    assert refused.status_code == 400 and "dimension 8" in refused.json()["error"]["message"]


def test_the_embedding_survives_a_restart_and_a_backup_restore(tmp_path: Path) -> None:
    config = ServerConfig(port=0, data_dir=tmp_path / "data")
    with BackgroundServer(config) as first:
        pc = Pinecone(api_key="k", host=first.url)
        load(for_model(pc, "books", model="llama-text-embed-v2", dimension=768))
    with BackgroundServer(config) as again:
        pc = Pinecone(api_key="k", host=again.url)
        assert pc.describe_index("books").embed.model == "llama-text-embed-v2"
        backup = pc.create_backup(index_name="books")
        pc.create_index_from_backup(name="restored", backup_id=backup.backup_id)
        restored = pc.describe_index("restored")
        assert restored.schema.fields["chunk_text"].model == "llama-text-embed-v2"
        index = pc.index(host=restored.host)
        assert index.describe_index_stats().dimension == 768
        found = index.search(namespace="docs", top_k=1, inputs={"text": TEXTS["r3"]})
        assert found.result.hits[0].id == "r3"
