"""Backups and restore jobs: their state, the registry that persists them and the run that restores.

A backup is a point-in-time copy of an index's store (every namespace, taken with SQLite's online backup
while no write can interleave) plus the index's definition; it is ``Ready`` as soon as it is created. A
restore job writes a backup's records into a new index batch by batch through the store's upsert path,
reporting ``percent_complete``; the catalog describes that index as not ready until the job completes. A
restore job a server stop interrupted starts again when the server does.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import control_schema
from .catalog import IndexDefinition
from .context import ServerState
from .errors import failed_precondition, not_found
from .jobs import PROGRESS_SAVE_SECONDS, JsonFile, pause_between_batches, utc_now
from .store import IndexData, StoredRecord
from .validation import MAX_UPSERT_RECORDS

log = logging.getLogger("pinecone_migrator.server.backups")

READY = "Ready"
PENDING, COMPLETED, FAILED = "Pending", "Completed", "Failed"


def index_id(definition: IndexDefinition) -> str:
    """A stable ID for one incarnation of an index name (the catalog keeps none)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pinecone-local/{definition.name}/{definition.created_at}"))


@dataclass
class Backup:
    backup_id: str
    seq: int
    source_index_name: str
    source_index_id: str
    source: dict[str, Any]  # the index's definition when it was backed up
    name: str | None
    description: str | None
    record_count: int
    namespace_count: int
    size_bytes: int
    status: str = READY
    created_at: str = field(default_factory=utc_now)

    @property
    def definition(self) -> IndexDefinition:
        return IndexDefinition(**self.source)

    def render(self, schema_dialect: bool) -> dict[str, Any]:
        """``BackupModel``: with the index's ``schema`` (2026-07) or ``dimension``/``metric`` (classic)."""
        definition = self.definition
        body: dict[str, Any] = {
            "backup_id": self.backup_id,
            "source_index_name": self.source_index_name,
            "source_index_id": self.source_index_id,
            "status": self.status,
            "cloud": definition.deployment.get("cloud", ""),
            "region": definition.deployment.get("region", ""),
            "record_count": self.record_count,
            "namespace_count": self.namespace_count,
            "size_bytes": self.size_bytes,
            "tags": definition.tags,
            "created_at": self.created_at,
        }
        if self.name is not None:
            body["name"] = self.name
        if self.description is not None:
            body["description"] = self.description
        if schema_dialect:
            body["schema"] = control_schema.render(definition, "")["schema"]
        else:
            body["metric"] = definition.metric
            if definition.dimension is not None:
                body["dimension"] = definition.dimension
        return body


@dataclass
class RestoreJob:
    restore_job_id: str
    seq: int
    backup_id: str
    target_index_name: str
    target_index_id: str
    target_created_at: str
    status: str = PENDING  # Pinecone has no in-progress value: a running restore is Pending
    created_at: str = field(default_factory=utc_now)
    completed_at: str | None = None
    percent_complete: float = 0.0

    def finish(self, status: str) -> None:
        self.status = status
        self.completed_at = utc_now()
        if status == COMPLETED:
            self.percent_complete = 100.0

    def render(self) -> dict[str, Any]:
        body = {
            key: value
            for key, value in asdict(self).items()
            if key not in ("seq", "target_created_at") and value is not None
        }
        return body


