"""`sync`: keep a target in step with a source, pass after pass (or `--once`)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.console import Console

from ..statelock import hold
from .app import cli
from .common import (
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    FC,
    apply_options,
    check_output_paths,
    command_name,
    host_url,
    interactive,
    user_errors,
    write_report,
)
from .display import install_stop_handlers, setup_logging
from .migrate_command import TARGET_CREATION_OPTIONS, YES_OPTION, copy_request
from .options import (
    CONFIG_OPTION,
    ROUTING_OPTIONS,
    RUN_OPTIONS,
    SOURCE_INDEX_OPTIONS,
    TARGET_INDEX_OPTIONS,
    index_stores,
    pinecone_only,
    side_endpoint,
)

if TYPE_CHECKING:
    from ..engine.sync.state import PassRecord
    from ..engine.workflows import SyncOutcome

log = logging.getLogger("pinecone_migrator.sync")


SYNC_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--once", is_flag=True, help="One pass that brings the target up to date, then exit."),
    click.option(
        "--interval",
        type=click.FloatRange(0.1),
        default=30.0,
        show_default=True,
        help="Seconds between passes.",
    ),
    click.option(
        "--detect-updates", is_flag=True, help="Re-fetch known records and copy those that changed."
    ),
    click.option(
        "--updated-field",
        default=None,
        metavar="FIELD",
        help="Numeric metadata field (epoch seconds) the application raises on every write: only records "
        "above the last pass's highest value are re-fetched.",
    ),
    click.option(
        "--lookback",
        type=click.FloatRange(0.0),
        default=30.0,
        show_default=True,
        help="With --updated-field: each pass looks again at changes this many seconds older than the last "
        "pass's start (writes made during a pass, clock skew, writes not yet visible).",
    ),
    click.option(
        "--propagate-deletes", is_flag=True, help="Delete from the target what vanished from the source."
    ),
    click.option(
        "--stamp-source",
        is_flag=True,
        help="The original script's mode: WRITES to the source, stamping migrated/migrated_at on every "
        "record once copied (by update, never a re-upsert), and finds unstamped records by filter.",
    ),
    click.option(
        "--copy-stamps", is_flag=True, help="With --stamp-source: copy the stamps into the target too."
    ),
    click.option(
        "--stamps-per-second",
        type=click.FloatRange(1.0, 10_000.0),
        default=100.0,
        show_default=True,
        help="With --stamp-source: Pinecone allows 100 updates by ID per second per namespace.",
    ),
    click.option(
        "--max-delete-fraction",
        type=click.FloatRange(0.0, 1.0),
        default=0.05,
        show_default=True,
        help="A pass that would delete more than this fraction of the copied records asks first.",
    ),
]


def sync_options(function: FC) -> FC:
    return apply_options(
        function,
        [
            CONFIG_OPTION,
            *SOURCE_INDEX_OPTIONS,
            *TARGET_INDEX_OPTIONS,
            *ROUTING_OPTIONS,
            *RUN_OPTIONS,
            *TARGET_CREATION_OPTIONS,
            *SYNC_OPTIONS,
            YES_OPTION,
        ],
    )


@cli.command()
@sync_options
def sync(**options: Any) -> None:
    """Keep the target in step with the source: new, changed (--detect-updates / --updated-field) and
    deleted (--propagate-deletes) records follow, pass after pass, until stopped (Ctrl-C, SIGTERM, 'q').

    Never writes to the source, except with --stamp-source (the original script's mode), which says so.

    \b
    Examples:
      pinecone-migrator sync --source-index docs --target-index docs-v2 --once
      pinecone-migrator sync --source-index docs --target-index docs-v2 --interval 30 --propagate-deletes
      pinecone-migrator sync --source-index docs --target-index docs-v2 --updated-field updated_at
      pinecone-migrator sync --source-index docs --target-index docs-v2 --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    stopped between passes (or --once done)
      2    bad input; nothing written
      3    a remote or disk failure stopped a --once pass; run it again
      4    a --once pass finished, but the target refused some records (dead letters)
      6    a pod-based source's sweep could not prove it found every record
      7    a pass would have deleted more than --max-delete-fraction; nothing was deleted
      70   a bug: one line names it, the traceback is in the log file it prints
      130  stopped during a pass; the next sync picks up (what was copied is remembered)
    """
    from ..engine.sync.passes import SyncOptions
    from ..engine.sync.stamping import StampOptions
    from ..engine.workflows import SyncSettings
    from ..engine.workflows import sync as run_sync
    from ..stores.listable import enumerable

    request = copy_request({**options, "verify": "off"})
    stamping = options["stamp_source"]
    if stamping and (options["detect_updates"] or options["updated_field"] or options["propagate_deletes"]):
        raise click.UsageError(
            "--stamp-source finds work by its stamps: it excludes --detect-updates, --updated-field and "
            "--propagate-deletes (the ledger mode's ways)."
        )
    settings = SyncSettings(
        SyncOptions(
            detect_updates=options["detect_updates"],
            updated_field=options["updated_field"],
            lookback_seconds=options["lookback"],
            propagate_deletes=options["propagate_deletes"],
            max_delete_fraction=options["max_delete_fraction"],
            interval_seconds=options["interval"],
            concurrency=options["concurrency"],
            max_request_bytes=options["max_request_bytes"],
        ),
        stamp=StampOptions(
            copy_stamps=options["copy_stamps"],
            stamps_per_second=options["stamps_per_second"],
            concurrency=options["concurrency"],
            max_request_bytes=options["max_request_bytes"],
        )
        if stamping
        else None,
        once=options["once"],
        accept_incomplete_sweep=options["accept_incomplete_sweep"],
    )
    console = Console(stderr=True) if interactive() and not options["quiet"] else None
    setup_logging(options["log_format"], options["quiet"], None)
    stop = threading.Event()
    install_stop_handlers(stop, console)
    with user_errors():
        check_output_paths(options)
        source, target = index_stores(request, options)
        outcome = run_sync(
            request,
            source,
            target,
            settings,
            stop=stop,
            confirm_deletes=_deletes_confirmer(options),
            on_pass=lambda record: _log_pass(record, options),
            on_error=lambda error: log.error(
                "pass failed, trying again in %.0f s: %s", settings.options.interval_seconds, error
            ),
            make_listable=enumerable,
            holder=command_name(),
        )
    _finish(outcome, options)


def _deletes_confirmer(options: dict[str, Any]) -> Callable[[int, int], bool]:
    def confirm(gone: int, known: int) -> bool:
        if options["yes"]:
            return True
        if not interactive():
            return False
        return click.confirm(
            f"{gone:,} of {known:,} copied records are gone from the source. Delete them from the target?",
            default=False,
            err=True,
        )

    return confirm


def _log_pass(record: PassRecord, options: dict[str, Any]) -> None:
    lag = "-" if record.lag_seconds is None else f"{record.lag_seconds:.1f} s"
    log.info(
        "pass %d %s: listed %d, new %d, updated %d, deleted %d, dead letters %d, lag %s, %.1f s",
        record.number, record.state, record.listed, record.new, record.updated, record.deleted, record.dead,
        lag, record.seconds or 0.0,
        extra={"fields": {"event": "sync_pass", **record.to_json()}},
    )  # fmt: skip
    if record.note:
        log.warning("pass %d: %s", record.number, record.note)
    failure = write_report(options["report"], {"last_pass": record.to_json()})
    if failure is not None:
        log.error("%s", failure)


def _finish(outcome: SyncOutcome, options: dict[str, Any]) -> None:
    last = outcome.last
    if last is None:
        click.echo("Stopped before a pass finished.", err=True)
        sys.exit(outcome.exit_code)
    summary = (
        f"sync: pass {last.number} {last.state} at {time.strftime('%H:%M:%S', time.localtime(last.finished))}"
        ": "
        f"new {last.new:,}, updated {last.updated:,}, deleted {last.deleted:,}, dead letters {last.dead:,}"
    )
    if options["log_format"] == "json":
        click.echo(orjson.dumps({"last_pass": last.to_json()}).decode())
    else:
        click.echo(summary)
        if last.note:
            click.echo(last.note)
    if last.state == "stopped":
        click.echo("Stopped during a pass: the next sync picks up from there.", err=True)
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


RESET_OPTIONS: list[Callable[[Any], Any]] = [
    CONFIG_OPTION,
    *SOURCE_INDEX_OPTIONS,
    click.option("--target-index", default=None, help="Ledger mode: the sync's target (names its state)."),
    click.option("--target-host", default=None, callback=host_url),
    click.option(
        "--state", type=click.Path(dir_okay=False, path_type=Path), default=None, help="State file."
    ),
    click.option(
        "--namespace", "namespaces", multiple=True, help="--stamps: only this namespace (repeatable)."
    ),
    click.option(
        "--stamps", is_flag=True, help="Remove the source's stamps (stamp mode), not the sync's state."
    ),
    YES_OPTION,
]


def reset_options(function: FC) -> FC:
    return apply_options(function, RESET_OPTIONS)


@cli.command()
@reset_options
def reset(**options: Any) -> None:
    """Undo what sync remembers: with --stamps, remove migrated/migrated_at from every stamped record of the
    source (every namespace, or those named); otherwise forget a sync's state (--state, or the one of
    --source-index/--target-index) so the next sync re-checks everything. Asks first unless --yes.

    \b
    Examples:
      pinecone-migrator reset --source-index docs --target-index docs-v2 --yes
      pinecone-migrator reset --source-index docs --state .pinecone-migrator/docs--docs-v2.ledger.sqlite
      pinecone-migrator reset --source-index docs --stamps --namespace tenant-a --yes

    \b
    Exit codes (the README's Safety section has the table):
      0    done
      1    declined at the confirmation prompt; nothing changed
      2    bad input (also: no --yes without a terminal); nothing changed
      3    a remote failure stopped it (--stamps); run it again
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """
    from ..engine.request import MigrationRequest
    from ..engine.sync.state import forget_state

    if not options["stamps"]:
        if options["state"] is None and options["target_index"] is None and options.get("target") is None:
            raise click.UsageError(
                "Name the sync to reset: --state PATH, or --target-index / --target (with --source-index / "
                "--source)."
            )
        path = options["state"]
        if path is None:
            source = side_endpoint(options, "source")
            target = side_endpoint(options, "target", default_host=None if source.uri else source.host)
            path = MigrationRequest(source=source, target=target).ledger_path()
        _confirm(options, f"Forget what the sync in {path} has copied (its next pass re-checks everything)?")
        with user_errors(), hold(path, command_name()):
            forgotten = forget_state(path)
        click.echo(
            f"reset: forgot {forgotten:,} copied records in {path}; the next sync re-checks everything."
        )
        return
    _reset_stamps(options)


def _confirm(options: dict[str, Any], question: str) -> None:
    if options["yes"]:
        return
    if not interactive():
        raise click.UsageError("reset changes what cannot be undone here: pass --yes to confirm.")
    if not click.confirm(question, default=False, err=True):
        click.echo("Cancelled: nothing was changed.", err=True)
        sys.exit(EXIT_DECLINED)


def _reset_stamps(options: dict[str, Any]) -> None:
    from ..engine.sync.stamping import reset_stamps
    from ..stores.registry import PineconeIndex, open_store
    from .common import api_key, namespace_name

    pinecone_only(options, "reset --stamps", "source")
    if options["source_index"] is None:
        raise click.UsageError("reset --stamps: name the stamped index with --source-index.")

    key_variable = options["source_api_key_env"]
    key = api_key(key_variable, "source")
    stop = threading.Event()
    install_stop_handlers(stop)
    with user_errors():
        source = open_store(
            PineconeIndex(options["source_index"], options["source_host"], key_variable, api_key=key)
        )
        counts = source.describe().namespace_counts
        namespaces = [namespace_name(ns) for ns in options["namespaces"]] or sorted(counts)
        _confirm(
            options,
            f"Remove migrated/migrated_at from every stamped record of {options['source_index']!r} in "
            f"{len(namespaces)} namespace(s)? Each stamped record is written again without them: run it "
            "while the application does not write.",
        )
        removed = reset_stamps(
            source, namespaces, stop, lambda ns, n: log.info("%s: %d stamps removed", ns, n)
        )
    click.echo(f"reset: removed the stamps of {removed:,} records in {len(namespaces)} namespace(s).")
    if stop.is_set():
        sys.exit(EXIT_INTERRUPTED)
