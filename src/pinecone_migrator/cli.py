"""The command line: a thin layer that parses options and calls the library."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
import orjson
import platformdirs

from . import __version__
from .errors import RecordsRejected, RemoteError, UserError

if TYPE_CHECKING:
    from .engine.migrate import MigrationRequest

FC = TypeVar("FC", bound=Callable[..., object])

EXIT_OK = 0
EXIT_USAGE = UserError.exit_code  # bad options or input; nothing was written
EXIT_INCOMPLETE = RemoteError.exit_code  # a remote failure stopped the run; run it again to resume
EXIT_DEAD_LETTERS = RecordsRejected.exit_code  # finished, but the target refused some records (ledger)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C / SIGTERM; run the same command again to resume


def default_server_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pinecone-migrator")) / "server"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinecone-migrator")
def cli() -> None:
    """Move Pinecone vector data completely, resumably and verifiably."""


def _rate(name: str) -> Callable[[FC], FC]:
    return click.option(
        f"--{name}",
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        help="Fraction of requests (0-1).",
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=5080, show_default=True, help="0 picks a free port."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where indexes are kept (persistent). Default: {default_server_data_dir()}",
)
@click.option("--in-memory", is_flag=True, help="Keep nothing on disk.")
@click.option(
    "--api-key",
    envvar="PINECONE_LOCAL_API_KEY",
    default=None,
    help="Require this Api-Key header (401 otherwise). Also read from PINECONE_LOCAL_API_KEY. "
    "Default: any key is accepted.",
)
@_rate("fault-429")
@_rate("fault-429-no-retry-after")
@_rate("fault-500")
@_rate("fault-503")
@_rate("fault-drop")
@click.option("--latency-ms", type=click.FloatRange(0), default=0.0, help="Added to every request.")
@click.option(
    "--visibility-delay-ms",
    type=click.FloatRange(0),
    default=0.0,
    help="Writes become visible to reads only after this long (eventual consistency).",
)
@click.option(
    "--rate-limits",
    type=click.Choice(["off", "pinecone"]),
    default="off",
    show_default=True,
    help="'pinecone' answers 429 above Pinecone's published per-operation rate limits.",
)
@click.option("--fault-seed", type=int, default=None, help="Seed for the fault dice (repeatable runs).")
@click.option(
    "--max-upsert-bytes",
    type=click.IntRange(1),
    default=None,
    help="Raise or lower the 2 MB upsert request limit (Pinecone's). Only for benchmarks and experiments.",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    in_memory: bool,
    api_key: str | None,
    fault_429: float,
    fault_429_no_retry_after: float,
    fault_500: float,
    fault_503: float,
    fault_drop: float,
    latency_ms: float,
    visibility_delay_ms: float,
    rate_limits: str,
    fault_seed: int | None,
    max_upsert_bytes: int | None,
) -> None:
    """Run a local Pinecone-compatible server (control plane and data plane on one port).

    The official SDK works against it: Pinecone(api_key="any", host="http://127.0.0.1:5080").
    Faults can also be changed while it runs: PUT /_admin/faults with a JSON object.
    """
    from .server.context import ServerConfig
    from .server.faults import FaultSettings
    from .server.runner import serve_forever

    if in_memory and data_dir is not None:
        raise click.UsageError("--in-memory and --data-dir exclude each other: choose one.")
    directory = None if in_memory else (data_dir or default_server_data_dir())
    faults = FaultSettings(
        rate_429=fault_429,
        rate_429_no_retry_after=fault_429_no_retry_after,
        rate_500=fault_500,
        rate_503=fault_503,
        drop_rate=fault_drop,
        latency_ms=latency_ms,
        visibility_delay_ms=visibility_delay_ms,
        rate_limits=None if rate_limits == "off" else rate_limits,
        seed=fault_seed,
    )
    config = ServerConfig(host=host, port=port, data_dir=directory, api_key=api_key, faults=faults)
    if max_upsert_bytes is not None:
        config.max_upsert_bytes = max_upsert_bytes
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        where = "in memory" if directory is None else f"data in {directory}"
        click.echo(f"pinecone-migrator serve: listening on {url} ({where})", err=True)
        click.echo(url, err=False)
        sys.stdout.flush()

    try:
        serve_forever(config, on_ready=ready)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror}. Choose another --port."
        ) from None


def _namespace(name: str) -> str:
    return "__default__" if name == "" else name


def _namespace_pair(item: str) -> tuple[str, str]:
    source, separator, target = item.partition("=")
    if not separator:
        raise click.UsageError(f"--namespace-map {item!r}: write it as SOURCE=TARGET.")
    return _namespace(source), _namespace(target)


def _filter_option(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise click.UsageError(
            f'--filter is not valid JSON ({error}); example: \'{{"genre": {{"$eq": "drama"}}}}\''
        ) from None
    if not isinstance(value, dict):
        raise click.UsageError('--filter must be a JSON object, e.g. \'{"year": {"$gte": 2020}}\'.')
    from .filters import FilterError, compile_filter

    try:
        compile_filter(value)
    except FilterError as error:
        raise click.UsageError(f"--filter: {error}") from None
    return value


def _api_key(variable: str, side: str) -> str:
    key = os.environ.get(variable) or click.get_current_context().meta.get("config_secrets", {}).get(side)
    if not key:
        raise click.UsageError(
            f"No API key for the {side}: set the environment variable {variable} "
            f"(or name another one with --{side}-api-key-env)."
        )
    return key


def migrate_options(function: FC) -> FC:
    """The options shared by migrate and plan."""
    for option in reversed(_MIGRATE_OPTIONS):
        function = option(function)
    return function


def _load_config_file(context: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Eager: a config file supplies defaults before the other options are read (flags and env still win)."""
    from .config import load_config, looks_like_ours
    from .errors import MigratorError

    path = value
    if path is None:
        default = Path("config.json")
        if not default.is_file():
            return
        if not looks_like_ours(default):
            click.echo("note: ignoring ./config.json: it holds no pinecone-migrator settings.", err=True)
            return
        path = default
    try:
        loaded = load_config(path)
    except MigratorError as error:
        raise click.UsageError(str(error)) from None
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    context.default_map = {**(context.default_map or {}), **loaded.defaults}
    context.meta["config_secrets"] = loaded.secrets


