"""The schema/deployment control-plane dialect (API 2026-01.alpha and 2026-07, spoken by SDK 10.x).

An index is a ``schema`` of named, typed fields plus a ``deployment``. The catalog keeps its definitions in
this dialect's terms (a deployment dict, a top-level read capacity), so the pieces of a request both dialects
carry — deployment, read capacity, tags, deletion protection — are parsed here and reused by
:mod:`.control_classic`.

Status codes follow Pinecone's deserialize-then-validate split: a field that is missing or has the wrong JSON
type is 422 ``UNPROCESSABLE_ENTITY`` (the body cannot become the request type), a well-typed value that breaks
a rule is 400 ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from .catalog import IndexDefinition
from .control_values import (
    DENSE_FIELD,
    SPARSE_FIELD,
    count,
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
from .integrated import patch_semantic_field, semantic_field

POD_TYPE_RE = re.compile(r"^(s1|p1|p2)\.(x1|x2|x4|x8)$")
# Field types SDK 10 can decode besides the vector types; anything else would make it drop the whole index
# from list_indexes, so it is refused at create time instead.
METADATA_FIELD_TYPES = ("string", "string_list", "float", "integer", "boolean")
MAX_FIELD_NAME_BYTES = 64
READY = {"ready": True, "state": "Ready"}
# What the 2026-07 deployment models carry (the catalog may keep more, such as a classic metadata_config).
MANAGED_DEPLOYMENT_KEYS = ("deployment_type", "cloud", "region")
POD_DEPLOYMENT_KEYS = ("deployment_type", "environment", "pod_type", "replicas", "shards")


def pod_type(value: Any) -> str:
    kind = require_string(value, "pod_type")
    if not POD_TYPE_RE.match(kind):
        raise invalid_argument(
            f"pod_type {kind!r} is invalid: one of s1, p1, p2 followed by '.' and one of x1, x2, x4, x8."
        )
    return kind


def pod_deployment(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod deployment; ``metadata_config`` is kept for the classic dialect, which alone can show it."""
    deployment: dict[str, Any] = {
        "deployment_type": "pod",
        "environment": require_string(pod.get("environment"), "environment"),
        "pod_type": pod_type(pod.get("pod_type", "p1.x1")),
        "replicas": count(pod.get("replicas"), "replicas", default=1),
        "shards": count(pod.get("shards"), "shards", default=1),
    }
    if pod.get("metadata_config") is not None:
        config = require_object(pod["metadata_config"], "metadata_config")
        indexed = config.get("indexed", [])
        if not isinstance(indexed, list) or not all(isinstance(name, str) for name in indexed):
            raise unprocessable("metadata_config.indexed must be a list of strings.")
        deployment["metadata_config"] = {"indexed": list(indexed)}
    return deployment


