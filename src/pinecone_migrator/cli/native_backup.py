"""`backup --native` and `restore --native`: Pinecone's own backups of a serverless index, followed to the
end.

A native backup stays inside its project (Pinecone's rule); restoring creates a new index from it. This
tool waits for both, shows their progress, and checks a restore by its record count against the backup's
(Pinecone gives no digest of a backup, so a record-by-record proof needs a backup to files instead).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click
import orjson

from ..errors import UserError
from .common import EXIT_DIFFERENT, EXIT_INCOMPLETE, EXIT_INTERRUPTED, api_key, user_errors
from .display import install_stop_handlers

BACKUP_DONE = ("Ready", "Failed")
COUNT_WAIT_SECONDS = 120.0  # counts lag behind writes: how long a restore's count may take to settle


def native_backup(options: dict[str, Any]) -> None:
    from ..stores.pinecone import PineconeStore, Side
    from ..stores.pinecone_jobs import PineconeJobs, follow

    key_env = options["source_api_key_env"]
    key = api_key(key_env, "source")
    stop = threading.Event()
    install_stop_handlers(stop)
    with user_errors():
        store = PineconeStore(
            options["source_index"], key, options["source_host"], side=Side("source", key_env)
        )
        if not store.exists():
            raise store.missing()
        jobs = PineconeJobs(store)
        started = jobs.create_backup(options["backup_name"], options["description"])
        click.echo(f"started native backup {started.id} of {options['source_index']!r}", err=True)
        job = follow(lambda: jobs.describe_backup(started.id), BACKUP_DONE, stop, _log_status("backup"))
    _report(options, {"backup": job.to_json()})
    records = "?" if job.records is None else f"{job.records:,}"
    click.echo(f"native backup {job.id}: {job.status}, {records} records")
    if job.status != "Ready":
        sys.exit(EXIT_INTERRUPTED if stop.is_set() else EXIT_INCOMPLETE)
    click.echo(
        f"restore it with: pinecone-migrator restore --native --from {job.id} --target-index NEW-INDEX"
    )


def native_restore(options: dict[str, Any]) -> None:
    from ..stores.pinecone import PineconeStore, Side
    from ..stores.pinecone_jobs import RESTORE_DONE, PineconeJobs, follow

    key_env = options["target_api_key_env"] or "PINECONE_API_KEY"
    key = api_key(key_env, "target")
    backup_id = options["from_"]
    stop = threading.Event()
    install_stop_handlers(stop)
    with user_errors():
        store = PineconeStore(
            options["target_index"], key, options["target_host"], side=Side("target", key_env)
        )
        if store.exists():
            raise UserError(
                f"The index {options['target_index']!r} exists; a native restore creates a new index. "
                "Choose another --target-index."
            )
        jobs = PineconeJobs(store)
        backup = jobs.describe_backup(backup_id)
        job_id = jobs.restore(backup_id, deletion_protection=options["target_deletion_protection"], tags=None)
        click.echo(
            f"started restore job {job_id}: backup {backup_id} -> {options['target_index']!r}", err=True
        )
        job = follow(lambda: jobs.describe_restore(job_id), RESTORE_DONE, stop, _log_status("restore"))
        body: dict[str, Any] = {"backup": backup.to_json(), "restore": job.to_json()}
        problems = []
        if job.status == "Completed" and options["verify"] != "off" and backup.records is not None:
            found = _settled_count(store, backup.records, stop)
            body["restored_records"] = found
            if found != backup.records:
                problems.append(f"the restored index holds {found:,} records, the backup {backup.records:,}")
    _report(options, body)
    click.echo(f"restore job {job.id}: {job.status}" + (f", error: {job.error}" if job.error else ""))
    if job.status != "Completed":
        sys.exit(EXIT_INTERRUPTED if stop.is_set() else EXIT_INCOMPLETE)
    for problem in problems:
        click.echo(f"problem: {problem}")
    if problems:
        sys.exit(EXIT_DIFFERENT)
    if options["verify"] != "off" and backup.records is not None:
        click.echo(f"counts agree: {backup.records:,} records, as in the backup")


def _settled_count(store: Any, expected: int, stop: threading.Event) -> int:
    """The restored index's record count, polled until it equals ``expected`` or stops changing."""
    deadline = time.monotonic() + COUNT_WAIT_SECONDS
    while True:
        found = sum(store.describe().namespace_counts.values())
        if found == expected or time.monotonic() > deadline or stop.is_set():
            return int(found)
        stop.wait(2.0)


def _log_status(what: str) -> Any:
    last: list[str] = []

    def show(job: Any) -> None:
        line = f"{what} {job.id}: {job.status}" + ("" if job.percent is None else f", {job.percent:.0f} %")
        if not last or last[-1] != line:
            click.echo(line, err=True)
            last.append(line)

    return show


def _report(options: dict[str, Any], body: dict[str, Any]) -> None:
    if options.get("report") is not None:
        options["report"].write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
