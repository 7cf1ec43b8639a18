"""Request values both control-plane dialects and integrated indexes parse the same way: objects, strings,
integers, tags, deletion protection, read capacity, a managed deployment (a module of its own, so that
:mod:`.control_schema` can render integrated indexes through :mod:`.integrated` without an import cycle)."""

from __future__ import annotations

from typing import Any

from .catalog import validate_tags
from .errors import ApiError, invalid_argument

CLOUDS = ("aws", "gcp", "azure")
NODE_TYPES = ("b1", "t1")
DENSE_FIELD = "_values"  # the reserved field names SDK 10 uses for a classic-style index
SPARSE_FIELD = "_sparse_values"


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "UNPROCESSABLE_ENTITY", message)


def require_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise unprocessable(f"{what} is required and must be a JSON object.")
    return value


def require_string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise unprocessable(f"{what} is required and must be a string.")
    return value


def optional_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise unprocessable(f"{what} must be an integer.")
    return value


def count(value: Any, what: str, default: int, minimum: int = 1) -> int:
    """A replica/shard count: 422 when not an integer, 400 when below ``minimum``."""
    number = optional_int(value, what)
    if number is None:
        return default
    if number < minimum:
        raise invalid_argument(f"{what} must be at least {minimum}, not {number}.")
    return number


def parse_deletion_protection(value: Any) -> str:
    if value is None:
        return "disabled"
    protection = require_string(value, "deletion_protection")
    if protection not in ("enabled", "disabled"):
        raise invalid_argument(f"deletion_protection must be 'enabled' or 'disabled', not {protection!r}.")
    return protection


def parse_tags(value: Any) -> dict[str, str] | None:
    """Tags given at creation; an empty value means "no such tag", as it does when configuring."""
    if value is None:
        return None
    tags = require_object(value, "tags")
    validate_tags(tags)
    return {key: tag for key, tag in tags.items() if tag != ""} or None


def parse_read_capacity(value: Any) -> dict[str, Any] | None:
    """A requested read capacity, normalised: ``{"mode": "OnDemand"}`` or Dedicated with manual scaling."""
    if value is None:
        return None
    capacity = require_object(value, "read_capacity")
    mode = capacity.get("mode")
    if mode == "OnDemand":
        return {"mode": "OnDemand"}
    if mode != "Dedicated":
        raise invalid_argument(f"read_capacity.mode must be 'OnDemand' or 'Dedicated', not {mode!r}.")
    dedicated = require_object(capacity.get("dedicated"), "read_capacity.dedicated")
    node_type = dedicated.get("node_type")
    if node_type not in NODE_TYPES:
        raise invalid_argument(f"read_capacity.dedicated.node_type must be 'b1' or 't1', not {node_type!r}.")
    if dedicated.get("scaling") != "Manual":
        raise invalid_argument("read_capacity.dedicated.scaling must be 'Manual'.")
    if dedicated.get("manual") is None:
        raise invalid_argument(
            "read_capacity.dedicated.manual (shards, replicas) is required for Manual scaling."
        )
    manual = require_object(dedicated["manual"], "read_capacity.dedicated.manual")
    where = "read_capacity.dedicated.manual"
    return {
        "mode": "Dedicated",
        "dedicated": {
            "node_type": node_type,
            "scaling": "Manual",
            "manual": {
                "shards": count(manual.get("shards"), f"{where}.shards", default=1),
                # Zero replicas is Pinecone's documented way to pause a dedicated index.
                "replicas": count(manual.get("replicas"), f"{where}.replicas", default=1, minimum=0),
            },
        },
    }


def render_read_capacity(capacity: dict[str, Any] | None) -> dict[str, Any]:
    """ReadCapacityResponse (same shape in both dialects); scaling is instant here, so always Ready."""
    if capacity is None or capacity.get("mode") != "Dedicated":
        return {"mode": "OnDemand", "status": {"state": "Ready"}}
    manual = capacity["dedicated"]["manual"]
    status = {"state": "Ready", "current_shards": manual["shards"], "current_replicas": manual["replicas"]}
    return {"mode": "Dedicated", "dedicated": capacity["dedicated"], "status": status}


def managed_deployment(cloud: Any, region: Any) -> dict[str, Any]:
    cloud = require_string(cloud, "cloud")
    region = require_string(region, "region")
    if cloud not in CLOUDS:
        raise ApiError(404, "NOT_FOUND", f"Resource cloud: {cloud} region: {region} not found.")
    return {"deployment_type": "managed", "cloud": cloud, "region": region}
