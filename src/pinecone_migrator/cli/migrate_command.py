"""`migrate` and `status` (`plan`, also `migrate --dry-run`, is plan_command's)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from .app import cli
from .common import (
    EXIT_DECLINED,
    FC,
    apply_options,
    check_output_paths,
    command_name,
    fail,
    interactive,
    user_errors,
    write_report,
)
from .display import emit_summary, run_displays, setup_logging, stop_after_asking, verdict_lines
from .options import SHARDS_OPTION, build_request, index_stores, selection_options

if TYPE_CHECKING:
    from ..engine.request import MigrationRequest
    from ..engine.workflows import MigrateOutcome


TARGET_CREATION_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--restart", is_flag=True, help="Forget the ledger's progress and start over."),
    click.option("--no-create-target", is_flag=True, help="Refuse to create a missing target."),
    click.option("--target-cloud", default=None, help="For a created target (default: the source's)."),
    click.option("--target-region", default=None, help="For a created target (default: the source's)."),
    click.option(
        "--target-read-nodes",
        type=click.Choice(["b1", "t1"]),
        default=None,
        help="Create the target with dedicated read nodes of this type.",
    ),
    click.option("--target-shards", type=click.IntRange(1), default=1, show_default=True),
    click.option("--target-replicas", type=click.IntRange(1), default=1, show_default=True),
    click.option("--target-deletion-protection", is_flag=True),
    click.option(
        "--max-request-bytes",
        type=click.IntRange(10_000, 2_000_000),
        default=None,
        help="Bytes per write request. Default: the target's own limit (Pinecone: 1,950,000 of its 2 MB).",
    ),
    SHARDS_OPTION,
]
YES_OPTION = click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (only asked on a terminal)."
)


def verify_option(default: str = "off", batch: bool = True) -> Callable[[Any], Any]:
    return click.option(
        "--verify",
        type=click.Choice(["off", "batch", "digest", "full"] if batch else ["off", "digest", "full"]),
        default=default,
        show_default=True,
        help=("batch: read every written batch back and re-send differences; " if batch else "")
        + "digest/full: run verify at the end (its result is in the summary and the report).",
    )


WRITE_OPTIONS = [*TARGET_CREATION_OPTIONS, verify_option(), YES_OPTION]


def write_options(function: FC) -> FC:
    return apply_options(function, WRITE_OPTIONS)


def copy_request(options: dict[str, Any]) -> MigrationRequest:
    """The copy the options describe (migrate, sync, import and restore share it)."""
    from ..engine.migrate.copy import CopyOptions

    read_nodes = options["target_read_nodes"]
    folds = options.get("namespace_to_metadata") is not None or options.get("drop_namespace_field")
    if folds and command_name() == "sync":
        raise click.UsageError(
            "sync cannot fold or unfold namespaces (--namespace-to-metadata, --drop-namespace-field) yet: "
            "do that once with migrate, or sync each namespace (--namespace) into its own target."
        )
    return build_request(
        options,
        restart=options["restart"],
        create_target=not options["no_create_target"],
        target_cloud=options["target_cloud"],
        target_region=options["target_region"],
        target_deletion_protection=options["target_deletion_protection"],
        target_read_capacity=None
        if read_nodes is None
        else {
            "mode": "Dedicated",
            "dedicated": {
                "node_type": read_nodes,
                "scaling": "Manual",
                "manual": {"shards": options["target_shards"], "replicas": options["target_replicas"]},
            },
        },
        options=CopyOptions(
            concurrency=options["concurrency"],
            max_request_bytes=options["max_request_bytes"],
            shards=options["shards"],
            read_back=options["verify"] == "batch",
        ),
    )


@cli.command()
@selection_options
@write_options
@click.option("--dry-run", is_flag=True, help="Plan only: show what would move and how long it should take.")
def migrate(**options: Any) -> None:
    """Copy every record of an index (or the namespaces named) to another index, resumably.

    A missing target is created like the source (unless --no-create-target); the source is only read.
    Stop it any way you like and run the same command again: it resumes from its ledger (--state).

    \b
    Examples:
      pinecone-migrator migrate --source-index docs --target-index docs-v2
      pinecone-migrator migrate --source-index docs --target-index docs-v2 --namespace a --verify digest
      pinecone-migrator migrate --source-index docs --target-index docs-eu --target-api-key-env EU_KEY
      pinecone-migrator migrate --source-index docs --target-index docs-v2 --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    clean
      1    declined at the confirmation prompt; nothing written
      2    bad input; nothing written
      3    incomplete: a remote or disk failure stopped it; run it again to resume
      4    finished, but the target refused some records (dead letters, in the ledger)
      5    --verify digest|full found differences
      6    a pod-based source's sweep could not prove it found every record
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """

    if options.pop("dry_run"):
        # The plan command (its own module, which imports this one) with migrate's options.
        click.get_current_context().invoke(cli.commands["plan"], **options)
        return
    request = copy_request(options)
    with user_errors():
        source, target = index_stores(request, options)
    from ..engine.workflows import migrate as run_migration
    from ..stores.listable import enumerable

    run_copy(
        options,
        lambda copy: run_migration(
            request,
            source,
            target,
            **copy,
            make_listable=enumerable,
            accept_incomplete_sweep=options["accept_incomplete_sweep"],
            holder=command_name(),
        ),
    )


def run_copy(options: dict[str, Any], workflow: Callable[[dict[str, Any]], MigrateOutcome]) -> None:
    """Run a migration workflow (migrate, export, import, restore) with a live display or log lines and a
    confirmation on a terminal, given to ``workflow`` as keyword arguments; then the summary and exit code."""
    from ..engine.workflows import Declined

    live = interactive() and options["log_format"] == "text" and not options["quiet"]
    console = Console(stderr=True) if live else None
    setup_logging(options["log_format"], options["quiet"], console)
    stop = threading.Event()
    with user_errors():
        check_output_paths(options)
        try:
            outcome = workflow(
                {
                    "verify": options["verify"],
                    "stop": stop,
                    "confirm": stop_after_asking(stop, console, interactive() and not options["yes"]),
                    "displays": run_displays(console),
                }
            )
        except Declined as declined:
            click.echo(str(declined), err=True)
            sys.exit(EXIT_DECLINED)
    _finish(outcome, options)


def _finish(outcome: MigrateOutcome, options: dict[str, Any]) -> None:
    summary, verification = outcome.summary, outcome.verification
    body = outcome.to_json()
    report_failure = write_report(options["report"], body)
    lines = []
    for ns in summary.namespaces:
        expected = "?" if ns.source_count is None else f"{ns.source_count:,}"
        lines.append(
            f"{ns.namespace}: copied {ns.copied:,} of {expected}, skipped by filter {ns.skipped:,}, "
            f"dead letters {ns.dead_letters}, {'done' if ns.done else 'not finished'}"
        )
    rate = summary.records_per_second or 0.0
    earlier = f", {summary.copied_before:,} of them by earlier runs" if summary.copied_before else ""
    lines.append(
        f"total: {summary.copied:,} records{earlier}; this run {summary.copied_this_run:,} in "
        f"{summary.elapsed_seconds:.1f} s ({rate:,.0f} records/s)"
    )
    if summary.changed is not None:
        counted = ", ".join(f"{name} {count:,}" for name, count in summary.changed.items()) or "none"
        lines.append(f"records changed as accepted (--accept-changes), this run: {counted}")
    if summary.read_back is not None:
        lines.append(f"verify batch: {summary.read_back:,} records read back equal, {summary.resent} re-sent")
    if verification is not None:
        lines.extend(verdict_lines(verification))
    lines.extend(f"problem: {problem}" for problem in outcome.problems)
    if summary.interrupted:
        lines.append("Interrupted: run the same command again to resume.")
    emit_summary(options["log_format"], lines, body)
    if report_failure is not None:
        fail(report_failure)
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


@cli.command()
@click.option("--state", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
def status(state: Path) -> None:
    """Progress of a migration ledger: per namespace, done / total, dead letters, last error (reads only).

    Also an interrupted verify's saved progress and a sync's latest passes kept in the same file.

    \b
    Examples:
      pinecone-migrator status --state .pinecone-migrator/docs--docs-v2.ledger.sqlite

    \b
    Exit codes (the README's Safety section has the table):
      0    shown
      2    bad input (no such file, not a pinecone-migrator state file)
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    from ..engine.ledger import Ledger
    from ..errors import MigratorError

    try:
        with Ledger(state, read_only=True) as ledger:
            namespaces = ledger.namespaces()
            dead = ledger.dead_letters()
    except MigratorError as error:
        fail(error)
    if not namespaces and not _has_sync(state):
        click.echo("The ledger holds no progress yet.")
    for ns in namespaces:
        total = "?" if ns.total_hint is None else f"{ns.total_hint:,}"
        line = (
            f"{ns.namespace}: {ns.listed:,} listed / {total} at the start, {ns.copied:,} copied, "
            f"{ns.skipped:,} skipped by filter, {ns.dead} dead letters, "
            f"{'done' if ns.done else 'in progress'}"
        )
        if ns.last_error:
            line += f", last error: {ns.last_error}"
        click.echo(line)
    for namespace, record_id, _, reason in dead[:20]:
        click.echo(f"dead letter {namespace}/{record_id}: {reason}")
    if len(dead) > 20:
        click.echo(f"... and {len(dead) - 20} more (table dead_letters in {state})")
    from ..engine.sync.state import last_passes

    passes = last_passes(state)
    if passes:
        _show_sync(passes)
    from ..engine.verify.checkpoints import saved_progress

    for side, namespace, complete, listed in saved_progress(state):
        progress = "scanned" if complete else f"{listed:,} IDs scanned so far"
        click.echo(f"interrupted verify, {side} {namespace}: {progress} (the same verify command resumes)")


def _has_sync(state: Path) -> bool:
    from ..engine.sync.state import last_passes

    return bool(last_passes(state, limit=1))


def _show_sync(passes: list[Any]) -> None:
    """A sync's latest passes, newest first; a running one shows how long it has been going."""
    import time

    for record in passes:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started))
        lag = "-" if record.lag_seconds is None else f"{record.lag_seconds:.1f} s"
        took = (
            f"{record.seconds:.1f} s"
            if record.seconds is not None
            else f"running for {time.time() - record.started:.0f} s"
        )
        click.echo(
            f"sync pass {record.number} ({record.state}, started {when}, {took}): listed {record.listed:,}, "
            f"new {record.new:,}, updated {record.updated:,}, deleted {record.deleted:,}, "
            f"dead letters {record.dead:,}, lag {lag}" + (f" — {record.note}" if record.note else "")
        )
