"""An integrated-embedding index migrated between two local servers (two projects), with the CLI.

The target is created for the same model, metric, dimension, text field and read/write parameters; the
records arrive as the source's vectors and metadata (the text included), not embedded again; verify and sync
work on them; and a text search on the target goes through the (stand-in) model and finds the record.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pinecone import Pinecone
from pinecone.models.indexes.schema import SemanticTextField

from ..cliproc import SOURCE_KEY, TARGET_KEY, contents, migrate
from ..files.clirun import export_command, import_command
from ..files.clirun import run as run_files
from ..helpers import SPEC
from ..serverproc import ServerProcess

Servers = tuple[ServerProcess, ServerProcess]
ROUTE = ("--source-index", "src", "--target-index", "dst")
EMBED = {
    "model": "llama-text-embed-v2",
    "field_map": {"text": "chunk_text"},
    "metric": "dotproduct",
    "dimension": 384,
    "read_parameters": {"input_type": "query", "truncate": "END"},
    "write_parameters": {"input_type": "passage"},
}
OWN_VECTOR = [((n * 7) % 11 - 5) / 8 for n in range(384)]
TOPICS = ("harbour cranes", "alpine lakes", "jazz trumpets", "tax forms", "orchard pests", "glass kilns")


def text_of(n: int) -> str:
    return f"note {n} about {TOPICS[n % len(TOPICS)]} and item{n}"


def upsert_texts(index: Any, namespace: str, numbers: range) -> None:
    records = [{"_id": f"t{n}", "chunk_text": text_of(n), "n": n} for n in numbers]
    for start in range(0, len(records), 96):
        index.upsert_records(namespace=namespace, records=records[start : start + 96])


def backup_command(source: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    argv, env = export_command(source, tmp_path, *args)
    return [*argv[:3], "backup", *argv[4:]], env


def restore_command(target: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    argv, env = import_command(target, tmp_path, *args)
    return [*argv[:3], "restore", *argv[4:]], env


def run(servers: Servers, tmp_path: Path, verb: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = migrate(*servers, tmp_path, *ROUTE, *args, verb=verb)
    assert isinstance(result, subprocess.CompletedProcess)
    return result


@pytest.fixture
def source_index(servers: Servers) -> Any:
    pc = Pinecone(api_key=SOURCE_KEY, host=servers[0].url)
    pc.create_index_for_model(name="src", cloud="aws", region="us-east-1", embed=EMBED)
    index = pc.index(host=pc.describe_index("src").host)
    upsert_texts(index, "__default__", range(0, 150))
    upsert_texts(index, "tenant-b", range(150, 250))
    # A vector written as a vector: its own values, not what the model would make of its text.
    index.upsert(vectors=[{"id": "own", "values": OWN_VECTOR, "metadata": {"chunk_text": text_of(0)}}])
    return index


def test_an_integrated_index_migrates_with_its_embedding(
    servers: Servers, tmp_path: Path, source_index: Any
) -> None:
    planned = run(servers, tmp_path, "plan")
    assert planned.returncode == 0, planned.stderr
    assert "integrated embedding: model llama-text-embed-v2, text field chunk_text" in planned.stdout

    result = run(servers, tmp_path, "migrate")
    assert result.returncode == 0, result.stderr

    source_pc = Pinecone(api_key=SOURCE_KEY, host=servers[0].url)
    target_pc = Pinecone(api_key=TARGET_KEY, host=servers[1].url)
    made = target_pc.describe_index("dst")
    field = made.schema.fields["chunk_text"]
    assert isinstance(field, SemanticTextField)
    assert (field.model, field.metric) == ("llama-text-embed-v2", "dotproduct")
    assert field.read_parameters == EMBED["read_parameters"]
    assert field.write_parameters == EMBED["write_parameters"]
    assert made.embed.field_map == {"text": "chunk_text"}
    target_index = target_pc.index(host=made.host)
    assert target_index.describe_index_stats().dimension == 384

    copied = contents(target_pc, "dst")
    assert copied == contents(source_pc, "src") and len(copied) == 251
    assert copied["__default__/own"]["values"] == OWN_VECTOR  # copied, not embedded again from its text
    assert copied["tenant-b/t200"]["metadata"] == {"chunk_text": text_of(200), "n": 200.0}

    verified = run(servers, tmp_path, "verify", "--level", "full")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "EQUAL" in verified.stdout

    found = target_index.search(namespace="tenant-b", top_k=3, inputs={"text": text_of(217)})
    assert found.result.hits[0].id == "t217"
    assert found.usage.embed_total_tokens is not None and found.usage.embed_total_tokens > 0


def test_sync_carries_new_text_records_to_an_integrated_target(
    servers: Servers, tmp_path: Path, source_index: Any
) -> None:
    assert run(servers, tmp_path, "migrate").returncode == 0
    upsert_texts(source_index, "tenant-b", range(250, 260))
    synced = run(servers, tmp_path, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    target_pc = Pinecone(api_key=TARGET_KEY, host=servers[1].url)
    source_pc = Pinecone(api_key=SOURCE_KEY, host=servers[0].url)
    assert contents(target_pc, "dst") == contents(source_pc, "src")
    target_index = target_pc.index(host=target_pc.describe_index("dst").host)
    found = target_index.search(namespace="tenant-b", top_k=1, inputs={"text": text_of(255)})
    assert found.result.hits[0].id == "t255"


def test_a_sparse_model_index_migrates(servers: Servers, tmp_path: Path) -> None:
    source_pc = Pinecone(api_key=SOURCE_KEY, host=servers[0].url)
    embed = {"model": "pinecone-sparse-english-v0", "field_map": {"text": "passage"}}
    source_pc.create_index_for_model(name="src", cloud="aws", region="us-east-1", embed=embed)
    index = source_pc.index(host=source_pc.describe_index("src").host)
    records = [{"_id": f"p{n}", "passage": text_of(n)} for n in range(60)]
    index.upsert_records(namespace="docs", records=records)

    planned = run(servers, tmp_path, "plan")
    expected_plan = "(sparse, metric dotproduct, integrated embedding: model pinecone-sparse-english-v0"
    assert expected_plan in planned.stdout
    result = run(servers, tmp_path, "migrate")
    assert result.returncode == 0, result.stderr

    target_pc = Pinecone(api_key=TARGET_KEY, host=servers[1].url)
    made = target_pc.describe_index("dst")
    assert made.embed.model == "pinecone-sparse-english-v0" and made.embed.field_map == {"text": "passage"}
    target_index = target_pc.index(host=made.host)
    assert target_index.describe_index_stats().vector_type == "sparse"
    assert contents(target_pc, "dst") == contents(source_pc, "src")
    found = target_index.search(namespace="docs", top_k=1, inputs={"text": text_of(33)})
    assert found.result.hits[0].id == "p33"


def test_a_backup_to_files_restores_an_index_for_the_same_model(
    servers: Servers, tmp_path: Path, source_index: Any
) -> None:
    source, target = servers
    folder = tmp_path / "backup"
    made = run_files(backup_command(source, tmp_path, "--source-index", "src", "--to", str(folder)))
    assert made.returncode == 0, made.stderr
    restored = run_files(restore_command(target, tmp_path, "--from", str(folder), "--target-index", "back"))
    assert restored.returncode == 0, restored.stderr
    target_pc = Pinecone(api_key=TARGET_KEY, host=target.url)
    back = target_pc.describe_index("back")
    assert back.embed.model == EMBED["model"] and back.embed.field_map == EMBED["field_map"]
    assert back.embed.read_parameters == EMBED["read_parameters"]
    source_pc = Pinecone(api_key=SOURCE_KEY, host=source.url)
    assert contents(target_pc, "back") == contents(source_pc, "src")
    found = target_pc.index(host=back.host).search(
        namespace="tenant-b", top_k=1, inputs={"text": text_of(201)}
    )
    assert found.result.hits[0].id == "t201"


def test_an_existing_plain_target_gets_the_vectors_and_a_warning_about_text_search(
    servers: Servers, tmp_path: Path, source_index: Any
) -> None:
    target_pc = Pinecone(api_key=TARGET_KEY, host=servers[1].url)
    target_pc.create_index(name="dst", dimension=384, metric="dotproduct", spec=SPEC)
    result = run(servers, tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert "the source embeds text with llama-text-embed-v2" in result.stderr
    assert "text search (search_records) on the target will not work" in result.stderr
    source_pc = Pinecone(api_key=SOURCE_KEY, host=servers[0].url)
    assert contents(target_pc, "dst") == contents(source_pc, "src")
