"""Integrated-embedding indexes on the control plane: create-for-model, and their ``embed`` configuration in
both dialects.

The catalog keeps an index's embedding as one dialect-neutral dict (:data:`IndexDefinition.embed`): ``model``,
``field_map`` (``{"text": field}``), ``metric``, ``dimension`` (None for a sparse model), ``vector_type``,
``read_parameters`` and ``write_parameters``. The 2025-10 dialect shows it as ``embed`` (``ModelIndexEmbed``);
the 2026-07 one as a ``semantic_text`` schema field named after the text field, which, as on Pinecone,
reports no dimension (SDK 10 documents that ``IndexModel.embed.dimension`` is always None there).

Both SDKs send the same create-for-model body (``name``, ``cloud``, ``region``, ``embed``, ...) whatever the
API version; the 2026-01.alpha spec also documents a flat form (``deployment``, ``field``, ``model``,
``metric``, ``read_parameters``, ``write_parameters``), accepted here too.
"""

from __future__ import annotations

from typing import Any

from .catalog import IndexDefinition
from .control_values import (
    DENSE_FIELD,
    SPARSE_FIELD,
    managed_deployment,
    optional_int,
    parse_deletion_protection,
    parse_read_capacity,
    parse_tags,
    require_object,
    require_string,
)
from .embedding import STAND_IN, hosted_model
from .errors import invalid_argument

PARAMETER_KEYS = ("read_parameters", "write_parameters")


def definition_for_model(body: dict[str, Any]) -> IndexDefinition:
    """The definition a create-for-model request asks for (either body form)."""
    if body.get("embed") is not None:
        embed = parse_embed(require_object(body["embed"], "embed"))
        deployment = managed_deployment(body.get("cloud"), body.get("region"))
    else:
        flat = {key: body.get(key) for key in ("model", "metric", "dimension", *PARAMETER_KEYS)}
        embed = parse_embed({**flat, "field_map": {"text": require_string(body.get("field"), "field")}})
        deployment_body = require_object(body.get("deployment"), "deployment")
        deployment = managed_deployment(deployment_body.get("cloud"), deployment_body.get("region"))
    return IndexDefinition(
        name=require_string(body.get("name"), "name"),
        vector_type=embed["vector_type"],
        dimension=embed["dimension"],
        metric=embed["metric"],
        deployment=deployment,
        deletion_protection=parse_deletion_protection(body.get("deletion_protection")),
        tags=parse_tags(body.get("tags")),
        read_capacity=parse_read_capacity(body.get("read_capacity")),
        vector_field=SPARSE_FIELD if embed["vector_type"] == "sparse" else DENSE_FIELD,
        extra_schema_fields=_metadata_fields(body.get("schema"), embed),
        embed=embed,
    )


def parse_embed(raw: dict[str, Any]) -> dict[str, Any]:
    """A complete embed configuration: the model's defaults filled in, its limits checked as Pinecone's."""
    model = hosted_model(raw.get("model"))
    text_field = _text_field(raw.get("field_map"))
    metric = raw.get("metric") or model.metrics[0]
    if metric not in model.metrics:
        raise invalid_argument(
            f"Model {model.name} does not support the metric {metric!r}; "
            f"use one of {', '.join(model.metrics)}."
        )
    dimension = optional_int(raw.get("dimension"), "embed.dimension")
    if model.vector_type == "sparse" and dimension is not None:
        raise invalid_argument(f"Model {model.name} is sparse: it takes no dimension.")
    if model.vector_type == "dense":
        dimension = dimension or model.default_dimension
        if dimension not in model.dimensions:
            supported = ", ".join(str(d) for d in sorted(model.dimensions))
            raise invalid_argument(
                f"Model {model.name} does not support the dimension {dimension}; supported: {supported}."
            )
    return {
        "model": model.name,
        "field_map": {"text": text_field},
        "metric": metric,
        "dimension": dimension,
        "vector_type": model.vector_type,
        **{key: _parameters(raw.get(key), key) for key in PARAMETER_KEYS},
    }


def _text_field(value: Any) -> str:
    field_map = require_object(value, "embed.field_map")
    text = field_map.get("text")
    if not isinstance(text, str) or not text:
        raise invalid_argument("embed.field_map must map 'text' to the name of the record field to embed.")
    return text


def _parameters(value: Any, key: str) -> dict[str, Any] | None:
    return None if value is None else dict(require_object(value, f"embed.{key}"))