_MIGRATE_OPTIONS = [
    click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_load_config_file,
        help="JSON file of settings (default: ./config.json if present; the original script's keys work).",
    ),
    click.option("--source-index", required=True, help="Index to copy from."),
    click.option("--target-index", required=True, help="Index to copy to (created when missing)."),
    click.option(
        "--source-host", default=None, help="Control-plane URL of the source (default: Pinecone's cloud)."
    ),
    click.option(
        "--target-host", default=None, help="Control-plane URL of the target (default: the source's)."
    ),
    click.option("--source-api-key-env", default="PINECONE_API_KEY", show_default=True, metavar="VAR"),
    click.option("--target-api-key-env", default=None, metavar="VAR", help="Default: the source's variable."),
    click.option(
        "--namespace",
        "namespaces",
        multiple=True,
        help="Copy only this namespace (repeatable; __default__ is the default one).",
    ),
    click.option("--target-namespace", default=None, help="Copy every selected namespace into this one."),
    click.option(
        "--namespace-map", "namespace_map", multiple=True, metavar="SRC=DST", help="Rename (repeatable)."
    ),
    click.option(
        "--allow-merge", is_flag=True, help="Allow several source namespaces into one target namespace."
    ),
    click.option(
        "--namespace-from-metadata",
        default=None,
        metavar="FIELD",
        help="Route each record to the namespace named by this metadata field (one namespace per tenant).",
    ),
    click.option(
        "--fallback-namespace",
        default=None,
        help="With --namespace-from-metadata: where records without a usable field go (else: dead letters).",
    ),
    click.option(
        "--filter",
        "filter_json",
        default=None,
        metavar="JSON",
        help="Copy only records matching this filter.",
    ),
    click.option(
        "--state", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Ledger file."
    ),
    click.option("--restart", is_flag=True, help="Forget the ledger's progress and start over."),
    click.option("--no-create-target", is_flag=True, help="Refuse to create a missing target."),
    click.option("--target-cloud", default=None),
    click.option("--target-region", default=None),
    click.option(
        "--target-read-nodes",
        type=click.Choice(["b1", "t1"]),
        default=None,
        help="Create the target with dedicated read nodes of this type.",
    ),
    click.option("--target-shards", type=click.IntRange(1), default=1, show_default=True),
    click.option("--target-replicas", type=click.IntRange(1), default=1, show_default=True),
    click.option("--target-deletion-protection", is_flag=True),
    click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True),
    click.option(
        "--max-request-bytes", type=click.IntRange(10_000, 2_000_000), default=1_950_000, show_default=True
    ),
    click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write a JSON summary.",
    ),
    click.option("--quiet", is_flag=True),
]


