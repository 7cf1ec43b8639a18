"""The control plane, in two dialects chosen per request by ``X-Pinecone-Api-Version``.

* **schema** (2026-01 and later; SDK 10.x sends 2026-07): indexes are described by ``schema.fields`` (a
  ``dense_vector`` or ``sparse_vector`` field among others) and a ``deployment``.
* **classic** (anything older, or no header; SDK 9.x sends 2025-10): ``dimension``, ``metric``,
  ``vector_type`` and a ``spec`` with ``serverless`` or ``pod``.

Both translate to and from :class:`IndexDefinition`, so an index created in one is visible in the other.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .catalog import IndexDefinition, index_path, validate_tags
from .context import json_response, state_of
from .errors import ApiError, invalid_argument
from .validation import json_object

SCHEMA_DIALECT_FROM = "2026-01"
DEFAULT_DEPLOYMENT = {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
NODE_TYPES = ("b1", "t1")


def uses_schema_dialect(request: web.Request) -> bool:
    return request.headers.get("X-Pinecone-Api-Version", "") >= SCHEMA_DIALECT_FROM


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "UNPROCESSABLE_ENTITY", message)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise unprocessable(f"{what} must be a JSON object.")
    return value


# -- read capacity -----------------------------------------------------------------------------------------


def read_capacity_request(value: Any) -> dict[str, Any] | None:
    """Validate a requested read capacity (OnDemand, or Dedicated with node type and manual scaling)."""
    if value is None:
        return None
    capacity = _object(value, "read_capacity")
    mode = capacity.get("mode")
    if mode == "OnDemand":
        return {"mode": "OnDemand"}
    if mode != "Dedicated":
        raise invalid_argument("read_capacity.mode must be 'OnDemand' or 'Dedicated'.")
    dedicated = _object(capacity.get("dedicated"), "read_capacity.dedicated")
    if dedicated.get("node_type") not in NODE_TYPES:
        raise invalid_argument("read_capacity.dedicated.node_type must be 'b1' or 't1'.")
    scaling = dedicated.get("scaling", "Manual")
    if scaling != "Manual":
        raise invalid_argument("read_capacity.dedicated.scaling must be 'Manual'.")
    manual = _object(dedicated.get("manual", {"shards": 1, "replicas": 1}), "read_capacity.dedicated.manual")
    for key in ("shards", "replicas"):
        number = manual.get(key)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise invalid_argument(f"read_capacity.dedicated.manual.{key} must be a positive integer.")
    return {
        "mode": "Dedicated",
        "dedicated": {
            "node_type": dedicated["node_type"],
            "scaling": "Manual",
            "manual": {"shards": manual["shards"], "replicas": manual["replicas"]},
        },
    }


def read_capacity_response(capacity: dict[str, Any] | None) -> dict[str, Any]:
    if capacity is None or capacity.get("mode") != "Dedicated":
        return {"mode": "OnDemand", "status": {"state": "Ready"}}
    manual = capacity["dedicated"]["manual"]
    return {
        **capacity,
        "status": {
            "state": "Ready",
            "current_shards": manual["shards"],
            "current_replicas": manual["replicas"],
        },
    }


# -- deployments -------------------------------------------------------------------------------------------


def _pod_deployment(pod: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(pod.get("environment"), str) or not isinstance(pod.get("pod_type"), str):
        raise unprocessable("A pod deployment needs 'environment' and 'pod_type'.")
    replicas = pod.get("replicas", 1)
    shards = pod.get("shards", 1)
    for key, number in (("replicas", replicas), ("shards", shards)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise invalid_argument(f"pod {key} must be a positive integer.")
    return {
        "deployment_type": "pod",
        "environment": pod["environment"],
        "pod_type": pod["pod_type"],
        "replicas": replicas,
        "shards": shards,
    }


def deployment_request(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_DEPLOYMENT)
    deployment = _object(value, "deployment")
    kind = deployment.get("deployment_type", "managed")
    if kind == "managed":
        cloud, region = deployment.get("cloud"), deployment.get("region")
        if not isinstance(cloud, str) or not isinstance(region, str):
            raise unprocessable("A managed deployment needs 'cloud' and 'region'.")
        return {"deployment_type": "managed", "cloud": cloud, "region": region}
    if kind == "pod":
        return _pod_deployment(deployment)
    raise invalid_argument(f"deployment_type {kind!r} is not supported by the local server (managed or pod).")


def _environment(deployment: dict[str, Any]) -> str:
    return f"{deployment['region']}-{deployment['cloud']}"


# -- schema dialect ----------------------------------------------------------------------------------------


def definition_from_schema_request(body: dict[str, Any]) -> IndexDefinition:
    schema = _object(body.get("schema"), "schema")
    fields = _object(schema.get("fields"), "schema.fields")
    vector_fields = {
        name: _object(field, f"schema.fields.{name}")
        for name, field in fields.items()
        if isinstance(field, dict) and field.get("type") in ("dense_vector", "sparse_vector")
    }
    if len(vector_fields) != 1:
        raise invalid_argument(
            "The local server needs exactly one dense_vector or sparse_vector field in schema.fields "
            f"(got {len(vector_fields)}); integrated embedding and full-text indexes are not supported."
        )
    (field_name, field), *_ = vector_fields.items()
    extra = {name: value for name, value in fields.items() if name != field_name}
    if field["type"] == "dense_vector":
        vector_type, dimension, metric = "dense", field.get("dimension"), field.get("metric", "cosine")
    else:
        vector_type, dimension, metric = "sparse", None, field.get("metric", "dotproduct")
    return IndexDefinition(
        name=_name(body),
        vector_type=vector_type,
        dimension=dimension,
        metric=metric,
        deployment=deployment_request(body.get("deployment")),
        deletion_protection=body.get("deletion_protection") or "disabled",
        tags=_tags(body.get("tags")),
        read_capacity=read_capacity_request(body.get("read_capacity")),
        vector_field=field_name,
        extra_schema_fields=extra,
    )


def schema_model(definition: IndexDefinition, request: web.Request) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "dense_vector" if definition.vector_type == "dense" else "sparse_vector"}
    if definition.vector_type == "dense":
        field.update(dimension=definition.dimension, metric=definition.metric)
    deployment = dict(definition.deployment)
    if deployment["deployment_type"] == "managed":
        deployment["environment"] = _environment(deployment)
    model: dict[str, Any] = {
        "name": definition.name,
        "host": _host(definition, request),
        "status": {"ready": True, "state": "Ready"},
        "deployment": deployment,
        "schema": {"fields": {definition.vector_field: field, **definition.extra_schema_fields}},
        "deletion_protection": definition.deletion_protection,
        "tags": definition.tags,
    }
    if not definition.is_pod:
        model["read_capacity"] = read_capacity_response(definition.read_capacity)
    return model


# -- classic dialect ---------------------------------------------------------------------------------------


def definition_from_classic_request(body: dict[str, Any]) -> IndexDefinition:
    spec = _object(body.get("spec"), "spec")
    read_capacity = None
    if "serverless" in spec:
        serverless = _object(spec["serverless"], "spec.serverless")
        deployment = deployment_request({"deployment_type": "managed", **serverless})
        read_capacity = read_capacity_request(serverless.get("read_capacity"))
    elif "pod" in spec:
        deployment = _pod_deployment(_object(spec["pod"], "spec.pod"))
    else:
        raise unprocessable("spec must contain 'serverless' or 'pod'.")
    vector_type = body.get("vector_type") or "dense"
    return IndexDefinition(
        name=_name(body),
        vector_type=vector_type,
        dimension=body.get("dimension"),
        metric=body.get("metric") or ("dotproduct" if vector_type == "sparse" else "cosine"),
        deployment=deployment,
        deletion_protection=body.get("deletion_protection") or "disabled",
        tags=_tags(body.get("tags")),
        read_capacity=read_capacity,
    )


def classic_model(definition: IndexDefinition, request: web.Request) -> dict[str, Any]:
    deployment = definition.deployment
    if definition.is_pod:
        spec: dict[str, Any] = {
            "pod": {
                "environment": deployment["environment"],
                "pod_type": deployment["pod_type"],
                "replicas": deployment["replicas"],
                "shards": deployment["shards"],
                "pods": deployment["replicas"] * deployment["shards"],
            }
        }
    else:
        spec = {
            "serverless": {
                "cloud": deployment["cloud"],
                "region": deployment["region"],
                "read_capacity": read_capacity_response(definition.read_capacity),
            }
        }
    model: dict[str, Any] = {
        "name": definition.name,
        "metric": definition.metric,
        "host": _host(definition, request),
        "spec": spec,
        "status": {"ready": True, "state": "Ready"},
        "vector_type": definition.vector_type,
        "deletion_protection": definition.deletion_protection,
        "tags": definition.tags,
    }
    if definition.dimension is not None:
        model["dimension"] = definition.dimension
    return model


# -- shared ------------------------------------------------------------------------------------------------


def _name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise unprocessable("name is required and must be a string.")
    return name


def _tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    tags = _object(value, "tags")
    validate_tags(tags)
    return dict(tags) or None


def _host(definition: IndexDefinition, request: web.Request) -> str:
    return f"http://{request.host}{index_path(definition.name)}"


def model_of(definition: IndexDefinition, request: web.Request) -> dict[str, Any]:
    if uses_schema_dialect(request):
        return schema_model(definition, request)
    return classic_model(definition, request)


async def create_index(request: web.Request) -> web.Response:
    body = json_object(await request.read())
    if uses_schema_dialect(request):
        definition = definition_from_schema_request(body)
    else:
        definition = definition_from_classic_request(body)
    state_of(request).catalog.create(definition)
    return json_response(model_of(definition, request), status=201)


async def list_indexes(request: web.Request) -> web.Response:
    catalog = state_of(request).catalog
    return json_response({"indexes": [model_of(d, request) for d in catalog.list()]})


async def describe_index(request: web.Request) -> web.Response:
    definition = state_of(request).catalog.get(request.match_info["name"])
    return json_response(model_of(definition, request))


def _configure_changes(
    body: dict[str, Any], definition: IndexDefinition, schema_dialect: bool
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.get("deletion_protection") is not None:
        changes["deletion_protection"] = body["deletion_protection"]
    if body.get("tags") is not None:
        # Pinecone merges tags; an empty value removes a tag.
        merged = {**(definition.tags or {}), **_object(body["tags"], "tags")}
        changes["tags"] = {k: v for k, v in merged.items() if v != ""} or None
    capacity_source: Any = body.get("read_capacity")
    deployment_patch: Any = body.get("deployment")
    if not schema_dialect:
        spec = body.get("spec")
        if spec is not None:
            spec = _object(spec, "spec")
            if "serverless" in spec:
                capacity_source = _object(spec["serverless"], "spec.serverless").get("read_capacity")
            if "pod" in spec:
                deployment_patch = spec["pod"]
    if capacity_source is not None:
        if definition.is_pod:
            raise invalid_argument("Read capacity applies to serverless indexes only.")
        changes["read_capacity"] = read_capacity_request(capacity_source)
    if deployment_patch is not None:
        patch = _object(deployment_patch, "deployment")
        if not definition.is_pod:
            raise invalid_argument("Only pod-based indexes accept replicas or pod_type changes.")
        updated = dict(definition.deployment)
        for key in ("replicas", "pod_type"):
            if key in patch:
                updated[key] = patch[key]
        changes["deployment"] = _pod_deployment(updated)
    if schema_dialect and body.get("schema") is not None:
        fields = _object(_object(body["schema"], "schema").get("fields"), "schema.fields")
        if definition.vector_field in fields:
            raise invalid_argument("The vector field of an index cannot be changed.")
        changes["extra_schema_fields"] = {**definition.extra_schema_fields, **fields}
    for key in ("dimension", "metric", "vector_type"):
        if key in body:
            raise invalid_argument(f"{key} cannot be changed after an index is created.")
    return changes


async def configure_index(request: web.Request) -> web.Response:
    catalog = state_of(request).catalog
    definition = catalog.get(request.match_info["name"])
    body = json_object(await request.read())
    changes = _configure_changes(body, definition, uses_schema_dialect(request))
    updated = catalog.update(definition.name, **changes)
    return json_response(model_of(updated, request), status=202 if not uses_schema_dialect(request) else 200)


async def delete_index(request: web.Request) -> web.Response:
    catalog = state_of(request).catalog
    definition = catalog.get(request.match_info["name"])
    if definition.deletion_protection == "enabled":
        raise ApiError(
            403,
            "FORBIDDEN",
            "Deletion protection is enabled for this index. Disable deletion protection before retrying.",
        )
    catalog.delete(definition.name)
    return web.Response(status=202)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/indexes", create_index)
    router.add_get("/indexes", list_indexes)
    router.add_get("/indexes/{name}", describe_index)
    router.add_patch("/indexes/{name}", configure_index)
    router.add_delete("/indexes/{name}", delete_index)
