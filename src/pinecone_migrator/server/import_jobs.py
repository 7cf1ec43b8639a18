"""Bulk import jobs: their state, the registry that persists them, and the run that fills an index.

An import runs as an asyncio task on the server's loop: reading and converting Parquet happens in worker
threads, and each converted batch is written through the index's store like any upsert, so requests keep
being served meanwhile. Pinecone's rules are kept: target namespaces must not exist yet (the import fails
otherwise); ``abort`` (the default) fails at the first bad file or row and writes nothing more, ``continue``
skips bad files and rows and imports the rest. An import that a server stop interrupted is shown as failed
afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from ..stores.files.validation import Problem
from .catalog import IndexDefinition
from .context import ServerState
from .errors import not_found
from .import_source import FileRejected, SourceError, open_source, read_batches
from .jobs import PROGRESS_SAVE_SECONDS, JsonFile, pause_between_batches, utc_now

log = logging.getLogger("pinecone_migrator.server.imports")

PENDING, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "Pending",
    "InProgress",
    "Completed",
    "Failed",
    "Cancelled",
)
FINISHED = (COMPLETED, FAILED, CANCELLED)
ERROR_MODES = ("abort", "continue")
INTERRUPTED = "The server stopped before this import finished; start it again."


@dataclass
class ImportJob:
    id: str
    seq: int
    index: str
    index_created_at: str  # an import belongs to this incarnation of the index name
    uri: str
    error_mode: str
    integration_id: str | None = None
    status: str = PENDING
    created_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    percent_complete: float = 0.0
    records_imported: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def finish(self, status: str, error: str | None = None) -> None:
        self.status = status
        self.error = error
        self.finished_at = utc_now()
        if status == COMPLETED:
            self.percent_complete = 100.0

    def render(self) -> dict[str, Any]:
        """``ImportModel`` of the data-plane spec (camelCase); absent fields are left out."""
        body: dict[str, Any] = {
            "id": self.id,
            "uri": self.uri,
            "status": self.status,
            "createdAt": self.created_at,
            "percentComplete": self.percent_complete,
            "recordsImported": self.records_imported,
        }
        if self.finished_at is not None:
            body["finishedAt"] = self.finished_at
        if self.error is not None:
            body["error"] = self.error
        return body


class ImportRegistry:
    """Every import of the server, their tasks, and their file in the data directory."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        data_dir = state.config.data_dir
        self.file = JsonFile(None if data_dir is None else data_dir / "imports.json")
        self.jobs: dict[str, ImportJob] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.saved_at = 0.0
        for entry in self.file.load().get("imports", []):
            job = ImportJob(**entry)
            if not job.finished:
                job.finish(FAILED, INTERRUPTED)
            self.jobs[job.id] = job
        self.next_seq = max((job.seq for job in self.jobs.values()), default=0) + 1

    def save(self, progress: bool = False) -> None:
        now = time.monotonic()
        if progress and now - self.saved_at < PROGRESS_SAVE_SECONDS:
            return
        self.saved_at = now
        self.file.save({"version": 1, "imports": [asdict(job) for job in self.jobs.values()]})

    def of_index(self, definition: IndexDefinition) -> list[ImportJob]:
        jobs = [
            job
            for job in self.jobs.values()
            if job.index == definition.name and job.index_created_at == definition.created_at
        ]
        return sorted(jobs, key=lambda job: job.seq)

    def get(self, definition: IndexDefinition, import_id: str) -> ImportJob:
        job = self.jobs.get(import_id)
        if job is None or job.index != definition.name or job.index_created_at != definition.created_at:
            raise not_found(f"Import {import_id} not found.")
        return job

    def start(
        self, definition: IndexDefinition, uri: str, error_mode: str, integration: str | None
    ) -> ImportJob:
        job = ImportJob(
            str(self.next_seq),
            self.next_seq,
            definition.name,
            definition.created_at,
            uri,
            error_mode,
            integration,
        )
        self.next_seq += 1
        self.jobs[job.id] = job
        self.save()
        task = asyncio.create_task(ImportRun(self, job).run(), name=f"import-{job.id}")
        self.tasks[job.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(job.id, None))
        return job

    def cancel(self, job: ImportJob) -> None:
        """Cancelled at once: the run checks the status before every write, so nothing is written after."""
        if not job.finished:
            job.finish(CANCELLED)
            self.save()

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.save()


