"""One gRPC listener per index, opened while the index exists.

The official SDK's gRPC client drops any path of the host it is given and speaks ``/VectorService/<Method>``
with no index in the call, so the index must be told apart by where the call arrives: its own port. The
port is bound (and listening) as soon as the index is created, before its description (``grpc_host``) is
answered, so a client never races its listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc

from ..context import ServerState
from ..errors import ApiError
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


@dataclass
class Listener:
    server: grpc.aio.Server
    started: asyncio.Future[None]

    async def stop(self) -> None:
        """Only once started: grpc.aio crashes the process (SIGSEGV) when a stop overlaps a start."""
        with contextlib.suppress(Exception):
            await self.started
        await self.server.stop(grace=None)


class GrpcListeners:
    """Opens and closes the listeners as the catalog creates and deletes indexes (a CatalogWatcher)."""

    def __init__(self, state: ServerState, host: str, first_port: int) -> None:
        self.state = state
        self.host = host
        self.first_port = first_port
        self.servers: dict[str, Listener] = {}
        self._pending: set[asyncio.Future[None]] = set()

    async def open_all(self) -> None:
        """The listeners of the indexes the server starts with; OSError when there are not enough ports."""
        try:
            for name in self.state.catalog.names():
                self.index_created(name)
        except ApiError as error:
            await self.close_all()
            raise OSError(error.message) from None
        await self.settle()

    def index_created(self, name: str) -> None:
        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((IndexService(self.state, name).handler(),))
        try:
            port = self._bind(server, name)
        except ApiError:
            self._track(server.stop(grace=None))  # a server left to the garbage collector can crash it
            raise
        self.servers[name] = Listener(server, self._track(server.start()))
        self.state.grpc_hosts[name] = f"{self.host}:{port}"  # rsplit(":", 1) gives the port back
        log.info("index %s: gRPC data plane on %s:%d", name, self.host, port)

    def index_deleted(self, name: str) -> None:
        listener = self.servers.pop(name, None)
        self.state.grpc_hosts.pop(name, None)
        if listener is not None:
            self._track(listener.stop())

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
                bound = int(server.add_insecure_port(f"{bind}:{port}"))
            except RuntimeError:
                continue  # in use by another process
            if bound:  # older grpcio answer 0 instead of raising
                return bound
        # 403 as for Pinecone's "max indexes" quota: this server cannot hold one more index.
        raise ApiError(
            403,
            "FORBIDDEN",
            f"No free port from {self.first_port} to {MAX_PORT} for the gRPC listener of index {name!r}: "
            "delete an index, or restart the server with a lower --grpc-port (0 takes any free port).",
        )

    def _track(self, step: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(step)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task
