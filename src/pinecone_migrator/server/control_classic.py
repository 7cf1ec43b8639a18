"""The classic control-plane dialect (API 2025-10 and 2026-04, spoken by SDK 9.x and older clients).

An index is ``dimension``, ``metric`` and ``vector_type`` plus a ``spec`` with ``serverless`` or ``pod``.
Requests are translated into the deployment form the catalog keeps (see :mod:`.control_schema`), and a
definition created in either dialect is rendered back as a 2025-10 ``IndexModel``.
"""

from __future__ import annotations

from typing import Any

from .catalog import IndexDefinition
from .control_schema import READY, patch_pod, patch_read_capacity, pod_deployment
from .control_values import (
    DENSE_FIELD,
    SPARSE_FIELD,
    managed_deployment,
    optional_int,
    parse_deletion_protection,
    parse_read_capacity,
    parse_tags,
    render_read_capacity,
    require_object,
    require_string,
    unprocessable,
)
from .errors import invalid_argument
from .integrated import classic_embed, patch_classic_embed

SPEC_KINDS = ("serverless", "pod", "byoc")
RESERVED_FIELD_NAMES = ("_id", DENSE_FIELD, SPARSE_FIELD)


def definition_from_create(body: dict[str, Any]) -> IndexDefinition:
    if body.get("embed") is not None:
        raise invalid_argument(
            "embed is not a field of create_index: create an integrated index with create-for-model "
            "(SDK: create_index_for_model)."
        )
    name = require_string(body.get("name"), "name")
    kind, spec = _spec(body.get("spec"))
    if spec.get("source_collection") is not None:
        raise invalid_argument("source_collection is not supported by the local server.")
    if kind == "byoc":
        raise invalid_argument("BYOC indexes are not supported by the local server.")
    vector_type = _optional_string(body.get("vector_type"), "vector_type") or "dense"
    default_metric = "dotproduct" if vector_type == "sparse" else "cosine"
    read_capacity, extra_fields = None, {}
    if kind == "serverless":
        deployment = managed_deployment(spec.get("cloud"), spec.get("region"))
        read_capacity = parse_read_capacity(spec.get("read_capacity"))
        extra_fields = _metadata_fields(spec.get("schema"))
    else:
        deployment = pod_deployment(spec)
    return IndexDefinition(
        name=name,
        vector_type=vector_type,
        dimension=optional_int(body.get("dimension"), "dimension"),
        metric=_optional_string(body.get("metric"), "metric") or default_metric,
        deployment=deployment,
        deletion_protection=parse_deletion_protection(body.get("deletion_protection")),
        tags=parse_tags(body.get("tags")),
        read_capacity=read_capacity,
        vector_field=SPARSE_FIELD if vector_type == "sparse" else DENSE_FIELD,
        extra_schema_fields=extra_fields,
    )


def _optional_string(value: Any, what: str) -> str | None:
    return None if value is None else require_string(value, what)


def _spec(value: Any) -> tuple[str, dict[str, Any]]:
    """The one deployment kind a spec names, and its settings."""
    spec = require_object(value, "spec")
    kinds = [kind for kind in SPEC_KINDS if spec.get(kind) is not None]
    if len(kinds) != 1:
        raise unprocessable("spec must contain exactly one of 'serverless', 'pod' or 'byoc'.")
    return kinds[0], require_object(spec[kinds[0]], f"spec.{kinds[0]}")


def _metadata_fields(value: Any) -> dict[str, Any]:
    """A serverless metadata schema (``{"fields": {name: {"filterable": true}}}``) as extra schema fields."""
    if value is None:
        return {}
    fields = require_object(require_object(value, "spec.serverless.schema").get("fields"), "schema.fields")
    for name, field in fields.items():
        if name in RESERVED_FIELD_NAMES:
            raise invalid_argument(f"schema.fields.{name}: the name is reserved.")
        if require_object(field, f"schema.fields.{name}").get("filterable") is not True:
            raise invalid_argument(f"schema.fields.{name}: only 'filterable: true' is supported.")
    return {name: {"filterable": True} for name in fields}


def render(definition: IndexDefinition, host: str) -> dict[str, Any]:
    """The 2025-10 ``IndexModel``."""
    model: dict[str, Any] = {
        "name": definition.name,
        "metric": definition.metric,
        "host": host,
        "spec": _render_pod(definition) if definition.is_pod else _render_serverless(definition),
        "status": dict(READY),
        "vector_type": definition.vector_type,
        "deletion_protection": definition.deletion_protection,
        "tags": definition.tags,
    }
    if definition.dimension is not None:
        model["dimension"] = definition.dimension
    if definition.embed is not None:
        model["embed"] = classic_embed(definition.embed)
    return model


def _render_serverless(definition: IndexDefinition) -> dict[str, Any]:
    deployment = definition.deployment
    serverless: dict[str, Any] = {
        "cloud": deployment["cloud"],
        "region": deployment["region"],
        "read_capacity": render_read_capacity(definition.read_capacity),
    }
    filterable = {
        name: {"filterable": True}
        for name, field in definition.extra_schema_fields.items()
        if field.get("filterable") is True
    }
    if filterable:
        serverless["schema"] = {"fields": filterable}
    return {"serverless": serverless}


def _render_pod(definition: IndexDefinition) -> dict[str, Any]:
    deployment = definition.deployment
    pod = {
        "environment": deployment["environment"],
        "pod_type": deployment["pod_type"],
        "replicas": deployment["replicas"],
        "shards": deployment["shards"],
        "pods": deployment["replicas"] * deployment["shards"],
    }
    if "metadata_config" in deployment:
        pod["metadata_config"] = deployment["metadata_config"]
    return {"pod": pod}


def configure_changes(body: dict[str, Any], definition: IndexDefinition) -> dict[str, Any]:
    """The dialect-specific part of a 2025-10 configure: ``embed``, and a ``spec`` naming the index's kind."""
    changes = {} if body.get("embed") is None else patch_classic_embed(definition, body["embed"])
    if body.get("spec") is not None:
        changes.update(_spec_changes(body["spec"], definition))
    return changes


def _spec_changes(value: Any, definition: IndexDefinition) -> dict[str, Any]:
    kind, settings = _spec(value)
    if kind == "pod":
        return {"deployment": patch_pod(definition, settings)}
    if kind == "byoc":
        raise invalid_argument(
            f"Index {definition.name} is not a BYOC index; configure its read capacity under "
            "spec.serverless (SDK 9.x: serverless_read_capacity=)."
        )
    unknown = sorted(set(settings) - {"read_capacity"})
    if unknown:
        raise invalid_argument(
            f"Only read_capacity of a serverless index can be changed, not {', '.join(unknown)}."
        )
    if definition.is_pod:
        raise invalid_argument(f"Index {definition.name} is pod-based, not serverless.")
    if settings.get("read_capacity") is None:
        return {}
    return {"read_capacity": patch_read_capacity(definition, settings["read_capacity"])}
