"""`plan` (and `migrate --dry-run`): what would move, and each way of moving it compared."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from ..statelock import check_writable
from .app import cli
from .common import fail, user_errors, write_report
from .migrate_command import copy_request, write_options
from .options import index_store, index_stores, selection_options

if TYPE_CHECKING:
    from ..engine.migrate.paths import PathEstimate
    from ..engine.workflows.plan import PathPlan, PathSettings
    from ..prices import Prices
    from ..stores.fidelity import Fidelity


@cli.command()
@selection_options
@write_options
@click.option(
    "--bucket",
    default=None,
    metavar="URI",
    help="Object storage Pinecone can read (s3://, gs://, Azure): makes export -> bulk import a path.",
)
@click.option(
    "--integration-id", default=None, help="The storage integration through which Pinecone reads --bucket."
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="JSON or TOML figures in place of the built-in list prices (keys as in docs/plan.md, e.g. "
    "usd_per_million_read_units).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (the same figures).")
def plan(**options: Any) -> None:
    """What a migration would move, and each way to move it compared: streaming copy, native backup ->
    restore, export -> bulk import — allowed here or not (and why), estimated time and cost — and the one
    recommended (the least estimated time among the allowed ones).

    Writes nothing (no target is created); takes migrate's options. Times come from the measured round
    trips, the sizes and Pinecone's published rate limits; costs are estimates at list prices (see the
    date shown), never a bill.

    \b
    Examples:
      pinecone-migrator plan --source-index docs --target-index docs-v2
      pinecone-migrator plan --source-index docs --target-index docs-v2 --bucket s3://mv --integration-id s3
      pinecone-migrator plan --source-index docs --target-index docs-v2 --prices prices.toml --json
      pinecone-migrator plan --source-index docs --target-index docs-v2 --source-host http://127.0.0.1:5080

    \b
    Exit codes (the README's Safety section has the table):
      0    planned
      2    bad input (options, credentials, a target that does not fit, a malformed --prices file)
      3    a remote failure stopped it; run it again
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    from ..engine.workflows.plan import plan_paths

    request = copy_request(options)
    with user_errors():
        report = options["report"]
        if report is not None:
            check_writable(report, "The --report file")
        settings = _settings(options)
        source, target = index_stores(request, options)
        if not (request.source.uri or request.target.uri):
            # Both Pinecone indexes: does the target's key see the source (one project: backups can go)?
            seen = index_store(
                "target",
                request.source.index,
                request.target.host,
                options["target_api_key_env"] or options["source_api_key_env"],
            )
            transport = getattr(source, "transport", None)
            settings = replace(
                settings,
                source_as_target_sees_it=seen,
                split_fetch=None if transport is None else transport.fetch_batches,
            )
        planned = plan_paths(request, source, target, settings)
    body = planned.to_json()
    failure = write_report(report, body)
    if failure is not None:
        fail(failure)
    if options["as_json"]:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    route = f"{request.source.label()} -> {request.target.label()}"
    click.echo(f"Plan (nothing written): {route} (target {planned.target_state})")
    for line in plan_lines(planned):
        click.echo(line)
    for line in fidelity_lines(planned.fidelity):
        click.echo(line)


def fidelity_lines(fidelity: Fidelity) -> list[str]:
    """What the target does not hold exactly, and whether the run needs --accept-changes."""
    if not fidelity.changes:
        return ["Fidelity: the target holds every record exactly."]
    lines = ["Fidelity: what the target does not hold exactly:"]
    lines += [f"  - {line}" for line in fidelity.summary()]
    if fidelity.lossy:
        lines.append(
            f"Records would change ({', '.join(fidelity.names())}): "
            "the run is refused without --accept-changes."
        )
    return lines


def _settings(options: dict[str, Any]) -> PathSettings:
    from ..engine.migrate.paths import ImportRules
    from ..engine.workflows.plan import PathSettings
    from ..prices import DEFAULT_PRICES, load_prices
    from ..stores.files import DEFAULT_ROWS_PER_FILE
    from ..stores.files.parquet_layout import MAX_FILE_BYTES, MAX_FILES, MAX_NAMESPACES

    prices_file = options["prices_file"]
    return PathSettings(
        ImportRules(MAX_NAMESPACES, MAX_FILES, MAX_FILE_BYTES, DEFAULT_ROWS_PER_FILE),
        prices=DEFAULT_PRICES if prices_file is None else load_prices(prices_file),
        bucket=options["bucket"],
        integration_id=options["integration_id"],
    )


def plan_lines(planned: PathPlan) -> list[str]:
    """The plan in words: per namespace, the totals, then the paths as a table and the recommendation."""
    found, trips, comparison = planned.plan, planned.trips, planned.comparison
    lines = [
        f"  {ns.source} -> {ns.target}: {ns.records:,} records, ~{ns.index_bytes / 1e6:,.1f} MB "
        f"(sampled {ns.sampled}), {ns.upsert_requests:,} upserts"
        for ns in found.namespaces
    ]
    into = found.target_namespaces
    one = f"namespace {into[0]!r}" if len(into) == 1 else f"{len(into)} namespaces"
    lines.append(
        f"Total: {found.records:,} records, ~{found.index_bytes / 1e9:,.3f} GB into {one}; a "
        f"dedicated-read-nodes index needs {found.dedicated_shards} shard(s); requests: "
        f"{found.list_requests:,} list, {found.fetch_requests:,} fetch, {found.upsert_requests:,} upsert."
    )
    lines.append(
        f"Round trip measured: source {trips.source * 1000:,.1f} ms, target {trips.target * 1000:,.1f} ms "
        f"({trips.target_measured_by})."
    )
    lines.append(f"Paths ({comparison.prices.label()}):")
    lines.extend(_table(list(comparison.paths), comparison.prices))
    best = comparison.recommended
    chosen = "none" if best is None else best.name
    lines.append(f"Recommended: {chosen}: {comparison.reason()}.")
    lines.append(
        "Backup, restore and import speeds are assumptions (Pinecone publishes none); streaming times are "
        "lower bounds."
    )
    return lines


def _table(paths: list[PathEstimate], prices: Prices) -> list[str]:
    """One row per path; its reasons (the why column) one per line."""
    rows = [("path", "allowed", "time", "cost", ["why"])] + [
        (p.name, "yes" if p.legal else "no", duration(p.seconds), money(p.cost.usd(prices)), _why(p))
        for p in paths
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for name, allowed, took, cost, reasons in rows:
        cells = "  ".join(
            cell.ljust(width) for cell, width in zip((name, allowed, took, cost), widths, strict=True)
        )
        lines.append(f"  {cells}  {reasons[0]}")
        lines.extend(f"  {' ' * len(cells)}  {reason}" for reason in reasons[1:])
    return lines


def _why(path: PathEstimate) -> list[str]:
    if not path.legal:
        return [f"not allowed: {reason}" for reason in path.not_legal]
    return [f"bound by {path.bound_by}", *path.notes]


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"~{seconds:.2g} s"
    if seconds < 60:
        return f"~{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"~{minutes} min {rest:02d} s"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"~{hours} h {minutes:02d} min"
    return f"~{seconds / 86400:,.1f} days"


def money(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"
