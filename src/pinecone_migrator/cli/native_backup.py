"""`backup --native` and `restore --native`: Pinecone's own backups of a serverless index, followed to the
end.

A native backup stays inside its project (Pinecone's rule); restoring creates a new index from it. This
tool waits for both, shows their progress, and checks a restore by its record count against the backup's
(Pinecone gives no digest of a backup, so a record-by-record proof needs a backup to files instead).
"""

from __future__ import annotations

import sys
import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import click
import orjson

from .common import user_errors
from .display import install_stop_handlers
from .options import index_name, index_store

if TYPE_CHECKING:
    from ..engine.workflows import Displays, Job


def native_backup(options: dict[str, Any]) -> None:
    from ..engine.workflows import native_backup as run_backup
    from ..stores.pinecone.jobs import PineconeJobs

    index = index_name(options, "source", "backup --native")
    store = index_store("source", index, options["source_host"], options["source_api_key_env"])
    stop = threading.Event()
    install_stop_handlers(stop)
    with user_errors():
        outcome = run_backup(
            store,
            PineconeJobs(store),
            options["backup_name"],
            options["description"],
            stop=stop,
            on_started=lambda job: click.echo(f"started native backup {job.id} of {index!r}", err=True),
            displays=_shown("backup"),
        )
    _report(options, outcome.to_json())
    job = outcome.job
    records = "?" if job.records is None else f"{job.records:,}"
    click.echo(f"native backup {job.id}: {job.status}, {records} records")
    if outcome.exit_code:
        sys.exit(outcome.exit_code)
    click.echo(
        f"restore it with: pinecone-migrator restore --native --from {job.id} --target-index NEW-INDEX"
    )


def native_restore(options: dict[str, Any]) -> None:
    from ..engine.workflows import native_restore as run_restore
    from ..stores.pinecone.jobs import PineconeJobs

    index = index_name(options, "target", "restore --native")
    key_env = options["target_api_key_env"] or "PINECONE_API_KEY"
    store = index_store("target", index, options["target_host"], key_env)
    backup_id = options["from_"]
    stop = threading.Event()
    install_stop_handlers(stop)
    with user_errors():
        outcome = run_restore(
            store,
            PineconeJobs(store),
            backup_id,
            deletion_protection=options["target_deletion_protection"],
            check_count=options["verify"] != "off",
            stop=stop,
            on_started=lambda job_id: click.echo(
                f"started restore job {job_id}: backup {backup_id} -> {index!r}", err=True
            ),
            displays=_shown("restore"),
        )
    _report(options, outcome.to_json())
    job = outcome.job
    click.echo(f"restore job {job.id}: {job.status}" + (f", error: {job.error}" if job.error else ""))
    for problem in outcome.problems if job.status == "Completed" else ():
        click.echo(f"problem: {problem}")
    if outcome.exit_code:
        sys.exit(outcome.exit_code)
    if outcome.restored_records is not None:
        click.echo(f"counts agree: {outcome.restored_records:,} records, as in the backup")


def _shown(what: str) -> Displays:
    """Each new status of the job, as a line on stderr."""
    from ..engine.workflows import Displays

    last: list[str] = []

    def show(job: Job) -> None:
        line = f"{what} {job.id}: {job.status}" + ("" if job.percent is None else f", {job.percent:.0f} %")
        if not last or last[-1] != line:
            click.echo(line, err=True)
            last.append(line)

    return Displays(job=lambda: nullcontext(show))


def _report(options: dict[str, Any], body: dict[str, Any]) -> None:
    if options.get("report") is not None:
        options["report"].write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
