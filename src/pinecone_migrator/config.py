"""Configuration files for `migrate` and `plan`: our own keys, and the original script's config.json.

A file supplies defaults only: command-line flags win over the environment
(``PINECONE_MIGRATOR_<COMMAND>_<OPTION>``), which wins over the file. Our own keys are the option names in
snake_case (``source_index``, ``namespaces``, ``filter``, ...). The original "Pinecone Index Migrator"
script's keys (lower or upper case) are mapped; keys that held API keys are honoured with a warning,
because keys belong in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

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
    "clean_namespace_names": bool,
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

# The keys the original script reads from its config.json (both of its published versions), by lower-case
# name, plus the names its README documents (verify_mode, reset_mode, iterate_all_namespaces).
SEED_KEYS = {
    "api_key",
    "api_key_dest",
    "use_seperate_target_client",
    "prime_index_store",
    "source_index",
    "target_index",
    "source_namespace",
    "target_namespace",
    "target_cloud",
    "target_region",
    "batch_size",
    "parquet_write_back_batch_size",
    "create_target",
    "iterate_over_namespaces",
    "iterate_all_namespaces",
    "use_source_as_target_namespace",
    "namespace_from_metadata_field",
    "metadata_field_to_namespace_from",
    "filter_to_use",
    "use_filter",
    "delta_mode",
    "delta_delay_between_runs",
    "delta_delay_duration",
    "verify_mode",
    "verify_only",
    "run_validation_after_every_batch",
    "reset_migration_flags",
    "reset_mode",
    "write_to_parquet",
    "save_to_s3",
    "bucket_name",
    "s3_folder_name",
}
SEED_ONLY_KEYS = SEED_KEYS - set(OWN_KEYS)
DEFAULT_NAMESPACE = "__default__"


def looks_like_ours(path: Path) -> bool:
    """Whether a config.json found by default holds any of our settings (another tool's file is ignored)."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return True  # let load_config report the problem
    if not isinstance(raw, dict):
        return True
    return any(str(key).lower() in OWN_KEYS.keys() | SEED_KEYS for key in raw)


def load_config(path: Path, command: str | None = None) -> LoadedConfig:
    """The settings of a config file; ``command`` (migrate, verify, sync, reset, ...) decides which of the
    original script's modes are accepted (each belongs to one command)."""
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
        return _from_seed(lowered, path, command)
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


def _from_seed(raw: Mapping[str, Any], path: Path, command: str | None) -> LoadedConfig:
    unknown = sorted(set(raw) - SEED_KEYS - set(OWN_KEYS))
    if unknown:
        raise UserError(
            f"The config file {path} looks like the original script's config.json but has unknown keys "
            f"{unknown}; known keys: {sorted(SEED_KEYS)} and our own {sorted(OWN_KEYS)}."
        )
    seed = _SeedFile(raw, path, command or "migrate")
    seed.refuse_other_commands()
    seed.map_indexes()
    seed.map_namespaces()
    seed.map_filter()
    seed.map_verification()
    seed.map_api_keys()
    seed.note_ignored()
    # Our own keys may sit in the same file (e.g. fallback_namespace) and win over the mapped ones.
    own = _from_own({k: v for k, v in raw.items() if k in OWN_KEYS and k not in SEED_KEYS}, path)
    seed.loaded.defaults.update(own.defaults)
    return seed.loaded


class _SeedFile:
    """The original script's config.json, read key by key into our options (``loaded``)."""

    def __init__(self, raw: Mapping[str, Any], path: Path, command: str) -> None:
        self.raw = raw
        self.path = path
        self.command = command
        self.loaded = LoadedConfig()

    def value(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """The key's value checked against ``kind``; None when absent or null."""
        value = self.raw.get(key)
        if value is not None:
            _check_type(self.path, key, value, kind)
        return value

    def flag(self, key: str) -> bool:
        return bool(self.value(key, bool))

    def set(self, **defaults: Any) -> None:
        self.loaded.defaults.update(defaults)

    def refuse(self, key: str, instead: str) -> NoReturn:
        raise UserError(
            f"The config file {self.path} sets {key!r} to true: {instead}. "
            f"Set it to false (or remove it) to run {self.command} with this file."
        )

    def refuse_other_commands(self) -> None:
        """Modes of the script that are other commands here: accepted by that command, refused elsewhere."""
        if self.flag("write_to_parquet") and self.command != "export":
            self.refuse(
                "write_to_parquet",
                "Parquet export is the export command (pinecone-migrator export --to PATH)",
            )
        if self.flag("save_to_s3"):
            where = (
                f"s3://{self.value('bucket_name', str) or 'BUCKET'}/{self.value('s3_folder_name', str) or ''}"
            )
            if self.command != "export":
                self.refuse("save_to_s3", f"Parquet export to a bucket is the export command (--to {where})")
            self.set(to=where)
        if self.flag("prime_index_store"):
            self.refuse(
                "prime_index_store",
                "there is no ID list to prime: migrate lists the source as it copies and keeps its progress "
                "in its ledger (--state); an interrupted migrate resumes when run again",
            )
        self._continuous()
        for key in ("reset_migration_flags", "reset_mode"):
            if self.flag(key):
                if self.command != "reset":
                    index = self.value("source_index", str) or "SOURCE"
                    self.refuse(
                        key,
                        "removing the migrated/migrated_at stamps from the source is "
                        f"pinecone-migrator reset --stamps --source-index {index} (migrate never stamps it)",
                    )
                self.set(stamps=True)
        if self.flag("verify_only") and self.command != "verify":
            self.refuse(
                "verify_only", f"comparing without copying is pinecone-migrator verify --config {self.path}"
            )

    def _continuous(self) -> None:
        """delta_mode and delta_delay_*: polling for new records is the sync command (its --interval)."""
        duration = self.value("delta_delay_duration", (int, float))
        pause = self.flag("delta_delay_between_runs")
        if duration is not None and duration < 0:
            raise UserError(f"The config file {self.path}: 'delta_delay_duration' must be 0 or more seconds.")
        if self.command == "sync":
            if pause and duration is not None:
                self.set(interval=duration)
            return
        interval = f" --interval {duration:g}" if pause and duration is not None else ""
        if self.flag("delta_mode"):
            self.refuse(
                "delta_mode",
                "continuous copying is the sync command (pinecone-migrator sync "
                f"--config {self.path}{interval}; --stamp-source to stamp the source)",
            )
        if pause:
            self.refuse(
                "delta_delay_between_runs",
                "passes with a pause between them are the sync command "
                f"(pinecone-migrator sync --config {self.path} --interval {duration or 'SECONDS'})",
            )

    def map_indexes(self) -> None:
        for key in ("source_index", "target_index", "target_cloud", "target_region"):
            value = self.value(key, str)
            if value:
                self.set(**{key: value})
        create = self.value("create_target", bool)
        if create is not None:
            self.set(no_create_target=not create)

    def map_namespaces(self) -> None:
        """The script copies ``source_namespace`` ("" is the default namespace) unless it iterates over all
        of them, and writes into ``target_namespace`` ("" again the default one) unless told to keep the
        source's names or to route by a metadata field."""
        iterate = self.flag("iterate_over_namespaces") or self.flag("iterate_all_namespaces")
        source = self.value("source_namespace", str) or DEFAULT_NAMESPACE
        if not iterate:
            self.set(namespaces=[source])
        target = self.value("target_namespace", str)
        keep_names = self.flag("use_source_as_target_namespace")
        routing = self.value("namespace_from_metadata_field", (bool, str))
        if routing:
            # The script reads a flag here; its README describes the field's name: both are understood.
            field_name = self.value("metadata_field_to_namespace_from", str) or (
                routing if isinstance(routing, str) else None
            )
            if not field_name:
                raise UserError(
                    f"The config file {self.path} routes by metadata (namespace_from_metadata_field) but "
                    "names no metadata_field_to_namespace_from."
                )
            self.set(namespace_from_metadata=field_name, clean_namespace_names=True)
            return
        if keep_names:
            return
        destination = target or DEFAULT_NAMESPACE
        if not iterate and destination == source:
            return
        self.set(target_namespace=destination)
        if not target:
            self.loaded.warnings.append(
                "target_namespace is empty and use_source_as_target_namespace is false: records go to the "
                f"target's default namespace ({DEFAULT_NAMESPACE}), as the script wrote them; set "
                "use_source_as_target_namespace to true to keep each namespace's name."
            )

    def map_filter(self) -> None:
        chosen = self.value("filter_to_use", (dict, str))
        if self.flag("use_filter") and chosen is not None:
            self.set(filter_json=chosen if isinstance(chosen, str) else orjson.dumps(chosen).decode())

    def map_verification(self) -> None:
        at_end = self.flag("verify_mode")
        every_batch = self.flag("run_validation_after_every_batch")
        if every_batch:
            self.set(verify="batch")
            if at_end:
                self.loaded.warnings.append(
                    "verify_mode and run_validation_after_every_batch are both set: every written batch is "
                    "read back (--verify batch); run pinecone-migrator verify afterwards for a whole-index "
                    "digest."
                )
        elif at_end:
            self.set(verify="digest")

    def map_api_keys(self) -> None:
        """One key serves both sides unless use_seperate_target_client (spelled so in the script) is true."""
        separate = self.flag("use_seperate_target_client")
        source_key = self.value("api_key", str)
        target_key = self.value("api_key_dest", str)
        if source_key:
            self.loaded.secrets["source"] = source_key
            if not separate:
                self.loaded.secrets["target"] = source_key
            sides = "source" if separate else "source and the target"
            self._warn_key("api_key", sides, "--source-api-key-env" if separate else "PINECONE_API_KEY")
        if separate and target_key:
            self.loaded.secrets["target"] = target_key
            self._warn_key("api_key_dest", "target", "--target-api-key-env")
        elif target_key:
            self.loaded.warnings.append(
                "api_key_dest is not used: use_seperate_target_client is false, so api_key serves both sides."
            )

    def _warn_key(self, key: str, sides: str, where: str) -> None:
        self.loaded.warnings.append(
            f"The config file holds an API key under {key!r} (used for the {sides}): move it to an "
            f"environment variable ({where}) and delete it from the file."
        )

    def note_ignored(self) -> None:
        if self.value("batch_size", int) is not None:
            self.loaded.warnings.append(
                "batch_size is ignored: requests are sized by records and bytes automatically."
            )
        if self.value("parquet_write_back_batch_size", int) is not None:
            self.loaded.warnings.append(
                "parquet_write_back_batch_size is ignored: nothing is ever written back to the source."
            )
        self.value("bucket_name", str)
        self.value("s3_folder_name", str)
