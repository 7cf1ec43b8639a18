"""The control plane (create, list, describe, configure, delete indexes) in two dialects.

Pinecone changed its index model in API 2026-01.alpha / 2026-07: SDK 10.x sends and expects a ``schema`` of
typed fields and a ``deployment`` (:mod:`.control_schema`), SDK 9.x and older clients the classic
``dimension``/``metric``/``spec`` (:mod:`.control_classic`). Neither SDK can parse the other's describe reply,
so the dialect is chosen per request from the ``X-Pinecone-Api-Version`` header. Both translate to and from
:class:`IndexDefinition`, so an index created in one dialect is visible and manageable in the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import control_classic, control_schema, control_values, integrated
from .catalog import IndexDefinition, index_path, validate_tags
from .context import grpc_host_for, json_response, state_of
from .control_values import require_object
from .errors import ApiError, invalid_argument, not_found

API_VERSION_HEADER = "X-Pinecone-Api-Version"
_VERSION_RE = re.compile(r"^\d{4}-\d{2}")
IMMUTABLE = ("dimension", "metric", "vector_type")


@dataclass(frozen=True)
class Dialect:
    """How one dialect reads a create request, renders an index and reads what a configure changes."""

    definition_from_create: Callable[[dict[str, Any]], IndexDefinition]
    render: Callable[[IndexDefinition, str], dict[str, Any]]
    configure_changes: Callable[[dict[str, Any], IndexDefinition], dict[str, Any]]


SCHEMA = Dialect(
    control_schema.definition_from_create,
    control_schema.render,
    control_schema.configure_changes,
)
CLASSIC = Dialect(
    control_classic.definition_from_create,
    control_classic.render,
    control_classic.configure_changes,
)


def uses_schema_dialect(version: str) -> bool:
    """2026-01.alpha and 2026-07 onwards use the schema model; 2026-04 is still classic (as is no header)."""
    if not _VERSION_RE.match(version):
        return False
    return version.startswith("2026-01") or version[:7] >= "2026-07"


def dialect_of(request: web.Request) -> Dialect:
    return SCHEMA if uses_schema_dialect(request.headers.get(API_VERSION_HEADER, "")) else CLASSIC


def host_of(request: web.Request, name: str) -> str:
    """Where the index's data plane is: this server under the Host the client used, so any port works."""
    return f"http://{request.host}{index_path(name)}"


def describe(request: web.Request, definition: IndexDefinition) -> dict[str, Any]:
    model = dialect_of(request).render(definition, host_of(request, definition.name))
    state = state_of(request)
    if definition.name in state.catalog.initializing:
        model["status"] = {"ready": False, "state": "Initializing"}
    grpc_host = grpc_host_for(state, definition.name, request)
    if grpc_host is not None:
        # Not Pinecone's: where this server's gRPC data plane for the index listens (serve --grpc-port).
        model["grpc_host"] = grpc_host
    return model


async def request_object(request: web.Request) -> dict[str, Any]:
    """The JSON body: 400 when it is not JSON at all, 422 when it is JSON but not an object."""
    raw = await request.read()
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as error:
        raise invalid_argument(f"Failed to parse the request body as JSON: {error}") from None
    return require_object(body, "The request body")


def existing(request: web.Request) -> IndexDefinition:
    name = request.match_info["name"]
    catalog = state_of(request).catalog
    if not catalog.exists(name):
        raise not_found(f"Index {name} not found.")
    return catalog.get(name)


async def create_index(request: web.Request) -> web.Response:
    definition = dialect_of(request).definition_from_create(await request_object(request))
    state_of(request).catalog.create(definition)
    return json_response(describe(request, definition), status=201)


async def create_index_for_model(request: web.Request) -> web.Response:
    """An integrated-embedding index: both dialects send the same request, and differ in the reply."""
    definition = integrated.definition_for_model(await request_object(request))
    state_of(request).catalog.create(definition)
    return json_response(describe(request, definition), status=201)


async def list_indexes(request: web.Request) -> web.Response:
    definitions = state_of(request).catalog.list()
    return json_response({"indexes": [describe(request, definition) for definition in definitions]})


async def describe_index(request: web.Request) -> web.Response:
    return json_response(describe(request, existing(request)))


def merged_tags(current: dict[str, str] | None, patch: Any) -> dict[str, str] | None:
    """Pinecone merges configured tags into the existing ones; an empty value removes that tag."""
    merged = {**(current or {}), **require_object(patch, "tags")}
    kept = {key: value for key, value in merged.items() if value != ""}
    validate_tags(kept)
    return kept or None


def common_changes(body: dict[str, Any], definition: IndexDefinition) -> dict[str, Any]:
    """What both dialects configure the same way: deletion protection and tags."""
    for key in IMMUTABLE:
        if key in body:
            raise invalid_argument(f"{key} cannot be changed after an index is created.")
    changes: dict[str, Any] = {}
    if body.get("deletion_protection") is not None:
        changes["deletion_protection"] = control_values.parse_deletion_protection(body["deletion_protection"])
    if body.get("tags") is not None:
        changes["tags"] = merged_tags(definition.tags, body["tags"])
    return changes


async def configure_index(request: web.Request) -> web.Response:
    definition = existing(request)
    body = await request_object(request)
    changes = common_changes(body, definition)
    changes.update(dialect_of(request).configure_changes(body, definition))
    updated = state_of(request).catalog.update(definition.name, **changes)
    return json_response(describe(request, updated), status=202)


async def delete_index(request: web.Request) -> web.Response:
    definition = existing(request)
    if definition.deletion_protection == "enabled":
        # 403 FORBIDDEN with this message is what both specs document (SDKs raise ForbiddenError).
        raise ApiError(
            403,
            "FORBIDDEN",
            "Deletion protection is enabled for this index. Disable deletion protection before retrying.",
        )
    state_of(request).catalog.delete(definition.name)
    return web.Response(status=202)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/indexes", create_index)
    router.add_post("/indexes/create-for-model", create_index_for_model)
    router.add_get("/indexes", list_indexes)
    router.add_get("/indexes/{name}", describe_index)
    router.add_patch("/indexes/{name}", configure_index)
    router.add_delete("/indexes/{name}", delete_index)
