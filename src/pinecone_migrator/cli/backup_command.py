"""`backup` and `restore`: every namespace of an index to a self-contained folder and back, verified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .app import cli
from .common import FC, apply_options
from .files_command import (
    EXPORT_RUN_OPTIONS,
    FROM_OPTION,
    ROWS_PER_FILE_OPTION,
    format_option,
    run_export,
    run_import,
)
from .migrate_command import TARGET_CREATION_OPTIONS, YES_OPTION, verify_option
from .options import CONFIG_OPTION, RUN_OPTIONS, SOURCE_INDEX_OPTIONS, TARGET_INDEX_OPTIONS

# A backup is an export of everything: no namespace selection, renaming, routing or filter.
EVERYTHING = {
    "namespaces": (),
    "namespace_map": (),
    "target_namespace": None,
    "allow_merge": False,
    "namespace_from_metadata": None,
    "fallback_namespace": None,
    "filter_json": None,
}
NATIVE_OPTION = click.option(
    "--native",
    is_flag=True,
    help="Use Pinecone's own backups (serverless indexes; the backup stays in the project).",
)
BACKUP_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    *SOURCE_INDEX_OPTIONS,
    click.option(
        "--to", "to", default=None, metavar="PATH_OR_URI", help="A local folder, or s3://, gs://, az://."
    ),
    NATIVE_OPTION,
    click.option("--backup-name", default=None, help="--native: a name for the backup."),
    click.option("--description", default=None, help="--native: a description for the backup."),
    format_option("jsonl"),
    ROWS_PER_FILE_OPTION,
    *RUN_OPTIONS,
    *EXPORT_RUN_OPTIONS,
]
RESTORE_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    FROM_OPTION,
    NATIVE_OPTION,
    click.option(
        "--target-index",
        required=True,
        help="A new index (created like the backed-up one, unless --no-create-target) or an empty one.",
    ),
    *TARGET_INDEX_OPTIONS[1:],
    *RUN_OPTIONS,
    *TARGET_CREATION_OPTIONS,
    verify_option("digest", batch=False),
    YES_OPTION,
]


def backup_options(function: FC) -> FC:
    return apply_options(function, BACKUP_OPTIONS)


def restore_options(function: FC) -> FC:
    return apply_options(function, RESTORE_OPTIONS)


@cli.command()
@backup_options
def backup(**options: Any) -> None:
    """Back up every namespace of an index to a folder you own (JSON Lines by default; --format parquet).

    The folder holds the records and a manifest.json (the index's description, per namespace its files,
    count and digest); `restore` recreates the index from it. With --native, Pinecone makes the backup
    inside the project instead, and this command waits until it is ready. The source is only read.

    \b
    Examples:
      pinecone-migrator backup --source-index docs --to gs://bucket/backups/docs-2026-11-23
      pinecone-migrator backup --source-index docs --to ./backups/docs --format parquet --verify digest
      pinecone-migrator backup --source-index docs --native --backup-name nightly
      pinecone-migrator backup --source-index docs --to ./backups/docs --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    clean
      1    declined at the confirmation prompt; nothing written
      2    bad input (options, credentials, a --to holding files it did not write); nothing written
      3    incomplete: a remote or disk failure stopped it (--native: the backup failed); run it again
      5    --verify digest|full found differences
      6    a pod-based source's sweep could not prove it found every record
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """
    if options["native"]:
        from .native_backup import native_backup

        native_backup(options)
        return
    if options["to"] is None:
        raise click.UsageError("Missing option '--to' (where the backup goes), or pass --native.")
    run_export({**options, **EVERYTHING})


@cli.command()
@restore_options
def restore(**options: Any) -> None:
    """Restore a backup into a new or empty index, then prove it equal to the backup's manifest.

    Before the target is created, the backup is read whole: its manifest's paths, every file, and each
    namespace's count and digest against the manifest (a damaged backup is refused, exit 2, nothing written).

    Verification is on (--verify digest) by default: the restored index and the backup's files are read
    and compared, and the files' digests must equal those the manifest recorded at backup time.
    With --native, --from is the ID of a Pinecone backup, restored into a new index (checked by count).

    \b
    Examples:
      pinecone-migrator restore --from gs://bucket/backups/docs-2026-11-23 --target-index docs-restored
      pinecone-migrator restore --native --from BACKUP_ID --target-index docs-restored
      pinecone-migrator restore --from ./backups/docs --target-index docs --target-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    restored and equal to the backup
      1    declined at the confirmation prompt; nothing written
      2    bad input (options, credentials, a damaged backup); nothing written
      3    incomplete: a remote or disk failure stopped it (--native: the restore failed); run it again
      4    finished, but the target refused some records (dead letters, in the ledger)
      5    the restored index or the backup's files differ from the manifest (or --native: the count)
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """
    if options["native"]:
        from .native_backup import native_restore

        native_restore(options)
        return
    if options["verify"] == "off":
        click.echo("warning: --verify off: the restore will not be checked against the backup.", err=True)
    from ..engine.workflows import restore as restore_backup

    run_import({**options, **EVERYTHING}, restore_backup)
