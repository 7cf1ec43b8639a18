"""Server-side work: `import --bulk` (Pinecone reads the files itself) and `imports list|describe|cancel`.

A bulk import is checked before it is started — the files against every bulk-import rule, the target's
shape, and that no target namespace exists yet (Pinecone would fail the import) — and then followed with
a progress bar until Pinecone says it finished. Stopping the wait does not stop the import.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .app import cli
from .common import EXIT_USAGE, FC, apply_options, interactive, user_errors
from .display import install_stop_handlers, run_displays, setup_logging, verdict_lines
from .options import TARGET_INDEX_OPTIONS, index_name, index_store

if TYPE_CHECKING:
    from ..engine.workflows import BulkOutcome, InvalidFiles
    from ..engine.workflows import Job as Followed
    from ..stores.pinecone.jobs import Job, PineconeJobs

log = logging.getLogger("pinecone_migrator.bulk")

BULK_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--bulk",
        is_flag=True,
        help="Server-side import: Pinecone reads the Parquet files from object storage itself.",
    ),
    click.option(
        "--error-mode",
        type=click.Choice(["abort", "continue"]),
        default="abort",
        show_default=True,
        help="--bulk: stop at the first unreadable record, or skip it and import the rest.",
    ),
    click.option(
        "--integration-id",
        default=None,
        help="--bulk: the storage integration that lets Pinecone read the bucket.",
    ),
    click.option(
        "--no-validate",
        is_flag=True,
        help="--bulk: skip the row-by-row check of the files (their footers and schemas are still read).",
    ),
]
# A server-side import takes every namespace folder as it is: nothing can be renamed, routed or filtered.
CLIENT_SIDE_ONLY = {
    "namespaces": "--namespace",
    "namespace_map": "--namespace-map",
    "target_namespace": "--target-namespace",
    "namespace_from_metadata": "--namespace-from-metadata",
    "filter_json": "--filter",
}


def run_bulk_import(options: dict[str, Any]) -> None:
    from ..engine.workflows import BulkSettings, InvalidFiles, bulk_import
    from ..stores.files.validation import validate_tree
    from ..stores.pinecone.jobs import PineconeJobs, bulk_import_uri
    from ..stores.registry import Files, open_store
    from .migrate_command import copy_request

    given = [flag for name, flag in CLIENT_SIDE_ONLY.items() if options.get(name)]
    if given:
        raise click.UsageError(
            f"{', '.join(given)} cannot apply to a server-side import (--bulk), which imports every "
            "namespace folder as it is; leave out --bulk to import client-side."
        )
    if options["verify"] == "batch":
        raise click.UsageError(
            "--verify batch reads back what this tool writes; with --bulk, use digest or full."
        )
    uri = options["from_"]
    local = "://" not in uri or uri.startswith("file://")
    if local and options["target_host"] is None:
        raise click.UsageError(
            f"{uri} is a local folder; Pinecone's bulk import reads object storage (s3://, gs://, Azure). "
            "Upload it first, or leave out --bulk to import it client-side."
        )
    setup_logging(options["log_format"], options["quiet"], None)
    key_env = options["target_api_key_env"] or "PINECONE_API_KEY"
    target = index_store(
        "target", index_name(options, "target", "import --bulk"), options["target_host"], key_env
    )
    request = copy_request({**options, "source_index": uri, "source_host": None})
    live = interactive() and options["log_format"] == "text" and not options["quiet"]
    console = Console(stderr=True) if live else None
    stop = threading.Event()

    def started(import_id: str) -> None:
        click.echo(f"started bulk import {import_id} into {options['target_index']!r} from {uri}", err=True)
        install_stop_handlers(stop, console)

    displays = run_displays(console)
    with user_errors():
        try:
            outcome = bulk_import(
                request,
                open_store(Files(uri, options.get("metric"))),
                target,
                PineconeJobs(target),
                BulkSettings(
                    uri,
                    service_uri=bulk_import_uri(uri),
                    error_mode=options["error_mode"],
                    integration_id=options["integration_id"],
                    validate=None if options["no_validate"] else validate_tree,
                    verify=options["verify"],
                ),
                stop=stop,
                on_started=started,
                displays=replace(displays, job=lambda: _ImportDisplay(console)),
            )
        except InvalidFiles as invalid:
            _refused(invalid)
    _finish(outcome, options)


def _refused(invalid: InvalidFiles) -> NoReturn:
    result = invalid.validation
    for problem in result.problems[:20]:
        click.echo(f"  {problem.where()}: [{problem.rule}] {problem.message}", err=True)
    total = sum(result.counts.values())
    click.echo(
        f"{invalid.uri}: {total:,} problem(s) Pinecone's bulk import would refuse; nothing was started "
        "(`pinecone-migrator validate` lists them all).",
        err=True,
    )
    sys.exit(EXIT_USAGE)


class _ImportDisplay:
    """A progress bar on a terminal; otherwise a log line whenever the status or progress changes."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None
        self.last: tuple[str, float | None] | None = None

    def __enter__(self) -> _ImportDisplay:
        if self.console is not None:
            self.progress = Progress(
                TextColumn("bulk import {task.fields[status]}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f} %  {task.fields[records]} records"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task("import", total=100, status="Pending", records="-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, job: Followed) -> None:
        records = "-" if job.records is None else f"{job.records:,}"
        if self.progress is not None:
            self.progress.update(self.task, completed=job.percent or 0, status=job.status, records=records)
        elif (job.status, job.percent) != self.last:
            log.info("bulk import %s: %s, %s %% done, %s records", job.id, job.status, job.percent, records,
                     extra={"fields": {"event": "import_progress", **job.to_json()}})  # fmt: skip
        self.last = (job.status, job.percent)


def _finish(outcome: BulkOutcome, options: dict[str, Any]) -> None:
    job, verification = outcome.job, outcome.verification
    body = outcome.to_json()
    if options["report"] is not None:
        options["report"].write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    if options["log_format"] == "json":
        click.echo(orjson.dumps(body).decode())
    else:
        records = "-" if job.records is None else f"{job.records:,}"
        click.echo(f"bulk import {job.id}: {job.status}, {records} records imported")
        if job.error:
            click.echo(f"error: {job.error}")
        if verification is not None:
            for line in verdict_lines(verification):
                click.echo(line)
    if outcome.still_running:
        click.echo(
            "Stopped waiting; the import goes on at Pinecone. Follow it with "
            f"`pinecone-migrator imports describe {job.id}`, stop it with "
            f"`pinecone-migrator imports cancel {job.id}`.",
            err=True,
        )
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


# -- imports list | describe | cancel ---------------------------------------------------------------------

JOB_OPTIONS: list[Callable[[Any], Any]] = [
    TARGET_INDEX_OPTIONS[0],
    TARGET_INDEX_OPTIONS[1],
    click.option("--target-api-key-env", default="PINECONE_API_KEY", show_default=True, metavar="VAR"),
    click.option("--json", "as_json", is_flag=True, help="One JSON object per import."),
]


def job_options(function: FC) -> FC:
    return apply_options(function, JOB_OPTIONS)


def _jobs(options: dict[str, Any]) -> PineconeJobs:
    from ..stores.pinecone.jobs import PineconeJobs

    return PineconeJobs(
        index_store(
            "target",
            index_name(options, "target", "jobs"),
            options["target_host"],
            options["target_api_key_env"],
        )
    )


def _show(job: Job, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(job.to_json()).decode())
        return
    percent = "-" if job.percent is None else f"{job.percent:.1f} %"
    records = "-" if job.records is None else f"{job.records:,}"
    line = f"{job.id}  {job.status:<10} {percent:>8}  {records:>12} records  {job.detail}"
    click.echo(line + (f"  error: {job.error}" if job.error else ""))


@cli.group()
def imports() -> None:
    """Bulk imports running in (or finished by) Pinecone, for one index.

    Start one with `import --bulk`; these commands follow it.

    \b
    Examples:
      pinecone-migrator imports list --target-index docs-bulk
      pinecone-migrator imports describe 101 --target-index docs-bulk
      pinecone-migrator imports cancel 101 --target-index docs-bulk
    """


@imports.command("list")
@job_options
def list_imports(**options: Any) -> None:
    """Every bulk import of the index: ID, status, progress, records imported, error. Reads only.

    \b
    Examples:
      pinecone-migrator imports list --target-index docs-bulk
      pinecone-migrator imports list --target-index docs-bulk --json
      pinecone-migrator imports list --target-index docs --target-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    done
      2    bad input (options, credentials, no such index or import)
      3    a remote failure stopped it; run it again
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    with user_errors():
        for job in _jobs(options).list_imports():
            _show(job, options["as_json"])


@imports.command("describe")
@click.argument("import_id")
@job_options
def describe_import(import_id: str, **options: Any) -> None:
    """One bulk import: status, progress, records imported, error. Reads only.

    \b
    Examples:
      pinecone-migrator imports describe 101 --target-index docs-bulk
      pinecone-migrator imports describe 101 --target-index docs-bulk --json

    \b
    Exit codes (the README's Safety section has the table):
      0    done
      2    bad input (options, credentials, no such index or import)
      3    a remote failure stopped it; run it again
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    with user_errors():
        _show(_jobs(options).describe_import(import_id), options["as_json"])


@imports.command("cancel")
@click.argument("import_id")
@job_options
def cancel_import(import_id: str, **options: Any) -> None:
    """Cancel a running bulk import (records it already wrote stay in the index), then describe it.

    \b
    Examples:
      pinecone-migrator imports cancel 101 --target-index docs-bulk

    \b
    Exit codes (the README's Safety section has the table):
      0    done
      2    bad input (options, credentials, no such index or import)
      3    a remote failure stopped it; run it again
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    with user_errors():
        jobs = _jobs(options)
        jobs.cancel_import(import_id)
        _show(jobs.describe_import(import_id), options["as_json"])