class ImportRun:
    """One import from start to a final status."""

    def __init__(self, registry: ImportRegistry, job: ImportJob) -> None:
        self.registry = registry
        self.job = job
        self.abort = job.error_mode == "abort"

    def fail(self, message: str) -> None:
        if not self.job.finished:
            self.job.finish(FAILED, message)

    def definition(self) -> IndexDefinition | None:
        """The target index, unless it was deleted (or replaced by another of the same name) meanwhile."""
        catalog = self.registry.state.catalog
        if catalog.exists(self.job.index):
            definition = catalog.get(self.job.index)
            if definition.created_at == self.job.index_created_at:
                return definition
        self.fail(f"Index {self.job.index} was deleted during the import.")
        return None

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            self.fail(INTERRUPTED)
            self.registry.save()
            raise
        except Exception as error:
            log.exception("import %s failed", self.job.id)
            self.fail(f"Internal error of the local server: {error}")
        self.registry.save()

    async def _run(self) -> None:
        job = self.job
        definition = self.definition()
        if job.finished or definition is None:
            return
        job.status = IN_PROGRESS
        self.registry.save()
        try:
            source = await asyncio.to_thread(open_source, job.uri, definition)
        except SourceError as error:
            self.fail(str(error))
            return
        definition = self.definition()
        if job.finished or definition is None:
            return
        data = self.registry.state.catalog.data(definition.name)
        existing = [ns for ns in source.namespaces if data.namespace_exists(ns)]
        if existing:
            self.fail(
                f"Namespace(s) {', '.join(existing)} already exist in index {definition.name}: an import "
                "only writes into new namespaces. Delete them or import into another index."
            )
            return
        fatal = source.problems if self.abort else [p for p in source.problems if p.file is None]
        if fatal:
            more = source.problem_count - 1
            self.fail(_describe(fatal[0]) + (f" ({more} more problem(s) in the source)" if more > 0 else ""))
            return
        skipped = {p.file for p in source.problems if p.row is None}
        skipped_rows: dict[str, set[int]] = {}
        for problem in source.problems:
            if problem.row is not None and problem.file is not None:
                skipped_rows.setdefault(problem.file, set()).add(problem.row)
        total = max(source.total_rows, 1)
        done = 0
        faults = self.registry.state.config.faults
        for file in source.files:
            if file.name in skipped or file.namespace in skipped:
                done += file.rows
                continue
            batches = read_batches(source, file, definition, skipped_rows.get(file.name, set()))
            read = 0
            try:
                while True:
                    try:
                        batch = await asyncio.to_thread(next, batches, None)
                    except FileRejected as rejected:
                        if self.abort:
                            self.fail(_describe(rejected.problem))
                            return
                        break
                    if job.finished or batch is None:
                        break
                    if batch.problems and self.abort:
                        self.fail(_describe(batch.problems[0]))
                        return
                    definition = self.definition()
                    if definition is None:
                        return
                    if batch.records:
                        delay = faults.visibility_delay_ms / 1000.0
                        data = self.registry.state.catalog.data(definition.name)
                        data.submit(("upsert", file.namespace, batch.records), delay_seconds=delay)
                        job.records_imported += len(batch.records)
                    read += batch.rows
                    job.percent_complete = min(99.99, round(100.0 * (done + read) / total, 2))
                    self.registry.save(progress=True)
                    await pause_between_batches(faults)
                    if job.finished:
                        return
            finally:
                with contextlib.suppress(
                    ValueError
                ):  # still running in its thread when the task is cancelled
                    batches.close()
            if job.finished:
                return
            done += file.rows
        job.finish(COMPLETED)


def _describe(problem: Problem) -> str:
    return f"{problem.where()}: {problem.message}"
