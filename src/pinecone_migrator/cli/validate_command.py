"""`validate`: check a Parquet tree against Pinecone's bulk-import rules before uploading it."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from ..errors import UserError
from .app import cli
from .common import EXIT_DIFFERENT, fail, user_errors

SHOWN = 50  # problems on screen; the report has them all (up to 1,000 per rule)


@cli.command()
@click.argument("directory", metavar="PATH_OR_URI")
@click.option(
    "--dimension", type=click.IntRange(1, 20_000), default=None, help="The target index's dimension."
)
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write JSON.")
def validate(directory: str, dimension: int | None, report: Path | None) -> None:
    """Check an import directory (one folder per namespace, Parquet files in them; a local folder or an
    s3://, gs://, az:// prefix) against every documented rule of Pinecone's bulk import, and list every
    problem with its file and row. A JSON Lines export is not checked (bulk import reads Parquet only);
    a manifest.json naming a path outside the tree, or a symbolic link out of it, is refused (exit 2).

    \b
    Examples:
      pinecone-migrator validate ./import-dir --dimension 768
      pinecone-migrator validate s3://bucket/exports/docs --report problems.json

    \b
    Exit codes (the README's Safety section has the table):
      0    valid
      2    bad input (no such folder, credentials, an escaping manifest)
      5    problems found (each with its rule, file and row)
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    from ..statelock import check_writable
    from ..stores.files.validation import validate_tree

    if "://" not in directory and not Path(directory).is_dir():
        why = "does not exist or is not a directory: give the folder that holds the namespace folders"
        fail(UserError(f"{directory} {why}."))
    with user_errors():
        if report is not None:
            check_writable(report, "--report")  # before the files are read, not after
        result = validate_tree(directory, dimension)
    if report is not None:
        report.write_bytes(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))
    namespaces = len(result.namespaces)
    summary = (
        f"{directory}: {result.files:,} files, {result.records:,} records in {namespaces:,} namespace(s), "
        f"dimension {result.dimension if result.dimension is not None else '-'}"
    )
    if result.valid:
        click.echo(f"{summary}: valid for Pinecone's bulk import.")
        return
    total = sum(result.counts.values())
    click.echo(
        f"{summary}: {total:,} problem(s) — " + ", ".join(f"{r} {n:,}" for r, n in result.counts.items())
    )
    for problem in result.problems[:SHOWN]:
        click.echo(f"  {problem.where()}: [{problem.rule}] {problem.message}")
    if total > SHOWN:
        click.echo(
            f"  ... {total - SHOWN:,} more"
            + (f" (all in {report})" if report else " (--report PATH lists them)")
        )
    sys.exit(EXIT_DIFFERENT)