def _metadata_fields(value: Any, embed: dict[str, Any]) -> dict[str, Any]:
    """Filterable metadata fields declared beside the embedding (``{"fields": {name: {...}}}``)."""
    if value is None:
        return {}
    fields = require_object(require_object(value, "schema").get("fields"), "schema.fields")
    reserved = ("_id", DENSE_FIELD, SPARSE_FIELD, embed["field_map"]["text"])
    for name, field in fields.items():
        if name in reserved:
            raise invalid_argument(f"schema.fields.{name}: the name is reserved.")
        if require_object(field, f"schema.fields.{name}").get("filterable") is not True:
            raise invalid_argument(f"schema.fields.{name}: only 'filterable: true' is supported.")
    return {name: {"filterable": True} for name in fields}


def description(embed: dict[str, Any]) -> str:
    return f"{STAND_IN}; stands in for {embed['model']}"


# -- rendering -----------------------------------------------------------------------------------------------


def semantic_field(embed: dict[str, Any]) -> dict[str, Any]:
    """The 2026-07 ``semantic_text`` field (no dimension: Pinecone does not report one there)."""
    return {
        "type": "semantic_text",
        "model": embed["model"],
        "metric": embed["metric"],
        "description": description(embed),
        **{key: embed[key] for key in PARAMETER_KEYS},
    }


def classic_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """The 2025-10 ``ModelIndexEmbed`` (its ``description`` is ours: clients ignore unknown keys)."""
    rendered = {key: embed[key] for key in ("model", "metric", "vector_type", "field_map", *PARAMETER_KEYS)}
    if embed["dimension"] is not None:
        rendered["dimension"] = embed["dimension"]
    rendered["description"] = description(embed)
    return rendered


# -- configuring ---------------------------------------------------------------------------------------------


def patch_semantic_field(definition: IndexDefinition, schema: Any) -> dict[str, Any]:
    """A 2026-07 schema patch: only the read/write parameters of the index's semantic_text field change."""
    embed = definition.embed
    fields = require_object(require_object(schema, "schema").get("fields"), "schema.fields")
    if embed is None:
        raise invalid_argument(
            f"The schema of index {definition.name} cannot be changed after creation "
            "(only semantic_text parameters can, and it has no semantic_text field)."
        )
    text_field = embed["field_map"]["text"]
    unknown = sorted(set(fields) - {text_field})
    if unknown:
        raise invalid_argument(
            f"Only the semantic_text field {text_field!r} can be configured, not {', '.join(unknown)}."
        )
    patch = require_object(fields.get(text_field), f"schema.fields.{text_field}")
    if patch.get("type") != "semantic_text":
        raise invalid_argument(f"schema.fields.{text_field}.type must be 'semantic_text'.")
    return _with_parameters(definition, embed, patch)


def patch_classic_embed(definition: IndexDefinition, value: Any) -> dict[str, Any]:
    """A 2025-10 ``embed`` patch: field map and parameters of an integrated index, or turning an index whose
    vector type, dimension and metric fit the model into an integrated one."""
    patch = require_object(value, "embed")
    embed = definition.embed
    if embed is None:
        return {"embed": _converted(definition, patch)}
    changes = _with_parameters(definition, embed, patch)
    if patch.get("field_map") is not None:
        changes["embed"] = {**changes["embed"], "field_map": {"text": _text_field(patch["field_map"])}}
    return changes


def _with_parameters(
    definition: IndexDefinition, embed: dict[str, Any], patch: dict[str, Any]
) -> dict[str, Any]:
    if patch.get("model") is not None and patch["model"] != embed["model"]:
        raise invalid_argument(
            f"The embedding model of index {definition.name} ({embed['model']}) cannot be changed."
        )
    updated = dict(embed)
    for key in PARAMETER_KEYS:
        if patch.get(key) is not None:
            updated[key] = _parameters(patch[key], key)
    return {"embed": updated}


def _converted(definition: IndexDefinition, patch: dict[str, Any]) -> dict[str, Any]:
    if definition.is_pod:
        raise invalid_argument(
            f"Index {definition.name} is pod-based: integrated embedding needs serverless."
        )
    model = hosted_model(patch.get("model"))
    embed = parse_embed({**patch, "metric": definition.metric, "dimension": definition.dimension})
    if model.vector_type != definition.vector_type:
        raise invalid_argument(
            f"Model {model.name} makes {model.vector_type} vectors; index {definition.name} is "
            f"{definition.vector_type}."
        )
    return embed
