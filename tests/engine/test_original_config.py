"""The original "Pinecone Index Migrator" script's config.json, run by our CLI: every key it reads is
accepted with its meaning or refused naming our equivalent (the refusals are rows of
tests/cli/test_bad_input.py), and its sample config copies an index exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pinecone import Pinecone

from pinecone_migrator.config import SEED_KEYS, load_config
from pinecone_migrator.engine.migrate.copy import clean_namespace_name
from pinecone_migrator.errors import UserError

from ..cliproc import contents, load_source
from ..helpers import dense_index, expected
from ..serverproc import ServerProcess

SHARED_KEY = "one-key-for-both-789"  # the script made one client: one key reaches source and target

# A config.json in the script's format: every key it reads, with the values its sample suggests for a full
# copy of every namespace into a new index (written here, not copied from the script's repository).
SAMPLE = {
    "api_key": SHARED_KEY,
    "api_key_dest": "",
    "use_seperate_target_client": False,
    "source_index": "src",
    "target_index": "copy-of-src",
    "target_cloud": "aws",
    "target_region": "us-east-1",
    "source_namespace": "",
    "target_namespace": "",
    "batch_size": 100,
    "delta_mode": False,
    "reset_migration_flags": False,
    "verify_only": False,
    "run_validation_after_every_batch": True,
    "write_to_parquet": False,
    "use_filter": False,
    "filter_to_use": '{"migrated": {"$ne": true}}',
    "create_target": True,
    "parquet_write_back_batch_size": 500,
    "namespace_from_metadata_field": False,
    "metadata_field_to_namespace_from": "",
    "iterate_over_namespaces": True,
    "use_source_as_target_namespace": True,
    "delta_delay_between_runs": False,
    "delta_delay_duration": 30,
}

# Where each key's behaviour is tested: here (by test name), or a refusal row of test_bad_input.py.
KEY_TESTS = {
    "api_key": "test_sample_config_copies_every_record",
    "api_key_dest": "test_migrate.py::test_original_script_config_json_is_mapped",
    "use_seperate_target_client": "test_migrate.py::test_original_script_config_json_is_mapped",
    "prime_index_store": "bad input: prime_index_store",
    "source_index": "test_sample_config_copies_every_record",
    "target_index": "test_sample_config_copies_every_record",
    "target_cloud": "test_sample_config_copies_every_record",
    "target_region": "test_sample_config_copies_every_record",
    "source_namespace": "test_not_iterating_copies_the_source_namespace_only",
    "target_namespace": "test_not_iterating_copies_the_source_namespace_only",
    "batch_size": "test_sample_config_copies_every_record",
    "parquet_write_back_batch_size": "test_sample_config_copies_every_record",
    "create_target": "bad input: create_target false",
    "iterate_over_namespaces": "test_sample_config_copies_every_record",
    "iterate_all_namespaces": "test_mapping_for_other_commands",
    "use_source_as_target_namespace": "test_sample_config_copies_every_record",
    "namespace_from_metadata_field": "test_metadata_routing_cleans_names_as_the_script_did",
    "metadata_field_to_namespace_from": "test_metadata_routing_cleans_names_as_the_script_did",
    "filter_to_use": "test_migrate.py::test_original_script_config_json_is_mapped",
    "use_filter": "test_migrate.py::test_original_script_config_json_is_mapped",
    "delta_mode": "bad input: delta_mode; test_delta_mode_is_the_sync_command",
    "delta_delay_between_runs": "bad input: delta_delay_between_runs; test_delta_mode_is_the_sync_command",
    "delta_delay_duration": "test_mapping_for_other_commands",
    "verify_mode": "test_migrate.py::test_original_script_config_json_is_mapped",
    "verify_only": "test_verify_only_is_the_verify_command",
    "run_validation_after_every_batch": "test_sample_config_copies_every_record",
    "reset_migration_flags": "bad input: reset_migration_flags",
    "reset_mode": "bad input: reset_mode",
    "write_to_parquet": "bad input: write_to_parquet",
    "save_to_s3": "bad input: save_to_s3",
    "bucket_name": "test_mapping_for_other_commands",
    "s3_folder_name": "test_mapping_for_other_commands",
}


def test_every_key_of_the_script_has_a_test() -> None:
    assert set(KEY_TESTS) == SEED_KEYS


@pytest.fixture
def one_key_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (
        ServerProcess(tmp_path / "source", "--api-key", SHARED_KEY) as source,
        ServerProcess(tmp_path / "target", "--api-key", SHARED_KEY) as target,
    ):
        yield source, target


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in ``folder`` with no key in the environment: keys can only come from the config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINECONE_")}
    return subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def _hosts(source: ServerProcess, target: ServerProcess) -> tuple[str, ...]:
    return ("--source-host", source.url, "--target-host", target.url)


def _write_config(folder: Path, **changes: Any) -> Path:
    path = folder / "config.json"
    path.write_bytes(orjson.dumps({**SAMPLE, **changes}, option=orjson.OPT_INDENT_2))
    return path


def test_sample_config_copies_every_record(
    one_key_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = one_key_servers
    source_pc = Pinecone(api_key=SHARED_KEY, host=source.url)
    target_pc = Pinecone(api_key=SHARED_KEY, host=target.url)
    load_source(source_pc, count=120)  # three namespaces (the default one too), sparse values, metadata
    config = _write_config(tmp_path)
    report = tmp_path / "report.json"
    result = _run(
        tmp_path, "migrate", "--config", str(config), *_hosts(source, target), "--report", str(report)
    )
    assert result.returncode == 0, result.stderr
    assert contents(target_pc, "copy-of-src") == contents(
        source_pc, "src"
    )  # record by record, every namespace
    summary = orjson.loads(report.read_bytes())
    # run_validation_after_every_batch: every written record was read back and found equal
    assert summary["verify"] == {"level": "batch", "read_back_equal": 360, "resent": 0}
    spec = target_pc.describe_index("copy-of-src").spec.serverless
    assert (spec.cloud, spec.region) == ("aws", "us-east-1")
    assert "holds an API key under 'api_key' (used for the source and the target)" in result.stderr
    assert "batch_size is ignored" in result.stderr
    assert "parquet_write_back_batch_size is ignored" in result.stderr
    assert SHARED_KEY not in result.stdout + result.stderr + report.read_text()


def test_not_iterating_copies_the_source_namespace_only(
    one_key_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = one_key_servers
    written = load_source(Pinecone(api_key=SHARED_KEY, host=source.url), count=20)
    target_pc = Pinecone(api_key=SHARED_KEY, host=target.url)
    # source_namespace "" is the default namespace, and only it is copied
    _write_config(tmp_path, iterate_over_namespaces=False, use_source_as_target_namespace=False)
    result = _run(tmp_path, "migrate", *_hosts(source, target))  # ./config.json found by default
    assert result.returncode == 0, result.stderr
    default_only = {k: v for k, v in written.items() if k.startswith("__default__/")}
    assert len(default_only) == 20 and contents(target_pc, "copy-of-src") == default_only
    # a named source namespace and an empty target_namespace: into the target's default namespace, as the
    # script wrote them (told in a warning)
    config = _write_config(
        tmp_path,
        target_index="tenant-a-copy",
        source_namespace="tenant-a",
        iterate_over_namespaces=False,
        use_source_as_target_namespace=False,
    )
    result = _run(
        tmp_path, "migrate", "--config", str(config), *_hosts(source, target), "--state", "b.sqlite"
    )
    assert result.returncode == 0, result.stderr
    assert "records go to the target's default namespace" in result.stderr
    moved = {
        k.replace("tenant-a/", "__default__/"): v for k, v in written.items() if k.startswith("tenant-a/")
    }
    assert contents(target_pc, "tenant-a-copy") == moved


TENANTS = {
    "r1": "café 12",
    "r2": "Ünïcode Corp.",
    "r3": "line\nbreak",
    "r4": "café-12",  # cleans to the same name as r1
    "r5": "東京",  # nothing ASCII is left: no namespace
    "r6": None,  # no field at all
}
CLEANED = {"r1": "cafe_12", "r2": "Unicode_Corp_", "r3": "line_break", "r4": "cafe_12"}


def _tenant_source(server: ServerProcess) -> dict[str, dict[str, Any]]:
    index = dense_index(Pinecone(api_key=SHARED_KEY, host=server.url), "src", dimension=4)
    records = []
    for n, (record_id, tenant) in enumerate(TENANTS.items()):
        metadata: dict[str, Any] = {"n": n} if tenant is None else {"n": n, "tenant": tenant}
        records.append({"id": record_id, "values": [0.1 * n, 0.2, 0.3, 0.4], "metadata": metadata})
    index.upsert(vectors=records, namespace="docs")
    return {r["id"]: expected(r) for r in records}


def test_metadata_routing_cleans_names_as_the_script_did(
    one_key_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = one_key_servers
    records = _tenant_source(source)
    target_pc = Pinecone(api_key=SHARED_KEY, host=target.url)
    config = _write_config(
        tmp_path,
        source_namespace="docs",
        iterate_over_namespaces=False,
        namespace_from_metadata_field=True,
        metadata_field_to_namespace_from="tenant",
    )
    result = _run(tmp_path, "migrate", "--config", str(config), *_hosts(source, target))
    # the record whose value cleans to nothing and the one without the field are dead letters (exit 4)
    assert result.returncode == 4, result.stderr
    want = {f"{ns}/{rid}": records[rid] for rid, ns in CLEANED.items()}
    assert contents(target_pc, "copy-of-src") == want
    # our own CLI: the same cleaning, with a fallback for what cannot be named; verify routes the same way
    routing = ("--source-index", "src", "--target-index", "routed", "--namespace", "docs",
               "--namespace-from-metadata", "tenant", "--clean-namespace-names",
               "--fallback-namespace", "rest")  # fmt: skip
    elsewhere = tmp_path / "no-config-here"
    elsewhere.mkdir()
    env_key = ("--source-api-key-env", "K", "--target-api-key-env", "K")
    for command in ("migrate", "verify"):
        result = subprocess.run(
            [sys.executable, "-m", "pinecone_migrator", command, *routing, *_hosts(source, target), *env_key],
            cwd=elsewhere,
            env={**os.environ, "K": SHARED_KEY},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert contents(target_pc, "routed") == {**want, "rest/r5": records["r5"], "rest/r6": records["r6"]}
    # the cleaning is part of what the ledger is for: the same run without it is another migration
    raw = [w for w in routing if w != "--clean-namespace-names"]
    result = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "migrate", *raw, *_hosts(source, target), *env_key],
        cwd=elsewhere,
        env={**os.environ, "K": SHARED_KEY},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2 and "belongs to a different migration" in result.stderr, result.stderr


def test_verify_only_is_the_verify_command(
    one_key_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = one_key_servers
    load_source(Pinecone(api_key=SHARED_KEY, host=source.url), count=10)
    config = _write_config(tmp_path, run_validation_after_every_batch=False)
    assert _run(tmp_path, "migrate", "--config", str(config), *_hosts(source, target)).returncode == 0
    config = _write_config(tmp_path, verify_only=True)
    refused = _run(tmp_path, "migrate", "--config", str(config), *_hosts(source, target))
    assert refused.returncode == 2 and "pinecone-migrator verify --config" in refused.stderr
    result = _run(tmp_path, "verify", "--config", str(config), *_hosts(source, target))
    assert result.returncode == 0 and "EQUAL" in result.stdout, result.stdout + result.stderr


def test_mapping_for_other_commands(tmp_path: Path) -> None:
    """The script's modes that are other commands here become those commands' options."""

    def mapped(command: str, **changes: Any) -> dict[str, Any]:
        return load_config(_write_config(tmp_path, **changes), command).defaults

    continuous = {"delta_mode": True, "delta_delay_between_runs": True, "delta_delay_duration": 45}
    assert mapped("sync", **continuous)["interval"] == 45
    # without delta_delay_between_runs the duration does nothing, as in the script
    assert "interval" not in mapped("sync", delta_delay_duration=45)
    with pytest.raises(UserError, match="must be 0 or more"):
        mapped("sync", **{**continuous, "delta_delay_duration": -1})
    assert mapped("reset", reset_migration_flags=True)["stamps"] is True
    assert mapped("reset", reset_mode=True)["stamps"] is True
    exported = mapped(
        "export",
        iterate_over_namespaces=False,
        iterate_all_namespaces=True,  # the README's name for iterate_over_namespaces
        write_to_parquet=True,
        save_to_s3=True,
        bucket_name="backups",
        s3_folder_name="src",
    )
    assert exported["to"] == "s3://backups/src" and "namespaces" not in exported
    # namespace_from_metadata_field: the script reads a flag, its README names the field: both work
    flagged = mapped("migrate", namespace_from_metadata_field=True, metadata_field_to_namespace_from="org")
    named = mapped("migrate", namespace_from_metadata_field="org")
    for routed in (flagged, named):
        assert (routed["namespace_from_metadata"], routed["clean_namespace_names"]) == ("org", True)
        assert "target_namespace" not in routed


def test_delta_mode_is_the_sync_command(
    one_key_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = one_key_servers
    source_pc = Pinecone(api_key=SHARED_KEY, host=source.url)
    load_source(source_pc, count=15)
    delta = {"delta_mode": True, "delta_delay_between_runs": True, "delta_delay_duration": 5}
    config = _write_config(tmp_path, **delta, run_validation_after_every_batch=False)
    result = _run(tmp_path, "sync", "--config", str(config), *_hosts(source, target), "--once")
    assert result.returncode == 0, result.stderr
    target_pc = Pinecone(api_key=SHARED_KEY, host=target.url)
    assert contents(target_pc, "copy-of-src") == contents(source_pc, "src")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("café 12", "cafe_12"),
        ("ﬁle²", "file2"),
        ("a--b  c", "a_b_c"),
        ("tenant_7", "tenant_7"),
        ("Ünïcode Corp.", "Unicode_Corp_"),
        ("x\ny", "x_y"),
        ("東京", ""),
    ],
)
def test_clean_namespace_name(value: str, name: str) -> None:
    assert clean_namespace_name(value) == name


@given(st.text())
def test_cleaned_names_are_ascii_words_and_stable(value: str) -> None:
    name = clean_namespace_name(value)
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    assert clean_namespace_name(name) == name
