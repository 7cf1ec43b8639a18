"""One gRPC listener per index, opened while the index exists.

The official SDK's gRPC client drops any path of the host it is given and speaks ``/VectorService/<Method>``
with no index in the call, so the index must be told apart by where the call arrives: its own port. The
port is bound (and listening) as soon as the index is created, before its description (``grpc_host``) is
answered, so a client never races its listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import grpc

from ..context import ServerState
from .service import IndexService

log = logging.getLogger("pinecone_migrator.server.grpc")

# Far above the 2 MB upsert limit, so that an oversized upsert gets Pinecone's error rather than gRPC's.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_OPTIONS = [
    # gRPC sets SO_REUSEPORT by default, which would let two listeners share a port and split its calls.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
MAX_PORT = 65535


class GrpcListeners:
    """Opens and closes the listeners as the catalog creates and deletes indexes (a CatalogWatcher)."""

    def __init__(self, state: ServerState, host: str, first_port: int) -> None:
        self.state = state
        self.host = host
        self.first_port = first_port
        self.servers: dict[str, grpc.aio.Server] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def open_all(self) -> None:
        for name in self.state.catalog.names():
            self.index_created(name)
        await self.settle()

    def index_created(self, name: str) -> None:
        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((IndexService(self.state, name).handler(),))
        port = self._bind(server, name)
        self.servers[name] = server
        self.state.grpc_hosts[name] = f"{self.host}:{port}"  # rsplit(":", 1) gives the port back
        self._track(server.start())
        log.info("index %s: gRPC data plane on %s:%d", name, self.host, port)

    def index_deleted(self, name: str) -> None:
        server = self.servers.pop(name, None)
        self.state.grpc_hosts.pop(name, None)
        if server is not None:
            self._track(server.stop(grace=None))

    async def settle(self) -> None:
        """Wait until every listener opened or closed so far has started or stopped."""
        while self._pending:
            await asyncio.gather(*self._pending)

    async def close_all(self) -> None:
        for name in list(self.servers):
            self.index_deleted(name)
        await self.settle()

    def _bind(self, server: grpc.aio.Server, name: str) -> int:
        bind = f"[{self.host}]" if ":" in self.host else self.host
        if self.first_port == 0:
            return int(server.add_insecure_port(f"{bind}:0"))
        taken = {int(address.rsplit(":", 1)[1]) for address in self.state.grpc_hosts.values()}
        for port in range(self.first_port, MAX_PORT + 1):
            if port in taken:
                continue
            try:
                return int(server.add_insecure_port(f"{bind}:{port}"))
            except RuntimeError:
                continue  # in use by another process
        raise OSError(f"no free port from {self.first_port} upwards for the gRPC listener of index {name}")

    def _track(self, step: Awaitable[None]) -> None:
        task = asyncio.ensure_future(step)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
