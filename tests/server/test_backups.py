"""Backups and restores through the official SDK 10.x against a server process."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pinecone import ApiError, ConflictError, NotFoundError, Pinecone

from ..helpers import as_plain, dense_index, random_records, sparse_index
from ..serverproc import ServerProcess

SDK9_POD = {
    "name": "pod-index",
    "metric": "euclidean",
    "vector_type": "dense",
    "deletion_protection": "disabled",
    "dimension": 4,
    "spec": {"pod": {"environment": "us-east-1-aws", "pod_type": "p1.x1", "replicas": 1, "shards": 1}},
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(None) as running:
        yield running


@pytest.fixture
def pc(server: ServerProcess) -> Iterator[Pinecone]:
    client = Pinecone(api_key="k", host=server.url)
    yield client
    httpx.post(f"{server.url}/_admin/faults/reset")
    for backup in client.list_backups(limit=100):
        client.delete_backup(backup_id=backup.backup_id)
    for description in client.list_indexes():
        client.configure_index(description.name, deletion_protection="disabled")
        client.delete_index(description.name)


def snapshot(index: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of every namespace, as plain comparable dicts."""
    everything: dict[str, dict[str, dict[str, Any]]] = {}
    for namespace in index.describe_index_stats().namespaces:
        ns = "" if namespace == "__default__" else namespace
        ids = [item.id for page in index.list(namespace=ns) for item in page.vectors]
        records: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 200):
            fetched = index.fetch(ids=ids[start : start + 200], namespace=ns).vectors
            records.update({key: as_plain(vector) for key, vector in fetched.items()})
        everything[namespace] = records
    return everything