class BackupRegistry:
    """Every backup (and its snapshot store) and restore job of the server."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        data_dir = state.config.data_dir
        self.directory: Path | None = None if data_dir is None else data_dir / "backups"
        self.file = JsonFile(None if self.directory is None else self.directory / "backups.json")
        document = self.file.load()
        self.backups = {b["backup_id"]: Backup(**b) for b in document.get("backups", [])}
        self.restores = {r["restore_job_id"]: RestoreJob(**r) for r in document.get("restore_jobs", [])}
        self.stores: dict[str, IndexData] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        seqs = [b.seq for b in self.backups.values()] + [r.seq for r in self.restores.values()]
        self.next_seq = max(seqs, default=0) + 1
        self.saved_at = 0.0

    def _seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1

    def save(self, progress: bool = False) -> None:
        now = time.monotonic()
        if progress and now - self.saved_at < PROGRESS_SAVE_SECONDS:
            return
        self.saved_at = now
        self.file.save(
            {
                "version": 1,
                "backups": [asdict(b) for b in self.backups.values()],
                "restore_jobs": [asdict(r) for r in self.restores.values()],
            }
        )

    def _store_dir(self, backup_id: str) -> Path | None:
        return None if self.directory is None else self.directory / backup_id

    def store(self, backup: Backup) -> IndexData:
        data = self.stores.get(backup.backup_id)
        if data is None:
            definition = backup.definition
            directory = self._store_dir(backup.backup_id)
            data = IndexData(definition.vector_type, definition.dimension, definition.metric, directory)
            self.stores[backup.backup_id] = data
        return data

    def get(self, backup_id: str) -> Backup:
        backup = self.backups.get(backup_id)
        if backup is None:
            raise not_found(f"Backup {backup_id} not found.")
        return backup

    def create(self, definition: IndexDefinition, name: str | None, description: str | None) -> Backup:
        backup_id = str(uuid.uuid4())
        snapshot = IndexData(
            definition.vector_type, definition.dimension, definition.metric, self._store_dir(backup_id)
        )
        self.state.catalog.data(definition.name).copy_into(snapshot)
        self.stores[backup_id] = snapshot
        backup = Backup(
            backup_id=backup_id,
            seq=self._seq(),
            source_index_name=definition.name,
            source_index_id=index_id(definition),
            source=asdict(definition),
            name=name,
            description=description,
            record_count=snapshot.total_count(),
            namespace_count=len(snapshot.namespace_counts()),
            size_bytes=snapshot.stored_bytes(),
        )
        self.backups[backup_id] = backup
        self.save()
        return backup

    def delete(self, backup: Backup) -> None:
        if any(r.backup_id == backup.backup_id and r.status == PENDING for r in self.restores.values()):
            raise failed_precondition(
                f"Backup {backup.backup_id} has a pending restore job; delete it once the restore completes.",
                status=412,
            )
        data = self.stores.pop(backup.backup_id, None)
        if data is not None:
            data.close()
        del self.backups[backup.backup_id]
        self.save()
        directory = self._store_dir(backup.backup_id)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def restore(self, backup: Backup, target: IndexDefinition) -> RestoreJob:
        job = RestoreJob(
            str(uuid.uuid4()), self._seq(), backup.backup_id, target.name, index_id(target), target.created_at
        )
        self.restores[job.restore_job_id] = job
        self.save()
        self._start(job)
        return job

    def _start(self, job: RestoreJob) -> None:
        self.state.catalog.initializing.add(job.target_index_name)
        task = asyncio.create_task(RestoreRun(self, job).run(), name=f"restore-{job.restore_job_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        for job in self.restores.values():
            if job.status == PENDING:
                self._start(job)  # from the start again: upserts of the same records are idempotent
        yield
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.save()
        for data in self.stores.values():
            data.close()
        self.stores.clear()


class RestoreRun:
    """Writes a backup's namespaces and records into the restored index, batch by batch."""

    def __init__(self, registry: BackupRegistry, job: RestoreJob) -> None:
        self.registry = registry
        self.job = job
        self.catalog = registry.state.catalog

    def target(self) -> IndexData | None:
        """The restored index's store, unless the index was deleted meanwhile (the job then fails)."""
        name = self.job.target_index_name
        if self.catalog.exists(name) and self.catalog.get(name).created_at == self.job.target_created_at:
            return self.catalog.data(name)
        self.job.finish(FAILED)
        return None

    async def run(self) -> None:
        try:
            await self._fill()
        except asyncio.CancelledError:
            self.registry.save()
            raise
        except Exception:
            log.exception("restore job %s failed", self.job.restore_job_id)
            self.job.finish(FAILED)
        if self.job.status != PENDING:
            self.catalog.initializing.discard(self.job.target_index_name)
        self.registry.save()

    async def _fill(self) -> None:
        source = self.registry.store(self.registry.get(self.job.backup_id))
        total = max(source.total_count(), 1)
        done = 0
        for namespace, count in source.namespace_counts().items():
            schema = source.namespace_schema(namespace)
            target = self.target()
            if target is None:
                return
            if count == 0 or schema is not None:
                target.submit(("create_namespace", namespace, schema))
            records = list(source.scan(namespace))
            for start in range(0, len(records), MAX_UPSERT_RECORDS):
                batch: list[StoredRecord] = records[start : start + MAX_UPSERT_RECORDS]
                target = self.target()
                if target is None:
                    return
                target.submit(("upsert", namespace, batch))
                done += len(batch)
                self.job.percent_complete = min(99.99, round(100.0 * done / total, 2))
                self.registry.save(progress=True)
                await pause_between_batches(self.registry.state.config.faults)
        if self.target() is not None:
            self.job.finish(COMPLETED)