def patch_pod(definition: IndexDefinition, patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a pod scaling change (``replicas``, ``pod_type``): the only deployment change Pinecone allows."""
    if not definition.is_pod:
        raise invalid_argument(
            f"Index {definition.name} is not pod-based: replicas and pod_type cannot be configured."
        )
    fixed = sorted(set(patch) - {"replicas", "pod_type"})
    if fixed:
        raise invalid_argument(
            f"Only replicas and pod_type of a pod-based index can be changed, not {', '.join(fixed)}."
        )
    updated = dict(definition.deployment)
    if "replicas" in patch:
        updated["replicas"] = count(patch["replicas"], "replicas", default=updated["replicas"])
    if "pod_type" in patch:
        updated["pod_type"] = pod_type(patch["pod_type"])
    return updated


def patch_read_capacity(definition: IndexDefinition, value: Any) -> dict[str, Any] | None:
    if definition.is_pod:
        raise invalid_argument(
            f"Index {definition.name} is pod-based: read capacity applies to serverless indexes only."
        )
    return parse_read_capacity(value)


# -- schema dialect: create ---------------------------------------------------------------------------------


def definition_from_create(body: dict[str, Any]) -> IndexDefinition:
    """Translate a 2026-07 create request: one dense and/or one sparse field, plus metadata fields."""
    for unsupported in ("source_collection", "source_backup_id"):
        if body.get(unsupported) is not None:
            raise invalid_argument(f"{unsupported} is not supported by the local server.")
    schema = require_object(body.get("schema"), "schema")
    fields = require_object(schema.get("fields"), "schema.fields")
    if not fields:
        raise invalid_argument("schema.fields must declare at least one field.")
    for name, field in fields.items():
        _check_field(name, require_object(field, f"schema.fields.{name}"))
    vector_field, extra = _split_vector_field(fields)
    spec = fields[vector_field]
    deployment = _deployment(body.get("deployment"))
    read_capacity = parse_read_capacity(body.get("read_capacity"))
    if read_capacity is not None and deployment["deployment_type"] == "pod":
        raise invalid_argument("read_capacity applies to serverless (managed) indexes only.")
    dense = spec["type"] == "dense_vector"
    return IndexDefinition(
        name=_name(body.get("name")),
        vector_type="dense" if dense else "sparse",
        dimension=spec["dimension"] if dense else None,
        metric=spec["metric"] if dense else "dotproduct",
        deployment=deployment,
        deletion_protection=parse_deletion_protection(body.get("deletion_protection")),
        tags=parse_tags(body.get("tags")),
        read_capacity=read_capacity,
        vector_field=vector_field,
        extra_schema_fields=extra,
    )


def _name(value: Any) -> str:
    """The requested name; 2026-07 lets the server choose one when it is omitted."""
    if value is None:
        return f"index-{secrets.token_hex(4)}"
    return require_string(value, "name")


def _check_field(name: str, field: dict[str, Any]) -> None:
    kind = field.get("type")
    _check_field_name(name, kind)
    if kind == "dense_vector":
        _check_dense_field(name, field)
    elif kind == "sparse_vector":
        _check_sparse_field(name, field)
    else:
        _check_metadata_field(name, field, kind)


def _check_field_name(name: str, kind: Any) -> None:
    if not 1 <= len(name.encode("utf-8", "surrogatepass")) <= MAX_FIELD_NAME_BYTES:
        raise invalid_argument(f"Schema field name {name!r} must be 1-{MAX_FIELD_NAME_BYTES} bytes long.")
    reserved_for = {"_id": None, DENSE_FIELD: "dense_vector", SPARSE_FIELD: "sparse_vector"}
    if name in reserved_for and kind != reserved_for[name]:
        usable = f" except for a {reserved_for[name]} field" if reserved_for[name] else ""
        raise invalid_argument(f"Schema field name {name!r} is reserved{usable}.")


def _check_dense_field(name: str, field: dict[str, Any]) -> None:
    """Types only: the dimension's range and the metric's value are the definition's to validate."""
    if optional_int(field.get("dimension"), f"schema.fields.{name}.dimension") is None:
        raise unprocessable(f"schema.fields.{name}: missing field `dimension`.")
    require_string(field.get("metric"), f"schema.fields.{name}.metric")


def _check_sparse_field(name: str, field: dict[str, Any]) -> None:
    if field.get("dimension") is not None:
        raise invalid_argument(f"Sparse vector field {name!r} must not have a dimension.")
    if field.get("metric", "dotproduct") != "dotproduct":
        raise invalid_argument(f"Sparse vector field {name!r} must use the metric dotproduct.")


def _check_metadata_field(name: str, field: dict[str, Any], kind: Any) -> None:
    if kind == "semantic_text" or (kind == "string" and ("embed" in field or "sparse_embed" in field)):
        raise invalid_argument(
            f"Schema field {name!r}: the local server creates integrated-embedding indexes through "
            "create-for-model (SDK: create_index_for_model), not through a schema field."
        )
    if kind is None:
        raise unprocessable(f"schema.fields.{name}: missing field `type`.")
    if kind not in (*METADATA_FIELD_TYPES, "number"):
        raise unprocessable(f"schema.fields.{name}.type {kind!r} is not a known field type.")
    if not isinstance(field.get("filterable", False), bool):
        raise unprocessable(f"schema.fields.{name}.filterable must be a boolean.")


def _split_vector_field(fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The field the index's vectors live in, and every other field (echoed back as given).

    A dense plus a sparse field is a hybrid index, which the record store holds as a dense dotproduct index
    with sparse values, so the sparse field is kept among the extra fields.
    """
    dense = [name for name, field in fields.items() if field["type"] == "dense_vector"]
    sparse = [name for name, field in fields.items() if field["type"] == "sparse_vector"]
    if len(dense) > 1 or len(sparse) > 1:
        raise invalid_argument("A schema may declare at most one dense_vector and one sparse_vector field.")
    if not dense and not sparse:
        raise invalid_argument(
            "The local server needs a dense_vector or sparse_vector field in schema.fields; "
            "full-text-search-only indexes are not supported."
        )
    if dense and sparse and fields[dense[0]]["metric"] != "dotproduct":
        raise invalid_argument("A hybrid (dense and sparse) index must use the metric dotproduct.")
    vector_field = (dense or sparse)[0]
    extra = {name: _normalised(field) for name, field in fields.items() if name != vector_field}
    return vector_field, extra


def _normalised(field: dict[str, Any]) -> dict[str, Any]:
    # Pinecone accepts "number" as an alias of "float" but reports "float", the only spelling SDK 10 decodes.
    return {**field, "type": "float"} if field.get("type") == "number" else dict(field)


def _deployment(value: Any) -> dict[str, Any]:
    if value is None:
        return {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    deployment = require_object(value, "deployment")
    kind = deployment.get("deployment_type")
    if kind == "managed":
        return managed_deployment(deployment.get("cloud"), deployment.get("region"))
    if kind == "pod":
        if deployment.get("metadata_config") is not None:
            raise unprocessable("A pod deployment has no metadata_config in this API version.")
        return pod_deployment(deployment)
    if kind == "byoc":
        raise invalid_argument("BYOC deployments are not supported by the local server.")
    raise unprocessable(f"deployment.deployment_type must be 'managed', 'pod' or 'byoc', not {kind!r}.")


# -- schema dialect: describe and configure -----------------------------------------------------------------


def render(definition: IndexDefinition, host: str) -> dict[str, Any]:
    """The 2026-07 ``IndexModel``; every field SDK 10 requires is present."""
    model: dict[str, Any] = {
        "name": definition.name,
        "host": host,
        "status": dict(READY),
        "deployment": _render_deployment(definition.deployment),
        "schema": {"fields": {**_primary_field(definition), **definition.extra_schema_fields}},
        "deletion_protection": definition.deletion_protection,
        "tags": definition.tags,
    }
    if not definition.is_pod:
        model["read_capacity"] = render_read_capacity(definition.read_capacity)
    return model


def _primary_field(definition: IndexDefinition) -> dict[str, Any]:
    """The field the index's vectors come from: its vector field, or an integrated index's semantic_text."""
    if definition.embed is not None:
        return {definition.embed["field_map"]["text"]: semantic_field(definition.embed)}
    return {definition.vector_field: _vector_field(definition)}


def _vector_field(definition: IndexDefinition) -> dict[str, Any]:
    if definition.vector_type == "sparse":
        return {"type": "sparse_vector"}
    return {"type": "dense_vector", "dimension": definition.dimension, "metric": definition.metric}


def _render_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    keys = POD_DEPLOYMENT_KEYS if deployment["deployment_type"] == "pod" else MANAGED_DEPLOYMENT_KEYS
    return {key: deployment[key] for key in keys}


def configure_changes(body: dict[str, Any], definition: IndexDefinition) -> dict[str, Any]:
    """The dialect-specific part of a 2026-07 configure: ``deployment``, ``read_capacity``, ``schema``."""
    changes: dict[str, Any] = {}
    if body.get("schema") is not None:
        changes.update(patch_semantic_field(definition, body["schema"]))
    if body.get("deployment") is not None:
        changes["deployment"] = patch_pod(definition, require_object(body["deployment"], "deployment"))
    if body.get("read_capacity") is not None:
        changes["read_capacity"] = patch_read_capacity(definition, body["read_capacity"])
    return changes
