"""What every request handler shares: the server's configuration and state, and JSON responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from .catalog import Catalog
from .faults import FaultInjector, FaultSettings
from .validation import MAX_UPSERT_BYTES


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 5080
    data_dir: Path | None = None  # None: in memory
    api_key: str | None = None
    faults: FaultSettings = field(default_factory=FaultSettings)
    # Pinecone's limit; raising it makes the server less faithful and exists for benchmarks only.
    max_upsert_bytes: int = MAX_UPSERT_BYTES
    # The data plane over gRPC too, one listener per index: None = off, 0 = ephemeral ports, P = the first
    # free ports from P upwards.
    grpc_port: int | None = None


@dataclass
class ServerState:
    config: ServerConfig
    catalog: Catalog
    faults: FaultInjector
    # index name -> "host:port" of its gRPC listener (empty while gRPC is off).
    grpc_hosts: dict[str, str] = field(default_factory=dict)


STATE_KEY: web.AppKey[ServerState] = web.AppKey("state", ServerState)

WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def grpc_host_for(state: ServerState, name: str, request: web.Request) -> str | None:
    """Where a client reaches the index's gRPC listener: its address, or, when the server listens on every
    interface, the host name this client used to reach the server."""
    address = state.grpc_hosts.get(name)
    if address is None:
        return None
    host, port = address.rsplit(":", 1)
    if host in WILDCARD_HOSTS:
        host = request.url.raw_host or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
    return f"{host}:{port}"


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
        headers=headers,
    )
