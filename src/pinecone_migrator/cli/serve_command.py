"""`serve`: the local Pinecone-compatible server."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import click
import platformdirs

from .app import cli
from .common import FC


def default_server_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pinecone-migrator")) / "server"


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
@click.option(
    "--rate-limit-scale",
    type=click.FloatRange(0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="With --rate-limits pinecone: enforce this multiple of the published limits (0.1 = a tenth), so "
    "that a small machine can reach them.",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also serve the data plane over gRPC, one port per index (the official SDK's gRPC client names "
    "no index in its calls): the first free ports from this one upwards, 0 for any free ports. Each index's "
    "description says where, as grpc_host; GET /_admin/grpc lists them all. Default: REST only.",
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
    rate_limit_scale: float,
    grpc_port: int | None,
    fault_seed: int | None,
    max_upsert_bytes: int | None,
) -> None:
    """Run a local Pinecone-compatible server (control plane and data plane on one port; --grpc-port adds
    the data plane over gRPC).

    The official SDK works against it: Pinecone(api_key="any", host="http://127.0.0.1:5080"). This tool's
    commands reach it with --source-host and --target-host. The URL is printed on stdout once it listens.
    Faults can also be changed while it runs: PUT /_admin/faults with a JSON object.

    \b
    Examples:
      pinecone-migrator serve
      pinecone-migrator serve --in-memory --port 0
      pinecone-migrator serve --data-dir ./rehearsal --fault-429 0.05 --latency-ms 20
      pinecone-migrator serve --in-memory --rate-limits pinecone
      pinecone-migrator serve --in-memory --rate-limits pinecone --rate-limit-scale 0.1
      pinecone-migrator serve --in-memory --port 0 --grpc-port 0

    \b
    Exit codes (the README's Safety section has the table):
      0    stopped by Ctrl-C or SIGTERM
      2    bad input, or it cannot listen (the port is taken: choose another --port)
      70   a bug: one line names it, the traceback is in the log file it prints
    """
    from ..server.context import ServerConfig
    from ..server.faults import FaultSettings
    from ..server.runner import serve_forever

    if in_memory and data_dir is not None:
        raise click.UsageError("--in-memory and --data-dir exclude each other: choose one.")
    if rate_limit_scale != 1.0 and rate_limits == "off":
        raise click.UsageError(
            f"--rate-limit-scale {rate_limit_scale:g} scales the limits of --rate-limits pinecone, which is "
            "off: add --rate-limits pinecone."
        )
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
        rate_limit_scale=rate_limit_scale,
        seed=fault_seed,
    )
    config = ServerConfig(
        host=host, port=port, data_dir=directory, api_key=api_key, faults=faults, grpc_port=grpc_port
    )
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
        if error.strerror is None:  # the gRPC listeners' own message names what to change
            raise click.ClickException(str(error)) from None
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror}. Choose another --port."
        ) from None
