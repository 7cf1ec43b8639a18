"""Bad input to the core commands (migrate, plan, verify, sync, reset, status): one row per case.

Each row runs the real CLI against two real servers; `run_case` asserts the exit code, the message, no
traceback, nothing created or written on either server, and the source's digest unchanged.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import orjson
import pytest

from pinecone_migrator.engine.ledger import Ledger

from .badinput import DST, MIGRATE, SRC, STATE, SYNC, VERIFY, Case, CaseWorld, World, run_case

NEW = ("--source-index", "src", "--target-index", "new")
URI_MIGRATE = (
    "migrate",
    *DST,
    *STATE,
)  # a source named by --source URI (no --source-host)  # a target that does not exist (would be created)
SELF = ("--source-index", "src", "--target-index", "src")
ON_SOURCE = ("--target-host", "{src}", "--target-api-key-env", "SRC_KEY")
STATE_FILE = "{tmp}/state/ledger.sqlite"


def _state(content: bytes) -> object:
    def write(here: CaseWorld) -> None:
        path = here.tmp / "state" / "ledger.sqlite"
        path.parent.mkdir()
        path.write_bytes(content)

    return write


def _secret_not_shown(here: CaseWorld, result: subprocess.CompletedProcess[str]) -> None:
    assert "hunter2" not in result.stdout + result.stderr


def _foreign_sqlite(here: CaseWorld) -> None:
    path = here.tmp / "state" / "ledger.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        db.execute("INSERT INTO invoices VALUES (1, 9.5)")
    db.close()
    (here.tmp / "foreign.bytes").write_bytes(path.read_bytes())


def _unchanged_foreign(here: CaseWorld, result: subprocess.CompletedProcess[str]) -> None:
    state = here.tmp / "state"
    assert (state / "ledger.sqlite").read_bytes() == (here.tmp / "foreign.bytes").read_bytes()
    assert sorted(p.name for p in state.iterdir()) == ["ledger.sqlite"], "a journal or lock file was left"


def _other_ledger(here: CaseWorld) -> None:
    path = here.tmp / "state" / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.bind({"source": "elsewhere", "target": "other"}, restart=False)


def _config(content: str) -> object:
    def write(here: CaseWorld) -> None:
        (here.tmp / "config.json").write_text(content)

    return write


def _seed(**keys: object) -> object:
    """A config.json in the original script's format (its keys), with these keys set."""
    base = {"api_key": "from-file", "api_key_dest": "", "use_seperate_target_client": False,
            "source_index": "src", "target_index": "new", "source_namespace": "", "target_namespace": "",
            "iterate_over_namespaces": True, "use_source_as_target_namespace": True}  # fmt: skip
    return _config(orjson.dumps({**base, **keys}).decode())


def _folder(name: str) -> object:
    def make(here: CaseWorld) -> None:
        (here.tmp / name).mkdir(parents=True)

    return make


def _file(name: str) -> object:
    def make(here: CaseWorld) -> None:
        (here.tmp / name).write_text("a file, not a folder")

    return make


def _written(name: str, text: str) -> object:
    def make(here: CaseWorld) -> None:
        (here.tmp / name).write_text(text)

    return make


def _nested_filter(depth: int) -> str:
    text = '{"year": {"$gt": 1}}'
    for _ in range(depth):
        text = '{"$or": [' + text + ', {"year": {"$lt": 0}}]}'
    return text


def _no_state_written(here: CaseWorld, result: subprocess.CompletedProcess[str]) -> None:
    leftovers = [p for p in here.tmp.rglob("*") if p.is_file() and "state" in p.parts]
    assert not leftovers, f"a refusal left state behind: {leftovers}"


