"""Running the server: in the foreground (the ``serve`` command) or in a background thread (tests, demo)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .app import build_app, one_line
from .context import STATE_KEY, ServerConfig, ServerState

MAX_URL_BYTES = 1024 * 1024


def _client_fault(error: BaseException | None) -> str | None:
    """What a client did wrong, when ``error`` is the client's doing rather than the server's."""
    if isinstance(error, ConnectionError):
        return f"client connection lost: {one_line(error)}"
    if isinstance(error, (HttpProcessingError, web.RequestPayloadError)):
        return f"malformed HTTP request refused: {one_line(error)}"
    return None


class _ClientFaultsInOneLine(logging.Filter):
    """aiohttp logs a malformed request, a body it cannot decode, or a client gone mid-response at ERROR with
    a traceback. They are the client's doing, not the server's: one line at INFO. Anything else keeps its
    traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        fault = _client_fault(record.exc_info[1] if record.exc_info else None)
        if fault is not None:
            record.msg, record.args = "%s", (fault,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


# The logger of aiohttp's HTTP protocol handler for our server (aiohttp's own default is aiohttp.server).
HTTP_LOG = logging.getLogger("pinecone_migrator.server.http")
HTTP_LOG.addFilter(_ClientFaultsInOneLine())


def _bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("the server is not listening")


async def _start(config: ServerConfig) -> tuple[web.AppRunner, int]:
    app = build_app(config)
    # A fetch carries up to 1,000 IDs in its URL: allow request lines far longer than aiohttp's 8 KB default.
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        max_line_size=MAX_URL_BYTES,
        max_field_size=MAX_URL_BYTES,
        logger=HTTP_LOG,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    return runner, _bound_port(runner)


def serve_forever(config: ServerConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM.

    Every acknowledged write is already committed, so stopping at any moment loses nothing.
    """
    import signal

    async def main() -> None:
        runner, port = await _start(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(f"http://{config.host}:{port}")
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


class BackgroundServer:
    """A server on its own event loop in a daemon thread: ``with BackgroundServer(cfg) as srv: srv.url``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="pinecone-local", daemon=True)

    @property
    def state(self) -> ServerState:
        assert self._runner is not None
        return self._runner.app[STATE_KEY]

    def start(self) -> BackgroundServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(_start(self.config), self._loop)
        self._runner, port = future.result(timeout=30)
        self.url = f"http://{self.config.host}:{port}"
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
