"""Bulk imports of an index's data plane (``/bulk/imports``): start, describe, list (paginated), cancel.

The jobs themselves are in :mod:`.import_jobs`, what they read in :mod:`.import_source`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .catalog import IndexDefinition
from .context import STATE_KEY, json_response
from .dataplane import PREFIX
from .errors import failed_precondition, invalid_argument
from .import_jobs import ERROR_MODES, ImportRegistry
from .import_source import check_uri
from .jobs import page
from .validation import json_object, unknown_index

IMPORTS_KEY: web.AppKey[ImportRegistry] = web.AppKey("imports", ImportRegistry)


def _target(request: web.Request) -> tuple[ImportRegistry, IndexDefinition]:
    name = request.match_info["index"]
    catalog = request.app[STATE_KEY].catalog
    if not catalog.exists(name):
        raise unknown_index(name)
    return request.app[IMPORTS_KEY], catalog.get(name)


def _error_mode(value: Any) -> str:
    if value is None:
        return "abort"
    if not isinstance(value, dict):
        raise invalid_argument('errorMode must be an object like {"onError": "continue"}.')
    mode = value.get("onError")
    if mode is None:
        return "abort"
    if mode not in ERROR_MODES:
        raise invalid_argument(f"errorMode.onError must be 'abort' or 'continue', not {mode!r}.")
    return str(mode)


async def start_import(request: web.Request) -> web.Response:
    registry, definition = _target(request)
    body = json_object(await request.read())
    uri = check_uri(body.get("uri"))
    mode = _error_mode(body.get("errorMode"))
    integration = body.get("integrationId")
    if integration is not None and not isinstance(integration, str):
        raise invalid_argument("integrationId must be a string.")
    if definition.is_pod:
        raise invalid_argument(
            "Bulk import is only supported for serverless indexes; this index is pod-based."
        )
    if definition.is_dedicated:
        raise failed_precondition(
            f"Index {definition.name} runs on dedicated read nodes, which do not support bulk imports."
        )
    job = registry.start(definition, uri, mode, integration)
    return json_response({"id": job.id})


async def describe_import(request: web.Request) -> web.Response:
    registry, definition = _target(request)
    return json_response(registry.get(definition, request.match_info["id"]).render())


async def list_imports(request: web.Request) -> web.Response:
    registry, definition = _target(request)
    shown, pagination = page(registry.of_index(definition), request.query, "imports", default_limit=100)
    body: dict[str, Any] = {"data": [job.render() for job in shown]}
    if pagination is not None:
        body["pagination"] = pagination
    return json_response(body)


async def cancel_import(request: web.Request) -> web.Response:
    registry, definition = _target(request)
    registry.cancel(registry.get(definition, request.match_info["id"]))
    return json_response({})


def add_routes(app: web.Application) -> None:
    registry = ImportRegistry(app[STATE_KEY])
    app[IMPORTS_KEY] = registry
    app.cleanup_ctx.append(registry.lifetime)
    base = PREFIX + "{index}/bulk/imports"
    app.router.add_post(base, start_import)
    app.router.add_get(base, list_imports)
    app.router.add_get(base + "/{id}", describe_import)
    app.router.add_delete(base + "/{id}", cancel_import)