CASES = [
    # The source is never written: a target that is the source is refused, whatever its spelling.
    Case("target is the source (same name, same host)", (*MIGRATE[:1], *SRC, *STATE, *ON_SOURCE, *SELF), 2, "is the source index itself", check=_no_state_written),
    Case("target is the source (host spelled localhost)", ("migrate", *SRC, *STATE, "--target-host", "{src_alias}", "--target-api-key-env", "SRC_KEY", *SELF), 2, "is the source index itself"),
    Case("target is the source (target host defaults to the source's)", ("migrate", *SRC, *STATE, "--target-api-key-env", "SRC_KEY", *SELF), 2, "is the source index itself"),
    Case("target is the source, merging into one of its namespaces", ("migrate", *SRC, *STATE, *ON_SOURCE, *SELF, "--target-namespace", "tenant-a", "--allow-merge"), 2, "is the source index itself"),
    Case("plan with the source as target", ("plan", *SRC, *STATE, *ON_SOURCE, *SELF), 2, "is the source index itself"),
    Case("verify --repair with the source as target", ("verify", *SRC, *STATE, *ON_SOURCE, *SELF, "--repair", "--delete-extra"), 2, "is the source index itself"),
    Case("sync with the source as target", ("sync", *SRC, *STATE, *ON_SOURCE, *SELF, "--once"), 2, "is the source index itself", check=_no_state_written),
    Case("sync --stamp-source with the source as target", ("sync", *SRC, *STATE, *ON_SOURCE, *SELF, "--once", "--stamp-source"), 2, "is the source index itself"),
    # State files: ours, readable, writable, checked before anything else.
    Case("state file of random bytes", (*MIGRATE, *NEW), 2, "not a pinecone-migrator state file", setup=_state(bytes(range(256)) * 8)),
    Case("state file is someone else's SQLite database", (*MIGRATE, *NEW), 2, "did not write.*invoices", setup=_foreign_sqlite, check=_unchanged_foreign),
    Case("state file is a text file", (*VERIFY, *NEW), 2, "not a pinecone-migrator state file", setup=_state(b"hello\n")),
    Case("state file under /proc", ("migrate", *SRC, *DST, *NEW, "--state", "/proc/version/ledger.sqlite"), 2, "cannot be created"),
    Case("state file is a directory", ("migrate", *SRC, *DST, *NEW, "--state", "{tmp}"), 2, "is a directory"),
    Case("state file under a regular file", ("migrate", *SRC, *DST, *NEW, "--state", "{tmp}/plain/ledger.sqlite"), 2, "not a directory", setup=_file("plain")),
    Case("state file is a device", ("migrate", *SRC, *DST, *NEW, "--state", "/dev/null"), 2, "not a regular file"),
    Case("status of a device", ("status", "--state", "/dev/null"), 2, "not a regular file"),
    Case("ledger of another migration, target missing", (*MIGRATE, *NEW), 2, "belongs to a different migration", setup=_other_ledger),
    Case("sync on a migrate ledger of another migration", (*SYNC, *NEW), 2, "belongs to a different migration", setup=_other_ledger),
    Case("status of someone else's SQLite file", ("status", "--state", STATE_FILE), 2, "did not write", setup=_foreign_sqlite, check=_unchanged_foreign),
    Case("status of random bytes", ("status", "--state", STATE_FILE), 2, "not a pinecone-migrator state file", setup=_state(b"\x00\xff" * 300)),
    Case("status of a missing file", ("status", "--state", "{tmp}/none.sqlite"), 2, "does not exist"),
    Case("status of a directory", ("status", "--state", "{tmp}"), 2, "is a directory"),
    # Output paths are checked before the run.
    Case("--report under /proc", (*MIGRATE, *NEW, "--report", "/proc/version/report.json"), 2, "report.*cannot be created", check=_no_state_written),
    Case("--report is a directory", (*MIGRATE, *NEW, "--report", "{tmp}"), 2, "report.*is a directory"),
    Case("plan --report under a regular file", ("plan", *SRC, *DST, *STATE, *NEW, "--report", "{tmp}/plain/r.json"), 2, "not a directory", setup=_file("plain")),
    # A prices file replaces the built-in list prices only when every figure in it is one.
    Case("plan --prices not JSON", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/p.json"), 2, r"--prices .*p\.json: not valid JSON", setup=_written("p.json", "{usd_per_million_read_units: 16")),
    Case("plan --prices not TOML", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/p.toml"), 2, r"--prices .*p\.toml: not valid TOML", setup=_written("p.toml", "usd_per_million_read_units = = 16")),
    Case("plan --prices with an unknown key", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/p.json"), 2, "unknown key 'read_units'; the keys are", setup=_written("p.json", '{"read_units": 16}')),
    Case("plan --prices with a negative price", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/p.json"), 2, "usd_per_gb_egress must be a number of US dollars, 0 or more", setup=_written("p.json", '{"usd_per_gb_egress": -1}')),
    Case("plan --prices that is a list", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/p.json"), 2, "expected an object of prices", setup=_written("p.json", "[16, 4]")),
    Case("plan --prices missing", ("plan", *SRC, *DST, *STATE, *NEW, "--prices", "{tmp}/none.json"), 2, r"--prices .*none\.json: cannot be read"),
    Case("verify --diff under /proc", (*VERIFY, "--source-index", "src", "--target-index", "small", "--diff", "/proc/version/d.jsonl"), 2, "diff.*cannot be created"),
    Case("sync --report is a directory", (*SYNC, *NEW, "--report", "{tmp}"), 2, "report.*is a directory"),
    # Ambiguous input is refused, not guessed.
    Case("--namespace-map maps one namespace twice", (*MIGRATE, *NEW, "--namespace-map", "tenant-a=x", "--namespace-map", "tenant-a=y"), 2, "maps 'tenant-a' twice"),
    Case("empty --namespace", (*MIGRATE, *NEW, "--namespace", ""), 2, "empty namespace name.*__default__"),
    Case("empty --target-namespace", (*MIGRATE, *NEW, "--target-namespace", ""), 2, "--target-namespace.*__default__"),
    Case("--namespace-map with an empty target", (*MIGRATE, *NEW, "--namespace-map", "tenant-a="), 2, "empty namespace name"),
    Case("--namespace-map with an empty source", (*MIGRATE, *NEW, "--namespace-map", "=x"), 2, "empty namespace name"),
    Case("--namespace-map without =", (*MIGRATE, *NEW, "--namespace-map", "tenant-a"), 2, "SOURCE=TARGET"),
    Case("--namespace-map of a namespace not copied", (*MIGRATE, *NEW, "--namespace", "tenant-a", "--namespace-map", "__default__=x"), 2, "not being copied"),
    Case("--target-namespace with --namespace-map", (*MIGRATE, *NEW, "--target-namespace", "x", "--namespace-map", "tenant-a=y"), 2, "exclude each other"),
    Case("--fallback-namespace without --namespace-from-metadata", (*MIGRATE, *NEW, "--fallback-namespace", "x"), 2, "only applies"),
    Case("empty --namespace-from-metadata", (*MIGRATE, *NEW, "--namespace-from-metadata", ""), 2, "name the metadata field"),
    Case("merge without --allow-merge", (*MIGRATE, *NEW, "--target-namespace", "all"), 2, "--allow-merge"),
    Case("sync --updated-field on text values", (*SYNC, *NEW, "--updated-field", "title"), 2, "not numbers.*--detect-updates", check=_no_state_written),
    Case("sync --updated-field on a field no record has", (*SYNC, *NEW, "--updated-field", "updated_at"), 2, "has that field"),
    Case("sync --stamp-source with --detect-updates", (*SYNC, *NEW, "--stamp-source", "--detect-updates"), 2, "excludes"),
    # Hosts, keys, names.
    Case("--source-host that is not a URL", ("migrate", "--source-host", "not a url", "--source-api-key-env", "SRC_KEY", *DST, *STATE, *NEW), 2, "not an http\\(s\\) URL", timeout=10),
    Case("--target-host with another scheme", ("migrate", *SRC, "--target-host", "ftp://127.0.0.1:1", "--target-api-key-env", "DST_KEY", *STATE, *NEW), 2, "not an http\\(s\\) URL", timeout=10),
    Case("--source-host with a port that is not a number", ("migrate", "--source-host", "http://127.0.0.1:port", "--source-api-key-env", "SRC_KEY", *DST, *STATE, *NEW), 2, "not a URL", timeout=10),
    Case("missing API key variable", ("migrate", "--source-host", "{src}", "--source-api-key-env", "NO_SUCH_KEY_VAR", *DST, *STATE, *NEW), 2, "No API key for the source.*NO_SUCH_KEY_VAR"),
    Case("empty API key variable", (*MIGRATE, *NEW), 2, "No API key for the target", env={"DST_KEY": ""}),
    Case("source index missing", (*MIGRATE, "--source-index", "nope", "--target-index", "new"), 2, "source index 'nope' does not exist"),
    Case("unknown namespace", (*MIGRATE, *NEW, "--namespace", "nope"), 2, "no namespace 'nope'"),
    Case("incompatible existing target", (*MIGRATE, "--source-index", "src", "--target-index", "small"), 2, "does not fit the source.*dimension", check=_no_state_written),
    Case("missing target with --no-create-target", (*MIGRATE, *NEW, "--no-create-target"), 2, "does not exist, and creating it was ruled out \\(--no-create-target"),
    Case("target index name Pinecone refuses", (*MIGRATE, "--source-index", "src", "--target-index", "Bad_Name!"), 2, "Bad_Name!"),
    # Filters.
    Case("filter nested 300 levels deep", (*MIGRATE, *NEW, "--filter", _nested_filter(300)), 2, "--filter.*(deep|nest)"),
    Case("filter that is not JSON", (*MIGRATE, *NEW, "--filter", "{year: 2020}"), 2, "not valid JSON"),
    Case("filter that is a list", (*MIGRATE, *NEW, "--filter", "[1, 2]"), 2, "must be a JSON object"),
    Case("filter with an unknown operator", (*MIGRATE, *NEW, "--filter", '{"year": {"$near": 3}}'), 2, "\\$near"),
    # Options and config.
    Case("--concurrency 0", (*MIGRATE, *NEW, "--concurrency", "0"), 2, "--concurrency"),
    Case("--shards 0", (*MIGRATE, *NEW, "--shards", "0"), 2, "--shards"),
    Case("--shards many", (*MIGRATE, *NEW, "--shards", "many"), 2, "auto, off, or a number"),
    Case("--max-request-bytes too small", (*MIGRATE, *NEW, "--max-request-bytes", "5"), 2, "--max-request-bytes"),
    Case("--verify of an unknown kind", (*MIGRATE, *NEW, "--verify", "thorough"), 2, "--verify"),
    Case("--log-format xml", (*MIGRATE, *NEW, "--log-format", "xml"), 2, "--log-format"),
    Case("verify --level of an unknown kind", (*VERIFY, *NEW, "--level", "deep"), 2, "--level"),
    Case("verify --delete-extra without --repair", (*VERIFY, *NEW, "--delete-extra"), 2, "only applies with --repair"),
    Case("unknown option", (*MIGRATE, *NEW, "--turbo"), 2, "No such option"),
    Case("option from the environment that is not a number", (*MIGRATE, *NEW), 2, "concurrency", env={"PINECONE_MIGRATOR_MIGRATE_CONCURRENCY": "lots"}),
    Case("./config.json that is not JSON", (*MIGRATE, *NEW), 2, "config.json", setup=_config("{not json")),
    Case("--config with an unknown key", (*MIGRATE, *NEW, "--config", "{tmp}/config.json"), 2, "turbo", setup=_config('{"turbo": true}')),
    Case("--config with a wrongly typed key", (*MIGRATE, *NEW, "--config", "{tmp}/config.json"), 2, "concurrency", setup=_config('{"concurrency": "lots"}')),
    Case("--config that does not exist", (*MIGRATE, *NEW, "--config", "{tmp}/none.json"), 2, "none.json"),
    Case("--config that is a directory", (*MIGRATE, *NEW, "--config", "{tmp}/cfg"), 2, "cfg", setup=_folder("cfg")),
    Case("--config that is a JSON list", (*MIGRATE, *NEW, "--config", "{tmp}/config.json"), 2, "config", setup=_config("[1, 2]")),
    Case("reset without --yes and without a terminal", ("reset", *SRC, "--source-index", "src", "--state", STATE_FILE), 2, "--yes"),
    # Dedicated read nodes hold one namespace; a fold needs its one namespace; sync does not fold.
    Case("migrate of three namespaces into dedicated read nodes", (*MIGRATE, *NEW, "--target-read-nodes", "b1"), 2, r"dedicated read nodes, which hold one namespace.*3 namespaces.*--namespace NAME.*--namespace-to-metadata FIELD --target-namespace"),
    Case("plan of three namespaces into dedicated read nodes", ("plan", *SRC, *DST, *STATE, *NEW, "--target-read-nodes", "t1"), 2, r"hold one namespace.*--namespace-to-metadata"),
    Case("metadata routing into dedicated read nodes", (*MIGRATE, *NEW, "--target-read-nodes", "b1", "--namespace-from-metadata", "tenant"), 2, r"hold one namespace.*--namespace-from-metadata"),
    Case("import of three namespaces into dedicated read nodes", ("import", *DST, *STATE, "--from", "{export}", "--target-index", "new", "--target-read-nodes", "b1"), 2, r"hold one namespace.*--namespace-to-metadata"),
    Case("sync into dedicated read nodes", (*SYNC, *NEW, "--target-read-nodes", "b1"), 2, r"hold one namespace"),
    Case("--namespace-to-metadata without --target-namespace", (*MIGRATE, *NEW, "--namespace-to-metadata", "home"), 2, "needs --target-namespace"),
    Case("--namespace-to-metadata with --namespace-from-metadata", (*MIGRATE, *NEW, "--namespace-to-metadata", "home", "--namespace-from-metadata", "home"), 2, "choose one"),
    Case("--namespace-to-metadata of no field", (*MIGRATE, *NEW, "--namespace-to-metadata", " ", "--target-namespace", "all"), 2, "name the metadata field"),
    Case("--drop-namespace-field without --namespace-from-metadata", (*MIGRATE, *NEW, "--drop-namespace-field"), 2, "only applies with --namespace-from-metadata"),
    Case("sync --namespace-to-metadata", (*SYNC, *NEW, "--namespace-to-metadata", "home", "--target-namespace", "all"), 2, "sync cannot fold"),
    # The original script's config.json: its modes that are other commands here are refused, naming them.
    Case("original config: verify_only", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'verify_only'.*pinecone-migrator verify --config", setup=_seed(verify_only=True)),
    Case("original config: reset_migration_flags", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'reset_migration_flags'.*pinecone-migrator reset --stamps --source-index src", setup=_seed(reset_migration_flags=True)),
    Case("original config: reset_mode", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'reset_mode'.*reset --stamps", setup=_seed(reset_mode=True)),
    Case("original config: delta_mode", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'delta_mode'.*sync command.*sync --config", setup=_seed(delta_mode=True)),
    Case("original config: delta_delay_between_runs", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'delta_delay_between_runs'.*sync --config \\S+ --interval 30", setup=_seed(delta_delay_between_runs=True, delta_delay_duration=30)),
    Case("original config: write_to_parquet", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'write_to_parquet'.*export command", setup=_seed(write_to_parquet=True)),
    Case("original config: save_to_s3", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'save_to_s3'.*export command \\(--to s3://b/f\\)", setup=_seed(save_to_s3=True, bucket_name="b", s3_folder_name="f")),
    Case("original config: prime_index_store", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'prime_index_store'.*ledger \\(--state\\)", setup=_seed(prime_index_store=True)),
    Case("original config: metadata routing without a field", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "names no metadata_field_to_namespace_from", setup=_seed(namespace_from_metadata_field=True)),
    Case("original config: a flag that is not a bool", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "'iterate_over_namespaces' must be a bool", setup=_seed(iterate_over_namespaces="yes")),
    Case("original config: create_target false", (*MIGRATE, "--config", "{tmp}/config.json"), 2, "creating it was ruled out.*create_target: false", setup=_seed(create_target=False)),
    Case("--clean-namespace-names without --namespace-from-metadata", (*MIGRATE, *NEW, "--clean-namespace-names"), 2, "only applies with --namespace-from-metadata"),
    # --source/--target URIs: other databases (and pinecone://NAME)
    Case("--source of an unknown scheme", (*URI_MIGRATE, "--source", "mongodb://127.0.0.1/x", "--target-index", "new"), 2, "unknown scheme 'mongodb'"),
    Case("--source without a scheme", (*URI_MIGRATE, "--source", "items", "--target-index", "new"), 2, "is not a store URI"),
    Case("--source with a password in it", (*URI_MIGRATE, "--source", "postgresql://app:hunter2@127.0.0.1:1/db?table=t", "--target-index", "new"), 2, "carries a password.*PGPASSWORD", check=_secret_not_shown),
    Case("--source and --source-index both", (*URI_MIGRATE, "--source", "pinecone://src", "--source-index", "src", "--target-index", "new"), 2, "both name the source"),
    Case("no source at all", (*URI_MIGRATE, "--target-index", "new"), 2, "Name the source: --source-index NAME .* or --source URI"),
    Case("no target at all", (*MIGRATE, "--source-index", "src"), 2, "Name the target: --target-index NAME .* or --target URI"),
    Case("--source-host beside a database URI", (*MIGRATE, "--source", "lancedb:///{tmp}/db?table=t", "--target-index", "new"), 2, "names its own host: leave one out"),
    Case("pinecone:// without a name", (*MIGRATE, "--source", "pinecone://", "--target-index", "new"), 2, "write pinecone://INDEX-NAME"),
    Case("an unknown option of a database URI", (*URI_MIGRATE, "--source", "lancedb:///{tmp}/db?table=t&tabel=u", "--target-index", "new"), 2, "unknown option.*tabel"),
    Case("a database source that does not exist", (*URI_MIGRATE, "--source", "lancedb:///{tmp}/db?table=items", "--target-index", "new"), 2, "does not exist"),
    Case("a port that is not a number", (*URI_MIGRATE, "--source", "qdrant://127.0.0.1:port/c", "--target-index", "new"), 2, "port is not a number"),
    Case("native backup of a database", ("backup", "--native", "--source", "lancedb:///{tmp}/db?table=t"), 2, "Pinecone indexes only"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path) -> None:
    run_case(case, world, tmp_path)


def test_every_case_is_named_once() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert orjson.dumps(names)
