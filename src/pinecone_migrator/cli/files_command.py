"""`export` and `import`: an index to files (Parquet or JSON Lines, local or in object storage) and back.

Both are migrations with a file store on one side, so they share migrate's ledger, resume, progress,
retries and verification.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from .app import cli
from .bulk_command import BULK_OPTIONS
from .common import FC, apply_options, command_name
from .migrate_command import WRITE_OPTIONS, YES_OPTION, copy_request, run_copy, verify_option
from .options import (
    CONFIG_OPTION,
    ROUTING_OPTIONS,
    RUN_OPTIONS,
    SHARDS_OPTION,
    SOURCE_INDEX_OPTIONS,
    TARGET_INDEX_OPTIONS,
    build_request,
    side_store,
)

if TYPE_CHECKING:
    from ..engine.workflows import MigrateOutcome

TO_OPTION = click.option(
    "--to", "to", required=True, metavar="PATH_OR_URI", help="A local folder, or s3://, gs://, az://."
)
ROWS_PER_FILE_OPTION = click.option(
    "--rows-per-file", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True
)
EXPORT_RUN_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--restart", is_flag=True, help="Start over: remove this export's files and forget its progress."
    ),
    SHARDS_OPTION,
    verify_option(batch=False),
    YES_OPTION,
]


def format_option(default: str) -> Callable[[Any], Any]:
    return click.option(
        "--format",
        "file_format",
        type=click.Choice(["parquet", "jsonl"]),
        default=default,
        show_default=True,
        help="parquet: Pinecone's bulk-import layout; jsonl: gzip-compressed JSON Lines.",
    )


EXPORT_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    *SOURCE_INDEX_OPTIONS,
    TO_OPTION,
    format_option("parquet"),
    ROWS_PER_FILE_OPTION,
    *ROUTING_OPTIONS,
    *RUN_OPTIONS,
    *EXPORT_RUN_OPTIONS,
]


def export_options(function: FC) -> FC:
    return apply_options(function, EXPORT_OPTIONS)


@cli.command()
@export_options
def export(**options: Any) -> None:
    """Write every record of an index (or the namespaces named) to files, resumably.

    Parquet files follow Pinecone's bulk-import layout (<to>/<namespace>/part-*.parquet); a manifest.json
    describes the index and each namespace's files, count and digest. The source is only read.

    \b
    Examples:
      pinecone-migrator export --source-index docs --to s3://bucket/exports/docs
      pinecone-migrator export --source-index docs --to ./docs-jsonl --format jsonl --namespace tenant-a
      pinecone-migrator export --source-index docs --to ./docs --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    clean
      1    declined at the confirmation prompt; nothing written
      2    bad input (options, credentials, a --to holding files it did not write); nothing written
      3    incomplete: a remote or disk failure stopped it; run it again to resume
      4    finished, but some records could not be routed (dead letters, in the ledger)
      5    --verify digest|full found differences
      6    a pod-based source's sweep could not prove it found every record
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """
    run_export(options)


def run_export(options: dict[str, Any]) -> None:
    from ..engine.migrate.copy import CopyOptions
    from ..engine.request import Endpoint
    from ..engine.workflows import export
    from ..stores.listable import enumerable
    from ..stores.registry import export_folder

    request = build_request(
        options,
        target=Endpoint(options["to"], None),
        restart=options["restart"],
        options=CopyOptions(concurrency=options["concurrency"], shards=options["shards"]),
    )
    source = side_store("source", request.source, options["source_api_key_env"])
    folder = export_folder(options["to"], options["file_format"], options["rows_per_file"])
    run_copy(
        options,
        lambda copy: export(
            request,
            source,
            folder,
            **copy,
            make_listable=enumerable,
            accept_incomplete_sweep=options.get("accept_incomplete_sweep", False),
            holder=command_name() or "export",
        ),
    )


FROM_OPTION = click.option(
    "--from",
    "from_",
    required=True,
    metavar="PATH_OR_URI",
    help="An export, or any tree in Pinecone's bulk-import layout: a local folder, s3://, gs://, az://.",
)
# TARGET_INDEX_OPTIONS with --target-index's help saying what import does with a missing index.
IMPORT_TARGET_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--target-index",
        default=None,
        help="Index to import into. When missing it is created like the exported index (its manifest.json; "
        "without one, the files' shape and --metric), unless --no-create-target is given.",
    ),
    *TARGET_INDEX_OPTIONS[1:],
]
IMPORT_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    FROM_OPTION,
    click.option(
        "--metric",
        type=click.Choice(["cosine", "euclidean", "dotproduct"]),
        default=None,
        help="For files without a manifest.json, when the target must be created.",
    ),
    *IMPORT_TARGET_OPTIONS,
    *ROUTING_OPTIONS,
    *RUN_OPTIONS,
    *WRITE_OPTIONS,
    *BULK_OPTIONS,
]


def import_options(function: FC) -> FC:
    return apply_options(function, IMPORT_OPTIONS)


@cli.command("import")
@import_options
def import_(**options: Any) -> None:
    """Upsert every record of an export (or a bulk-import tree) into an index, resumably.

    Everything is checked before anything is written: paths stay inside --from, every Parquet footer and
    schema and every JSON Lines line is read (a bad line is refused, exit 2, not skipped). A missing target
    is created like the exported index (its manifest.json), unless --no-create-target is given. With
    --bulk, Pinecone imports the Parquet files itself (see `imports` to follow them).

    \b
    Examples:
      pinecone-migrator import --from s3://bucket/exports/docs --target-index docs-copy
      pinecone-migrator import --from ./docs-jsonl --target-index docs-copy --namespace tenant-a
      pinecone-migrator import --from s3://bucket/exports/docs --target-index docs-bulk --bulk
      pinecone-migrator import --from ./docs --target-index docs-copy --target-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    clean
      1    declined at the confirmation prompt; nothing written
      2    bad input (options, credentials, a damaged file or manifest); nothing written
      3    incomplete: a remote or disk failure stopped it (--bulk: the import failed); run it again
      4    finished, but the target refused some records (dead letters, in the ledger)
      5    --verify digest|full found differences
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """
    if options.get("bulk"):
        from .bulk_command import run_bulk_import

        run_bulk_import(options)
        return
    run_import(options)


def run_import(options: dict[str, Any], workflow: Callable[..., MigrateOutcome] | None = None) -> None:
    """The import workflow (or ``workflow``, which takes the same arguments: a restore) over the options."""
    from ..engine.workflows import import_files

    request = copy_request({**options, "source_index": options["from_"], "source_host": None})
    target_variable = options["target_api_key_env"] or "PINECONE_API_KEY"
    target = side_store("target", request.target, target_variable)
    run = workflow or partial(import_files, metric=options.get("metric"))
    run_copy(options, lambda copy: run(request, target, **copy, holder=command_name() or "import"))