def wait_for_restore(pc: Pinecone, job_id: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while (job := pc.describe_restore_job(job_id=job_id)).status == "Pending":
        assert time.monotonic() < deadline, "restore job still pending"
        time.sleep(0.05)
    return job


def test_backup_then_restore_gives_the_backed_up_records(pc: Pinecone) -> None:
    source = dense_index(pc, "bk-source", dimension=16, metric="dotproduct")
    pc.configure_index("bk-source", tags={"team": "search"})
    rng = random.Random(1)
    source.upsert(vectors=random_records(1_500, 16, rng, sparse=True), namespace="", batch_size=500)
    source.upsert(vectors=random_records(40, 16, rng, prefix="b-"), namespace="books")
    source.create_namespace(name="empty-but-created")
    before = snapshot(source)

    backup = pc.create_backup(index_name="bk-source", backup_name="nightly", description="before reindexing")
    source.upsert(vectors=random_records(5, 16, rng, prefix="later-"), namespace="books")  # after the backup
    source.delete(ids=["rec-00000"])

    assert backup.status == "Ready"
    assert (backup.name, backup.description) == ("nightly", "before reindexing")
    assert backup.source_index_name == "bk-source" and backup.source_index_id
    assert (backup.record_count, backup.namespace_count) == (1_540, 3)
    assert backup.size_bytes is not None and backup.size_bytes > 1_540 * 16 * 4
    assert backup.dense_dimension == 16
    assert (backup.cloud, backup.region) == ("aws", "us-east-1")
    assert backup.tags == {"team": "search"}
    assert pc.describe_backup(backup_id=backup.backup_id).to_dict() == backup.to_dict()

    created = pc.create_index_from_backup(
        name="bk-restored",
        backup_id=backup.backup_id,
        tags={"env": "test"},
        deletion_protection="enabled",
        timeout=-1,
    )
    job = wait_for_restore(pc, created.restore_job_id)

    assert job.status == "Completed" and job.percent_complete == 100
    assert job.backup_id == backup.backup_id and job.target_index_name == "bk-restored"
    assert job.target_index_id == created.index_id and job.completed_at is not None
    assert created.restore_job_id in [j.restore_job_id for j in pc.list_restore_jobs()]
    restored_description = pc.describe_index("bk-restored")
    assert restored_description.status.ready
    assert (restored_description.dimension, restored_description.metric) == (16, "dotproduct")
    assert restored_description.vector_type == "dense"
    assert restored_description.deletion_protection == "enabled"
    assert restored_description.tags == {"env": "test"}
    restored = pc.index(host=restored_description.host)
    assert snapshot(restored) == before
    assert before["empty-but-created"] == {}  # an explicitly created, empty namespace is restored too


def test_sparse_index_restores_with_blocking_call_and_backup_tags(pc: Pinecone) -> None:
    source = sparse_index(pc, "bk-sparse")
    pc.configure_index("bk-sparse", tags={"kind": "sparse"})
    records = [
        {
            "id": f"s{i}",
            "sparse_values": {"indices": [i, i + 7], "values": [0.25, -1.5]},
            "metadata": {"i": i},
        }
        for i in range(300)
    ]
    source.upsert(vectors=records, namespace="docs")
    before = snapshot(source)
    backup = pc.create_backup(index_name="bk-sparse")
    assert backup.name is None and backup.dense_dimension is None

    restored = pc.create_index_from_backup(name="bk-sparse-copy", backup_id=backup.backup_id)

    assert restored.status.ready and restored.vector_type == "sparse" and restored.metric == "dotproduct"
    assert restored.tags == {"kind": "sparse"}  # the backup's tags when none are given
    assert restored.deletion_protection == "disabled"
    assert snapshot(pc.index(host=restored.host)) == before


def test_restore_reports_progress_and_the_index_is_not_ready_meanwhile(
    pc: Pinecone, server: ServerProcess
) -> None:
    source = dense_index(pc, "bk-slow", dimension=4)
    source.upsert(vectors=random_records(3_500, 4, random.Random(2)), batch_size=1_000)
    backup = pc.create_backup(index_name="bk-slow", backup_name="slow")
    httpx.put(f"{server.url}/_admin/faults", json={"background_batch_delay_ms": 300}).raise_for_status()

    job_id = pc.create_index_from_backup(
        name="bk-slow-copy", backup_id=backup.backup_id, timeout=-1
    ).restore_job_id

    described = pc.describe_index("bk-slow-copy")
    assert not described.status.ready and described.status.state == "Initializing"
    deadline = time.monotonic() + 10
    while not (job := pc.describe_restore_job(job_id=job_id)).percent_complete:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job.status == "Pending" and 0 < job.percent_complete < 100
    with pytest.raises(ApiError) as busy:
        pc.delete_backup(backup_id=backup.backup_id)
    assert busy.value.status_code == 412
    assert wait_for_restore(pc, job_id).status == "Completed"
    assert pc.describe_index("bk-slow-copy").status.ready
    restored = pc.index(host=pc.describe_index("bk-slow-copy").host)
    assert restored.describe_index_stats().total_vector_count == 3_500


def test_list_describe_and_delete_backups(pc: Pinecone) -> None:
    dense_index(pc, "bk-a", dimension=4).upsert(vectors=[{"id": "x", "values": [1, 2, 3, 4]}])
    dense_index(pc, "bk-b", dimension=4)
    a1 = pc.create_backup(index_name="bk-a", backup_name="a1")
    b1 = pc.create_backup(index_name="bk-b", backup_name="b1")
    a2 = pc.create_backup(index_name="bk-a", backup_name="a2")

    assert [b.backup_id for b in pc.list_backups()] == [a1.backup_id, b1.backup_id, a2.backup_id]
    assert [b.backup_id for b in pc.list_backups(index_name="bk-a")] == [a1.backup_id, a2.backup_id]
    first = pc.list_backups(limit=1)
    assert first.names() == ["a1"] and first.pagination is not None
    # SDK 10 sends the token without the limit: the token keeps the page size.
    second = pc.list_backups(pagination_token=first.pagination.next)
    assert second.names() == ["b1"] and second.pagination is not None
    third = pc.list_backups(pagination_token=second.pagination.next)
    assert third.names() == ["a2"] and third.pagination is None
    with pytest.raises(ApiError) as bad_token:
        pc.list_backups(pagination_token="not-a-token")
    assert bad_token.value.status_code == 400
    with pytest.raises(ApiError) as restore_page:
        pc.list_restore_jobs(limit=101)
    assert restore_page.value.status_code == 400
    assert pc.describe_backup(backup_id=b1.backup_id).record_count == 0

    pc.delete_backup(backup_id=a1.backup_id)

    with pytest.raises(NotFoundError):
        pc.describe_backup(backup_id=a1.backup_id)
    assert [b.name for b in pc.list_backups(index_name="bk-a")] == ["a2"]


def test_errors_for_unknown_ids_names_and_pod_indexes(pc: Pinecone, server: ServerProcess) -> None:
    dense_index(pc, "bk-err", dimension=4)
    backup = pc.create_backup(index_name="bk-err")
    with pytest.raises(NotFoundError):
        pc.describe_backup(backup_id="no-such-backup")
    with pytest.raises(NotFoundError):
        pc.delete_backup(backup_id="no-such-backup")
    with pytest.raises(NotFoundError):
        pc.create_backup(index_name="no-such-index")
    with pytest.raises(NotFoundError):
        pc.list_backups(index_name="no-such-index")
    with pytest.raises(NotFoundError):
        pc.create_index_from_backup(name="anything", backup_id="no-such-backup", timeout=-1)
    with pytest.raises(NotFoundError):
        pc.describe_restore_job(job_id="no-such-job")
    with pytest.raises(ConflictError):
        pc.create_index_from_backup(name="bk-err", backup_id=backup.backup_id, timeout=-1)
    with pytest.raises(ApiError) as bad_name:
        pc.create_index_from_backup(name="Not_Valid", backup_id=backup.backup_id, timeout=-1)
    assert bad_name.value.status_code == 400

    created = httpx.post(
        f"{server.url}/indexes", json=SDK9_POD, headers={"X-Pinecone-Api-Version": "2025-10"}
    )
    assert created.status_code == 201, created.text
    with pytest.raises(ApiError) as pod:
        pc.create_backup(index_name="pod-index")
    assert pod.value.status_code == 400 and "pod-based" in str(pod.value)


def test_classic_dialect_renders_dimension_and_metric(pc: Pinecone, server: ServerProcess) -> None:
    dense_index(pc, "bk-classic", dimension=4, metric="euclidean")
    backup_id = pc.create_backup(index_name="bk-classic").backup_id
    classic = httpx.get(f"{server.url}/backups/{backup_id}", headers={"X-Pinecone-Api-Version": "2025-10"})
    body = classic.json()
    assert (body["dimension"], body["metric"], body["status"]) == (4, "euclidean", "Ready")
    assert "schema" not in body


def test_backups_and_restore_jobs_survive_a_restart(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        pc = Pinecone(api_key="k", host=server.url)
        source = dense_index(pc, "bk-disk", dimension=8)
        source.upsert(vectors=random_records(50, 8, random.Random(3)), namespace="ns")
        before = snapshot(source)
        backup = pc.create_backup(index_name="bk-disk", backup_name="kept")
        pc.delete_index("bk-disk")
    with ServerProcess(tmp_path) as server:
        pc = Pinecone(api_key="k", host=server.url)
        assert pc.describe_backup(backup_id=backup.backup_id).to_dict() == backup.to_dict()
        job_id = pc.create_index_from_backup(
            name="bk-disk", backup_id=backup.backup_id, timeout=-1
        ).restore_job_id
        assert wait_for_restore(pc, job_id).status == "Completed"
        restored = pc.index(host=pc.describe_index("bk-disk").host)
        assert snapshot(restored) == before
    with ServerProcess(tmp_path) as server:
        pc = Pinecone(api_key="k", host=server.url)
        assert pc.describe_restore_job(job_id=job_id).status == "Completed"
