"""Configuration files for `migrate` and `plan`: our own keys, and the original script's config.json.

A file supplies defaults only: command-line flags win over the environment
(``PINECONE_MIGRATOR_<COMMAND>_<OPTION>``), which wins over the file. Our own keys are the option names in
snake_case (``source_index``, ``namespaces``, ``filter``, ...). The original "Pinecone Index Migrator"
script's keys (lower or upper case) are mapped; keys that held API keys are honoured with a warning,
because keys belong in the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import UserError


@dataclass
class LoadedConfig:
    defaults: dict[str, Any] = field(default_factory=dict)  # option name -> value
    secrets: dict[str, str] = field(default_factory=dict)  # "source"/"target" -> API key (seed files only)
    warnings: list[str] = field(default_factory=list)


OWN_KEYS: dict[str, type | tuple[type, ...]] = {
    "source_index": str,
    "target_index": str,
    "source_host": str,
    "target_host": str,
    "source_api_key_env": str,
    "target_api_key_env": str,
    "namespaces": list,
    "target_namespace": str,
    "namespace_map": list,
    "allow_merge": bool,
    "namespace_from_metadata": str,
    "fallback_namespace": str,
    "filter": (dict, str),
    "state": str,
    "no_create_target": bool,
    "target_cloud": str,
    "target_region": str,
    "target_deletion_protection": bool,
    "target_read_nodes": str,
    "target_shards": int,
    "target_replicas": int,
    "concurrency": int,
    "max_request_bytes": int,
    "report": str,
    "quiet": bool,
    "log_format": str,
    "restart": bool,
    "shards": (str, int),
    "verify": str,
    "yes": bool,
    # verify's own options (a file can serve both commands; each reads the keys it has)
    "level": str,
    "sample_size": int,
    "top_k": int,
    "diff": str,
    "ignore_metadata_keys": list,
    "repair": bool,
    "delete_extra": bool,
    "freshness_timeout": (int, float),
    # export / import / backup / restore
    "to": str,
    "from": str,
    "format": str,
    "rows_per_file": int,
    "metric": str,
    "bulk": bool,
    "error_mode": str,
    "integration_id": str,
    "no_validate": bool,
    "native": bool,
    "backup_name": str,
    "description": str,
    # sync / reset
    "once": bool,
    "interval": (int, float),
    "detect_updates": bool,
    "updated_field": str,
    "lookback": (int, float),
    "propagate_deletes": bool,
    "max_delete_fraction": (int, float),
    "stamp_source": bool,
    "copy_stamps": bool,
    "stamps_per_second": (int, float),
    "stamps": bool,
}

# Keys whose option is spelled differently in the code.
OPTION_NAMES = {"diff": "diff_path", "from": "from_", "format": "file_format"}

# The original script's keys, by lower-case name.
SEED_KEYS = {
    "api_key",
    "api_key_dest",
    "use_seperate_target_client",
    "source_index",
    "target_index",
    "source_namespace",
    "target_namespace",
    "target_cloud",
    "target_region",
    "batch_size",
    "create_target",
    "iterate_over_namespaces",
    "use_source_as_target_namespace",
    "namespace_from_metadata_field",
    "metadata_field_to_namespace_from",
    "filter_to_use",
    "use_filter",
    "delta_mode",
    "verify_mode",
    "write_to_parquet",
}
SEED_ONLY_KEYS = SEED_KEYS - set(OWN_KEYS)
# Features of the original script that belong to other commands.
ELSEWHERE = {
    "delta_mode": "continuous copying is the sync command (pinecone-migrator sync, --stamp-source to stamp)",
    "write_to_parquet": "Parquet export is the export command (pinecone-migrator export --to PATH)",
}


def looks_like_ours(path: Path) -> bool:
    """Whether a config.json found by default holds any of our settings (another tool's file is ignored)."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return True  # let load_config report the problem
    if not isinstance(raw, dict):
        return True
    return any(str(key).lower() in OWN_KEYS.keys() | SEED_KEYS for key in raw)


def load_config(path: Path) -> LoadedConfig:
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"The config file {path} does not exist.") from None
    except orjson.JSONDecodeError as error:
        raise UserError(f"The config file {path} is not valid JSON: {error}.") from None
    if not isinstance(raw, dict):
        raise UserError(f"The config file {path} must hold a JSON object of settings.")
    lowered = {str(k).lower(): v for k, v in raw.items()}
    if lowered.keys() & SEED_ONLY_KEYS:
        return _from_seed(lowered, path)
    return _from_own(raw, path)


