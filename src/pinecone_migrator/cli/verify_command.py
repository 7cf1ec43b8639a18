"""`verify`: prove the target holds what a migration with the same options should have produced."""

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
    FC,
    apply_options,
    check_output_paths,
    command_name,
    fail,
    interactive,
    user_errors,
    write_report,
)
from .display import emit_summary, install_stop_handlers, run_displays, setup_logging, verdict_lines
from .options import SHARDS_OPTION, build_request, index_stores, selection_options

if TYPE_CHECKING:
    from ..engine.workflows import SearchOutcome, VerifyOutcome

VERIFY_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--level",
        type=click.Choice(["count", "digest", "full", "sample", "search"]),
        default="digest",
        show_default=True,
        help="count: describe counts; digest: set digests per namespace and ID bucket; full: the exact "
        "missing, extra and different IDs; sample: --sample-size random records; search: --sample-size "
        "queries by stored vectors on both sides.",
    ),
    click.option(
        "--sample-size",
        type=click.IntRange(1, 1_000_000),
        default=100,
        show_default=True,
        help="Records (--level sample) or queries (--level search).",
    ),
    click.option(
        "--top-k", type=click.IntRange(1, 1_000), default=10, show_default=True, help="--level search."
    ),
    click.option(
        "--diff",
        "diff_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write every differing ID as JSON Lines (id, namespace, kind, differing parts).",
    ),
    click.option(
        "--ignore-metadata-key",
        "ignore_metadata_keys",
        multiple=True,
        metavar="KEY",
        help="Leave this metadata key out of the comparison (repeatable).",
    ),
    click.option(
        "--repair",
        is_flag=True,
        help="Re-copy missing and different records from the source, then verify again (implies --level "
        "full when the level is digest).",
    ),
    click.option(
        "--delete-extra", is_flag=True, help="With --repair: delete target records not expected there."
    ),
    SHARDS_OPTION,
    click.option(
        "--restart",
        is_flag=True,
        help="Forget the progress an interrupted verify saved in the ledger and scan everything again.",
    ),
    click.option(
        "--freshness-timeout",
        type=click.FloatRange(0),
        default=120.0,
        show_default=True,
        help="Seconds to wait for the target to show the migration's writes before comparing.",
    ),
]


def verify_options(function: FC) -> FC:
    return apply_options(function, VERIFY_OPTIONS)


@cli.command()
@selection_options
@verify_options
def verify(**options: Any) -> None:
    """Compare the target with what a migration with these options should have produced.

    Give it the options the migration had (--namespace, --filter, routing). Only --repair writes, and only
    to the target.

    \b
    Examples:
      pinecone-migrator verify --source-index docs --target-index docs-v2
      pinecone-migrator verify --source-index docs --target-index docs-v2 --level full --diff diff.jsonl
      pinecone-migrator verify --source-index docs --target-index docs-v2 --repair --delete-extra
      pinecone-migrator verify --source-index docs --target-index docs-v2 --level search --sample-size 200
      pinecone-migrator verify --source-index docs --target-index docs-v2 --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    equal
      2    bad input; nothing written
      3    a remote or disk failure stopped it; run it again (levels digest and full resume)
      5    differences found
      6    this level cannot judge this migration (e.g. counts with a filter), or a pod sweep is unproven
      70   a bug: one line names it, the traceback is in the log file it prints
      130  interrupted (Ctrl-C, SIGTERM, 'q'); run it again to resume
    """

    level = options["level"]
    if options["delete_extra"] and not options["repair"]:
        raise click.UsageError("--delete-extra only applies with --repair.")
    if options["repair"] and level in ("count", "search"):
        raise click.UsageError(f"--repair needs the differing IDs: use --level full (not {level}).")
    request = build_request(options)
    from ..engine.verify.run import VerifyOptions
    from ..engine.workflows import VerifySettings, verify_index, verify_search
    from ..stores.listable import enumerable

    live = interactive() and options["log_format"] == "text" and not options["quiet"]
    console = Console(stderr=True) if live else None
    setup_logging(options["log_format"], options["quiet"], console)
    stop = threading.Event()
    install_stop_handlers(stop, console)
    with user_errors():
        check_output_paths(options)
        source, target = index_stores(request, options)
        if level == "search":
            searched = verify_search(
                request,
                source,
                target,
                options["sample_size"],
                options["top_k"],
                stop=stop,
                holder=command_name(),
            )
            _finish(searched.to_json(), _search_lines(searched), searched.exit_code, options)
            return
        settings = VerifySettings(
            options=VerifyOptions(
                level=level,
                sample_size=options["sample_size"],
                ignore_metadata_keys=frozenset(options["ignore_metadata_keys"]),
                concurrency=options["concurrency"],
                freshness_timeout_seconds=options["freshness_timeout"],
                shards=options["shards"],
            ),
            diff_path=options["diff_path"],
            restart=options["restart"],
            repair=options["repair"],
            delete_extra=options["delete_extra"],
            accept_incomplete_sweep=options["accept_incomplete_sweep"],
        )
        outcome = verify_index(
            request,
            source,
            target,
            settings,
            stop=stop,
            displays=run_displays(console),
            make_listable=enumerable,
            holder=command_name(),
        )
    _finish(outcome.to_json(), _verify_lines(outcome), outcome.exit_code, options)


def _verify_lines(outcome: VerifyOutcome) -> list[str]:
    lines = verdict_lines(outcome.verification)
    fixed = outcome.repair
    if fixed is not None and outcome.after_repair is not None:
        lines.append(
            f"repair: {fixed.rewritten:,} records copied again, {fixed.deleted:,} extra deleted, "
            f"{fixed.extra_left:,} extra left (--delete-extra to remove them), {len(fixed.dead_letters)} "
            "refused by the target"
        )
        lines.extend(verdict_lines(outcome.after_repair, title="verify after repair"))
    return lines


def _search_lines(outcome: SearchOutcome) -> list[str]:
    head = "EQUAL" if outcome.equal else "CANNOT JUDGE" if outcome.unjudged else "DIFFERENT"
    lines = [f"verify (search): {head}"]
    for c in outcome.comparisons:
        lines.append(
            f"  {c.namespace} -> {c.target_namespace}: {c.queries} queries, top-{c.top_k} overlap mean "
            f"{c.mean_overlap:.3f} min {c.min_overlap:.3f}, max score difference {c.max_score_difference:.2e}"
            f"{'' if c.equal else '  DIFFERENT'}"
        )
    if outcome.unjudged:
        lines.append(f"  {outcome.unjudged}")
    return lines


def _finish(body: dict[str, Any], lines: list[str], code: int, options: dict[str, Any]) -> None:
    report_failure = write_report(options["report"], body)
    emit_summary(options["log_format"], lines, body)
    if report_failure is not None:
        fail(report_failure)
    sys.exit(code)