@cli.command()
@migrate_options
@click.option("--dry-run", is_flag=True, help="Plan only: show what would move and how long it should take.")
def migrate(
    source_index: str,
    target_index: str,
    source_host: str | None,
    target_host: str | None,
    source_api_key_env: str,
    target_api_key_env: str | None,
    namespaces: tuple[str, ...],
    target_namespace: str | None,
    namespace_map: tuple[str, ...],
    allow_merge: bool,
    namespace_from_metadata: str | None,
    fallback_namespace: str | None,
    filter_json: str | None,
    state: Path | None,
    restart: bool,
    no_create_target: bool,
    target_cloud: str | None,
    target_region: str | None,
    target_deletion_protection: bool,
    target_read_nodes: str | None,
    target_shards: int,
    target_replicas: int,
    concurrency: int,
    max_request_bytes: int,
    report: Path | None,
    quiet: bool,
    dry_run: bool,
) -> None:
    """Copy every record of an index (or the namespaces named) to another index, resumably.

    Exit codes: 0 clean, 2 bad input, 3 incomplete (run again to resume), 4 finished with dead letters,
    130 interrupted (run again to resume).
    """
    from .engine.copy import CopyOptions
    from .engine.migrate import Endpoint, MigrationRequest, run_migration
    from .errors import MigratorError
    from .stores.pinecone import PineconeStore

    mapping = tuple(_namespace_pair(item) for item in namespace_map)
    if target_namespace is not None and mapping:
        raise click.UsageError("--target-namespace and --namespace-map exclude each other: choose one.")
    if namespace_from_metadata is not None and (target_namespace is not None or mapping):
        raise click.UsageError(
            "--namespace-from-metadata decides every target namespace itself: "
            "it excludes --target-namespace and --namespace-map."
        )
    if fallback_namespace is not None and namespace_from_metadata is None:
        raise click.UsageError("--fallback-namespace only applies with --namespace-from-metadata.")
    metadata_filter = _filter_option(filter_json)
    source_key = _api_key(source_api_key_env, "source")
    target_key = _api_key(target_api_key_env or source_api_key_env, "target")
    request = MigrationRequest(
        source=Endpoint(source_index, source_host),
        target=Endpoint(target_index, target_host or source_host),
        namespaces=tuple(_namespace(ns) for ns in namespaces),
        namespace_map=mapping,
        target_namespace=None if target_namespace is None else _namespace(target_namespace),
        allow_merge=allow_merge,
        filter=metadata_filter,
        namespace_from_metadata=namespace_from_metadata,
        fallback_namespace=None if fallback_namespace is None else _namespace(fallback_namespace),
        state_path=state,
        restart=restart,
        create_target=not no_create_target,
        target_cloud=target_cloud,
        target_region=target_region,
        target_deletion_protection=target_deletion_protection,
        target_read_capacity=None
        if target_read_nodes is None
        else {
            "mode": "Dedicated",
            "dedicated": {
                "node_type": target_read_nodes,
                "scaling": "Manual",
                "manual": {"shards": target_shards, "replicas": target_replicas},
            },
        },
        options=CopyOptions(concurrency=concurrency, max_request_bytes=max_request_bytes),
    )
    if dry_run:
        _print_plan(request, source_key, target_key, report)
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: leave at once; the ledger is consistent anyway
        click.echo("Stopping: finishing in-flight batches (Ctrl-C again to quit at once)...", err=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        source = PineconeStore(source_index, source_key, source_host)
        target = PineconeStore(target_index, target_key, target_host or source_host)
        summary = run_migration(request, source, target, stop)
    except MigratorError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    body = summary.to_json()
    if report is not None:
        report.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    if not quiet:
        for ns in summary.namespaces:
            expected = "?" if ns.source_count is None else f"{ns.source_count:,}"
            click.echo(
                f"{ns.namespace}: copied {ns.copied:,} of {expected}, dead letters {ns.dead_letters}, "
                f"{'done' if ns.done else 'not finished'}"
            )
        click.echo(f"total: {summary.copied:,} records in {summary.elapsed_seconds:.1f} s")
    if summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if not summary.complete:
        sys.exit(EXIT_INCOMPLETE)
    if summary.dead_letters:
        sys.exit(EXIT_DEAD_LETTERS)


@cli.command()
@migrate_options
@click.pass_context
def plan(context: click.Context, /, **options: object) -> None:
    """The same as `migrate --dry-run`: what would move, how big it is, how long it should take."""
    context.invoke(migrate, **options, dry_run=True)


def _print_plan(request: MigrationRequest, source_key: str, target_key: str, report: Path | None) -> None:
    from .engine.migrate import plan_migration
    from .errors import MigratorError
    from .stores.pinecone import PineconeStore

    try:
        source = PineconeStore(request.source.index, source_key, request.source.host)
        target = PineconeStore(request.target.index, target_key, request.target.host)
        found, target_state = plan_migration(request, source, target)
    except MigratorError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    body = {"dry_run": True, "target": target_state, **found.to_json()}
    if report is not None:
        report.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    route = f"{request.source.label()} -> {request.target.label()}"
    click.echo(f"Plan (nothing written): {route} (target {target_state})")
    for ns in found.namespaces:
        click.echo(
            f"  {ns.source} -> {ns.target}: {ns.records:,} records, ~{ns.index_bytes / 1e6:,.1f} MB "
            f"(sampled {ns.sampled}), {ns.upsert_requests:,} upserts"
        )
    click.echo(
        f"Total: {found.records:,} records, ~{found.index_bytes / 1e9:,.3f} GB; a dedicated-read-nodes index "
        f"needs {found.dedicated_shards} shard(s); requests: {found.list_requests:,} list, "
        f"{found.fetch_requests:,} fetch, {found.upsert_requests:,} upsert; at least "
        f"{found.estimated_seconds:,.0f} s under Pinecone's published rate limits."
    )


@cli.command()
@click.option("--state", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
def status(state: Path) -> None:
    """Progress of a migration ledger: per namespace, done / total, dead letters, last error."""
    from .engine.ledger import Ledger
    from .errors import MigratorError

    try:
        ledger = Ledger(state)
    except MigratorError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    try:
        units = list(ledger.units())
        dead = ledger.dead_letters()
    finally:
        ledger.close()
    if not units:
        click.echo("The ledger holds no progress yet.")
    for unit in units:
        total = "?" if unit.total_hint is None else f"{unit.total_hint:,}"
        line = (
            f"{unit.namespace}: {unit.copied:,} copied / {total} at the start, {unit.dead} dead letters, "
            f"{'done' if unit.done else 'in progress'}"
        )
        if unit.last_error:
            line += f", last error: {unit.last_error}"
        click.echo(line)
    for namespace, record_id, _, reason in dead[:20]:
        click.echo(f"dead letter {namespace}/{record_id}: {reason}")
    if len(dead) > 20:
        click.echo(f"... and {len(dead) - 20} more (table dead_letters in {state})")


def main() -> None:
    cli(auto_envvar_prefix="PINECONE_MIGRATOR")