def _check_type(path: Path, key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    wrong_bool = isinstance(value, bool) and bool not in kinds
    if wrong_bool or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise UserError(f"The config file {path}: {key!r} must be a {names}, not {type(value).__name__}.")


def _from_own(raw: Mapping[str, Any], path: Path) -> LoadedConfig:
    unknown = sorted(set(raw) - set(OWN_KEYS))
    if unknown:
        raise UserError(f"The config file {path} has unknown keys {unknown}; known keys: {sorted(OWN_KEYS)}.")
    loaded = LoadedConfig()
    for key, value in raw.items():
        _check_type(path, key, value, OWN_KEYS[key])
        if key == "filter":
            loaded.defaults["filter_json"] = value if isinstance(value, str) else orjson.dumps(value).decode()
        else:
            loaded.defaults[OPTION_NAMES.get(key, key)] = value
    return loaded


def _from_seed(raw: Mapping[str, Any], path: Path) -> LoadedConfig:
    unknown = sorted(set(raw) - SEED_KEYS)
    if unknown:
        raise UserError(
            f"The config file {path} looks like the original script's config.json but has unknown keys "
            f"{unknown}; known keys: {sorted(SEED_KEYS)}."
        )
    loaded = LoadedConfig()

    def take(key: str, kind: type | tuple[type, ...], apply: Callable[[Any], None]) -> None:
        if key in raw and raw[key] is not None:
            _check_type(path, key, raw[key], kind)
            apply(raw[key])

    def flag(key: str) -> bool:
        take(key, bool, lambda v: None)
        return bool(raw.get(key))

    for key, why in ELSEWHERE.items():
        if flag(key):
            raise UserError(f"The config file {path} sets {key!r}: {why}. Remove it to run the migration.")
    if flag("verify_mode"):
        loaded.defaults["verify"] = "digest"
    take("source_index", str, lambda v: loaded.defaults.update(source_index=v))
    take("target_index", str, lambda v: loaded.defaults.update(target_index=v))
    take("target_cloud", str, lambda v: loaded.defaults.update(target_cloud=v))
    take("target_region", str, lambda v: loaded.defaults.update(target_region=v))
    if not flag("iterate_over_namespaces"):
        take("source_namespace", str, lambda v: loaded.defaults.update(namespaces=[v]) if v else None)
    if not flag("use_source_as_target_namespace"):
        take("target_namespace", str, lambda v: loaded.defaults.update(target_namespace=v) if v else None)
    take("create_target", bool, lambda v: loaded.defaults.update(no_create_target=not v))
    if flag("namespace_from_metadata_field"):
        take(
            "metadata_field_to_namespace_from",
            str,
            lambda v: loaded.defaults.update(namespace_from_metadata=v),
        )
        if "namespace_from_metadata" not in loaded.defaults:
            raise UserError(
                f"The config file {path} routes by metadata but names no metadata_field_to_namespace_from."
            )
    if flag("use_filter"):
        take(
            "filter_to_use",
            (dict, str),
            lambda v: loaded.defaults.update(
                filter_json=v if isinstance(v, str) else orjson.dumps(v).decode()
            ),
        )
    take("batch_size", int, lambda v: loaded.warnings.append(
        "batch_size is ignored: requests are sized by records and bytes automatically."
    ))  # fmt: skip
    for key, side in (("api_key", "source"), ("api_key_dest", "target")):
        if key == "api_key_dest" and not flag("use_seperate_target_client"):
            continue
        if isinstance(raw.get(key), str) and raw[key]:
            loaded.secrets[side] = raw[key]
        elif raw.get(key) is not None:
            _check_type(path, key, raw[key], str)
        if side in loaded.secrets:
            loaded.warnings.append(
                f"The config file holds an API key under {key!r}: move it to an environment variable "
                f"(--{side}-api-key-env) and delete it from the file."
            )
    return loaded
