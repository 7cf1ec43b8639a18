"""`verify`: prove the target holds what a migration with the same options should have produced."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from ..errors import UserError
from ..statelock import hold
from .app import cli
from .common import (
    EXIT_DIFFERENT,
    EXIT_INTERRUPTED,
    EXIT_UNJUDGED,
    FC,
    apply_options,
    check_output_paths,
    command_name,
    fail,
    interactive,
    user_errors,
    write_report,
)
from .display import VerifyLive, VerifyLog, emit_summary, install_stop_handlers, setup_logging
from .options import SHARDS_OPTION, build_request, index_stores, selection_options

if TYPE_CHECKING:
    from ..engine.migrate import MigrationRequest
    from ..engine.verify import VerifyResult
    from ..engine.verify_search import SearchComparison
    from ..stores.base import Store

SHOWN_IDS = 10  # per namespace and kind, on screen; the diff file and the report have them all

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
    if options["repair"] and level == "digest":
        level = "full"
    request = build_request(options)
    from ..stores.listable import enumerable

    live = interactive() and options["log_format"] == "text" and not options["quiet"]
    console = Console(stderr=True) if live else None
    setup_logging(options["log_format"], options["quiet"], console)
    stop = threading.Event()
    install_stop_handlers(stop, console)
    with user_errors(), hold(request.ledger_path(), command_name()):
        check_output_paths(options)
        source, target = index_stores(request, options)
        for side, store, endpoint in (("source", source, request.source), ("target", target, request.target)):
            if not store.exists():
                raise UserError(f"The {side} index {endpoint.index!r} does not exist at {endpoint.label()}.")
        from ..engine.migrate import refuse_source_as_target

        refuse_source_as_target(source.describe(), target.describe(), request)
        if level == "search":
            _search(request, source, target, options, stop)
            return
        listable = enumerable(
            source,
            request.ledger_path(),
            list(request.namespaces) or None,
            stop,
            accept_incomplete=options["accept_incomplete_sweep"],
        )
        result = run_verify(request, listable, target, level, stop, console, options)
        body: dict[str, Any] = {"verify": result.to_json()}
        lines = verdict_lines(result)
        if options["repair"] and result.judged and not result.equal and not result.interrupted:
            from ..engine.verify import repair

            fixed = repair(
                result,
                request,
                source,
                target,
                delete_extra=options["delete_extra"],
                stop=stop,
                freshness_timeout_seconds=options["freshness_timeout"],
            )
            body["repair"] = fixed.to_json()
            lines.append(
                f"repair: {fixed.rewritten:,} records copied again, {fixed.deleted:,} extra deleted, "
                f"{fixed.extra_left:,} extra left (--delete-extra to remove them), {len(fixed.dead_letters)} "
                "refused by the target"
            )
            result = run_verify(request, listable, target, level, stop, console, options)
            body["verify_after_repair"] = result.to_json()
            lines.extend(verdict_lines(result, title="verify after repair"))
    report_failure = write_report(options["report"], body)
    emit_summary(options["log_format"], lines, body)
    if report_failure is not None:
        fail(report_failure)
    sys.exit(exit_code(result.equal, result.judged, result.interrupted))


def exit_code(equal: bool, judged: bool, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if not judged:
        return EXIT_UNJUDGED
    return 0 if equal else EXIT_DIFFERENT


def run_verify(
    request: MigrationRequest,
    source: Store,
    target: Store,
    level: str,
    stop: threading.Event,
    console: Console | None,
    options: dict[str, Any],
) -> VerifyResult:
    """Verify with a display, after waiting for the writes the migration's ledger remembers; progress is
    kept in the ledger (levels digest and full) and differences go to ``--diff`` when given."""
    from ..engine.ledger import Ledger
    from ..engine.verify import JsonlDiffWriter, VerifyCheckpoints, VerifyOptions, verify, verify_fingerprint

    lsns: dict[str, int] = {}
    ledger_path = request.ledger_path()
    if ledger_path.exists():
        with Ledger(ledger_path) as ledger:
            lsns = ledger.written_lsns()
    settings = VerifyOptions(
        level=level,  # type: ignore[arg-type]  # the CLI's choice list is the level list
        sample_size=options.get("sample_size", 100),
        ignore_metadata_keys=frozenset(options.get("ignore_metadata_keys", ())),
        concurrency=options.get("concurrency", 4),
        freshness_timeout_seconds=options.get("freshness_timeout", 120.0),
        shards=options.get("shards"),
    )
    totals = _totals(request, source)
    with ExitStack() as stack:
        progress: Callable[[str, str, int], None] = (
            VerifyLog(totals) if console is None else stack.enter_context(VerifyLive(console, totals).shown())
        )
        checkpoints = None
        if level in ("digest", "full"):  # the only levels that keep progress
            fingerprint = verify_fingerprint(request, settings)
            restart = options.get("restart", False)
            checkpoints = stack.enter_context(VerifyCheckpoints(ledger_path, fingerprint, restart=restart))
        diff = options.get("diff_path")
        return verify(
            request,
            source,
            target,
            settings,
            stop=stop,
            on_difference=None if diff is None else stack.enter_context(JsonlDiffWriter(diff)),
            target_lsns=lsns,
            progress=progress,
            checkpoints=checkpoints,
        )


def _totals(request: MigrationRequest, source: Store) -> int | None:
    """Records the source side will fetch (its selected namespaces' counts), for an ETA."""
    from ..engine.migrate import selected_namespaces

    description = source.describe()
    return sum(description.namespace_counts.get(ns, 0) for ns in selected_namespaces(request, description))


def verdict_lines(result: VerifyResult, title: str = "verify") -> list[str]:
    head = (
        "EQUAL"
        if result.equal
        else "INTERRUPTED"
        if result.interrupted
        else "CANNOT JUDGE"
        if not result.judged
        else "DIFFERENT"
    )
    lines = [
        f"{title} ({result.level}): {head} — {len(result.namespaces)} target namespace(s); fetched "
        f"{result.source_records:,} source and {result.target_records:,} target records in "
        f"{result.elapsed_seconds:.1f} s"
    ]
    if result.filtered_out or result.unroutable:
        lines.append(
            f"  not expected in the target: {result.filtered_out:,} left out by the filter, "
            f"{result.unroutable:,} with no namespace to route to"
        )
    for ns in result.namespaces:
        counts = (
            f"expected {_count(ns.expected_count)}, found {_count(ns.actual_count)}"
            if ns.expected_count is not None or ns.actual_count is not None
            else "sampled records compared; counts are not compared at this level"
        )
        if ns.equal:
            lines.append(f"  {ns.namespace}: equal ({counts})")
            continue
        if not ns.judged:
            lines.append(f"  {ns.namespace}: not judged ({counts}){': ' + ns.note if ns.note else ''}")
            continue
        found = ", ".join(f"{kind} {n:,}" for kind, n in ns.counts.items() if n)
        buckets = (
            f"{len(ns.differing_buckets)} of {result.buckets} ID buckets differ"
            if ns.differing_buckets
            else ""
        )
        details = "".join(f"; {part}" for part in (found, buckets) if part)
        lines.append(f"  {ns.namespace}: DIFFERENT ({counts}){details}")
        for difference in list(ns.differences())[:SHOWN_IDS]:
            parts = f" ({', '.join(difference.parts)})" if difference.parts else ""
            lines.append(f"    {difference.kind}: {difference.id}{parts}")
    lines.extend(f"  note: {note}" for note in result.notes)
    if result.unjudged:
        lines.append(f"  {result.unjudged}")
    return lines


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _search(
    request: MigrationRequest, source: Store, target: Store, options: dict[str, Any], stop: threading.Event
) -> None:
    from ..engine.migrate import selected_namespaces
    from ..engine.verify_search import compare_search

    namespaces = selected_namespaces(request, source.describe())
    destinations = [request.destination(ns) for ns in namespaces]
    why = []
    if request.filter:
        why.append("a filter selects the records (the target holds only those)")
    if request.namespace_from_metadata is not None:
        why.append("records are routed by metadata")
    if len(set(destinations)) < len(destinations):
        why.append("several source namespaces are merged into one")
    comparisons: list[SearchComparison] = []
    if not why:
        for namespace, destination in zip(namespaces, destinations, strict=True):
            if stop.is_set():
                break
            comparisons.append(
                compare_search(
                    source,
                    target,
                    namespace,
                    destination,
                    options["sample_size"],
                    top_k=options["top_k"],
                    stop=stop,
                )
            )
    unjudged = (
        f"the search level cannot judge this migration ({'; '.join(why)}); use --level digest"
        if why
        else None
    )
    equal = unjudged is None and all(c.equal for c in comparisons)
    body = {
        "verify": {
            "level": "search",
            "equal": equal,
            "judged": unjudged is None,
            "interrupted": stop.is_set(),
            "unjudged": unjudged,
            "namespaces": [c.to_json() for c in comparisons],
        }
    }
    lines = [f"verify (search): {'EQUAL' if equal else 'CANNOT JUDGE' if unjudged else 'DIFFERENT'}"]
    for c in comparisons:
        lines.append(
            f"  {c.namespace} -> {c.target_namespace}: {c.queries} queries, top-{c.top_k} overlap mean "
            f"{c.mean_overlap:.3f} min {c.min_overlap:.3f}, max score difference {c.max_score_difference:.2e}"
            f"{'' if c.equal else '  DIFFERENT'}"
        )
    if unjudged:
        lines.append(f"  {unjudged}")
    report_failure = write_report(options["report"], body)
    emit_summary(options["log_format"], lines, body)
    if report_failure is not None:
        fail(report_failure)
    sys.exit(exit_code(equal, unjudged is None, stop.is_set()))
