"""The HTTP application: middlewares (errors, API key, faults) and the routes of every plane."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from . import admin, backups, control, dataplane, imports, records_api
from .catalog import Catalog
from .context import STATE_KEY, ServerConfig, ServerState, json_response, state_of
from .errors import ApiError, Plane, unauthenticated
from .faults import FaultInjector

log = logging.getLogger("pinecone_migrator.server")

# Far above the 2 MB upsert limit so that an oversized request gets Pinecone's error, not aiohttp's.
MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def plane_of(request: web.Request) -> Plane:
    return Plane.DATA if request.path.startswith(dataplane.PREFIX) else Plane.CONTROL


def error_response(error: ApiError, plane: Plane) -> web.Response:
    return json_response(error.body(plane), status=error.status, headers=error.headers)


def one_line(error: BaseException) -> str:
    """An aiohttp protocol error as one short line (their texts span lines and quote the raw bytes)."""
    cause = error if isinstance(error, HttpProcessingError) else error.__cause__
    text = cause.message if isinstance(cause, HttpProcessingError) else str(error)
    return " ".join(text.split())[:200]


def client_gone(request: web.Request) -> bool:
    """Whether the client has closed its connection (or sent EOF, which closes it too)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _disconnected(request: web.Request) -> web.Response:
    """A client that hangs up mid-request is routine (a timeout, Ctrl-C, a killed run), not a server fault:
    one quiet line, and an answer (nginx's 499, "client closed request") that nobody will read."""
    log.info("client closed the connection during %s %s; request dropped", request.method, request.path)
    gone = ApiError(499, "CANCELLED", "The client closed the connection before the request was complete.")
    return error_response(gone, plane_of(request))


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error, plane_of(request))
    except web.HTTPException as http_error:
        if http_error.status in (404, 405):
            message = f"{request.method} {request.path} is not an operation this server knows."
            code = "NOT_FOUND" if http_error.status == 404 else "UNIMPLEMENTED"
            return error_response(ApiError(http_error.status, code, message), plane_of(request))
        raise
    except (HttpProcessingError, web.RequestPayloadError) as bad_body:
        if client_gone(request):
            return _disconnected(request)
        message = f"The request body could not be read: {one_line(bad_body)}"
        return error_response(ApiError(400, "INVALID_ARGUMENT", message), plane_of(request))
    except Exception as error:
        if isinstance(error, ConnectionError) and client_gone(request):
            return _disconnected(request)
        log.exception("internal error on %s %s", request.method, request.path)
        internal = ApiError(500, "INTERNAL", "Internal server error; see the server log.")
        return error_response(internal, plane_of(request))


@web.middleware
async def api_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = state_of(request).config.api_key
    if expected is not None and request.headers.get("Api-Key") != expected:
        raise unauthenticated()
    return await handler(request)


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(admin.PREFIX):
        return await handler(request)
    await state_of(request).faults.before_request(request)
    return await handler(request)


async def _apply_pending_writes(app: web.Application) -> AsyncIterator[None]:
    """Background task of the visibility delay: apply acknowledged writes once they are due."""
    state = app[STATE_KEY]

    async def loop() -> None:
        while True:
            for data in state.catalog.open_stores():
                data.apply_due()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    state.catalog.close()


def _grpc_listeners(state: ServerState) -> Callable[[web.Application], AsyncIterator[None]]:
    """The gRPC data plane's listeners live as long as the HTTP server, on its event loop."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        from .grpcplane.listeners import GrpcListeners  # grpc is only loaded when it is asked for

        assert state.config.grpc_port is not None
        listeners = GrpcListeners(state, state.config.host, state.config.grpc_port)
        state.catalog.watchers.append(listeners)
        await listeners.open_all()
        yield
        state.catalog.watchers.remove(listeners)
        await listeners.close_all()

    return context


def build_app(config: ServerConfig) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[errors_middleware, api_key_middleware, faults_middleware],
    )
    app[STATE_KEY] = ServerState(
        config=config, catalog=Catalog(config.data_dir), faults=FaultInjector(config.faults)
    )
    # First in, last out: the stores stay open until the background jobs below have stopped.
    app.cleanup_ctx.append(_apply_pending_writes)
    if config.grpc_port is not None:
        app.cleanup_ctx.append(_grpc_listeners(app[STATE_KEY]))
    admin.add_routes(app)
    control.add_routes(app)
    records_api.add_routes(app)  # before the data plane's catch-all for the records/* paths
    dataplane.add_routes(app)
    imports.add_routes(app)
    backups.add_routes(app)
    return app
