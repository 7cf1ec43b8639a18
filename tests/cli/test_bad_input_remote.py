"""Bad input met at a remote: refused API keys, unknown import and backup IDs, missing indexes, hosts that
refuse connections. One row per case, run through the real CLI against the two shared servers.

A refused key is bad input (exit 2, no retry) and the message names the side and the variable to check,
never the key itself; an unknown ID names the ID; a host that refuses connections fails within seconds
(exit 3) naming the host and the option to check.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from ..cliproc import SOURCE_KEY, TARGET_KEY
from .badinput import EXPORT, IMPORT, MIGRATE, SYNC, VERIFY, Case, CaseWorld, World, run_case

WRONG_KEY = "wrong-key-5d1c9e"
WRONG_SOURCE = {"SRC_KEY": WRONG_KEY}
WRONG_TARGET = {"DST_KEY": WRONG_KEY}
SOURCE_REFUSED = (
    r"source index 'src' at http\S+ refused the API key.*SRC_KEY \(named by --source-api-key-env\)"
)
TARGET_REFUSED = (
    r"target index '(new|small)' at http\S+ refused the API key.*DST_KEY \(named by --target-api-key-env\)"
)
SOURCE_INDEX = ("--source-index", "src")
NEW_TARGET = ("--target-index", "new")
PLAN = (
    "plan",
    "--source-host",
    "{src}",
    "--source-api-key-env",
    "SRC_KEY",
    "--target-host",
    "{dst}",
    "--target-api-key-env",
    "DST_KEY",
)
JOBS = ("--target-host", "{dst}", "--target-api-key-env", "DST_KEY")
BACKUP = ("backup", "--native", "--source-host", "{src}", "--source-api-key-env", "SRC_KEY")
RESTORE = ("restore", "--native", "--target-host", "{dst}", "--target-api-key-env", "DST_KEY")
IMPORTS_OF_SMALL = ("--target-index", "small", *JOBS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Nothing listens there: connections are refused at once.
DEAD_HOST = f"http://127.0.0.1:{_free_port()}"
UNREACHABLE = 3
QUICKLY = 20.0  # seconds, Python's start included: the long retry budget would take minutes


def no_key_shown(here: CaseWorld, result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    for key in (WRONG_KEY, SOURCE_KEY, TARGET_KEY):
        assert key not in output, f"an API key is shown:\n{output}"


def _refused(name: str, argv: tuple[str, ...], message: str, env: dict[str, str]) -> Case:
    return Case(name, argv, 2, message, env=env, check=no_key_shown, timeout=QUICKLY)


CASES = [
    # -- a refused API key: exit 2 at once, naming the side and the variable --------------------------------
    _refused("migrate, wrong source key", (*MIGRATE, *SOURCE_INDEX, *NEW_TARGET), SOURCE_REFUSED, WRONG_SOURCE),
    _refused("migrate, wrong target key", (*MIGRATE, *SOURCE_INDEX, *NEW_TARGET), TARGET_REFUSED, WRONG_TARGET),
    _refused("plan, wrong source key", (*PLAN, *SOURCE_INDEX, *NEW_TARGET), SOURCE_REFUSED, WRONG_SOURCE),
    _refused("plan, wrong target key", (*PLAN, *SOURCE_INDEX, *NEW_TARGET), TARGET_REFUSED, WRONG_TARGET),
    _refused("verify, wrong source key", (*VERIFY, *SOURCE_INDEX, "--target-index", "small"), SOURCE_REFUSED,
             WRONG_SOURCE),
    _refused("verify, wrong target key", (*VERIFY, *SOURCE_INDEX, "--target-index", "small"), TARGET_REFUSED,
             WRONG_TARGET),
    _refused("sync, wrong source key", (*SYNC, *SOURCE_INDEX, *NEW_TARGET), SOURCE_REFUSED, WRONG_SOURCE),
    _refused("sync, wrong target key", (*SYNC, *SOURCE_INDEX, *NEW_TARGET), TARGET_REFUSED, WRONG_TARGET),
    _refused("export, wrong source key", (*EXPORT, *SOURCE_INDEX, "--to", "{tmp}/out"), SOURCE_REFUSED,
             WRONG_SOURCE),
    _refused("import, wrong target key", (*IMPORT, "--from", "{export}", *NEW_TARGET), TARGET_REFUSED,
             WRONG_TARGET),
    _refused("import --bulk, wrong target key", (*IMPORT, "--bulk", "--from", "{export}", *NEW_TARGET),
             TARGET_REFUSED, WRONG_TARGET),
    _refused("backup --native, wrong source key", (*BACKUP, *SOURCE_INDEX), SOURCE_REFUSED, WRONG_SOURCE),
    _refused("restore --native, wrong target key", (*RESTORE, "--from", "some-backup", *NEW_TARGET),
             TARGET_REFUSED, WRONG_TARGET),
    _refused("imports list, wrong key", ("imports", "list", *IMPORTS_OF_SMALL), TARGET_REFUSED, WRONG_TARGET),
    _refused("imports describe, wrong key", ("imports", "describe", "nope-123", *IMPORTS_OF_SMALL),
             TARGET_REFUSED, WRONG_TARGET),
    _refused("imports cancel, wrong key", ("imports", "cancel", "nope-123", *IMPORTS_OF_SMALL), TARGET_REFUSED,
             WRONG_TARGET),
    # -- an ID or index that does not exist: exit 2, naming it -----------------------------------------------
    Case("imports describe, unknown ID", ("imports", "describe", "nope-123", *IMPORTS_OF_SMALL), 2,
         "no bulk import 'nope-123'.*index 'small'.*imports list"),
    Case("imports cancel, unknown ID", ("imports", "cancel", "nope-123", *IMPORTS_OF_SMALL), 2,
         "no bulk import 'nope-123'.*index 'small'.*imports list"),
    Case("imports list, missing index", ("imports", "list", "--target-index", "nowhere", *JOBS), 2,
         r"target index 'nowhere' at http\S+ does not exist.*--target-index"),
    Case("imports describe, missing index", ("imports", "describe", "nope-123", "--target-index", "nowhere",
                                             *JOBS), 2, r"target index 'nowhere' at http\S+ does not exist"),
    Case("restore --native, unknown backup", (*RESTORE, "--from", "no-such-backup", *NEW_TARGET), 2,
         "no backup 'no-such-backup'"),
    Case("backup --native, missing index", (*BACKUP, "--source-index", "nowhere"), 2,
         r"source index 'nowhere' at http\S+ does not exist.*--source-index"),
    # -- a key that cannot be sent, a host that is not a control plane: exit 2 ------------------------------
    _refused("backup --native, key with a newline", (*BACKUP, *SOURCE_INDEX), r"API key in the variable "
             r"SRC_KEY \(named by --source-api-key-env\) cannot be sent.*newline", {"SRC_KEY": WRONG_KEY + "\n"}),
    _refused("migrate, key with a newline", (*MIGRATE, *SOURCE_INDEX, *NEW_TARGET),
             r"API key in the variable SRC_KEY \(named by --source-api-key-env\) cannot be sent.*newline",
             {"SRC_KEY": WRONG_KEY + "\n"}),
    Case("imports list, host is not a control plane",
         ("imports", "list", "--target-index", "small", "--target-host", "{dst}/nope", "--target-api-key-env",
          "DST_KEY"), 2, r"index 'small' at http\S+/nope does not exist.*--target-host"),
    Case("migrate, source host is not a control plane",
         ("migrate", "--source-host", "{src}/v1", "--source-api-key-env", "SRC_KEY", "--target-host", "{dst}",
          "--target-api-key-env", "DST_KEY", "--state", "{tmp}/ledger.sqlite", *SOURCE_INDEX, *NEW_TARGET),
         2, "answered 404.*not a Pinecone control plane"),
    # -- a host that refuses connections: exit 3 within seconds, naming the host and the option --------------
    Case("migrate, source host refuses connections",
         ("migrate", "--source-host", DEAD_HOST, "--source-api-key-env", "SRC_KEY", "--target-host", "{dst}",
          "--target-api-key-env", "DST_KEY", "--state", "{tmp}/ledger.sqlite", *SOURCE_INDEX, *NEW_TARGET),
         UNREACHABLE, f"{DEAD_HOST}.*--source-host", timeout=QUICKLY),
    Case("migrate, target host refuses connections",
         ("migrate", "--source-host", "{src}", "--source-api-key-env", "SRC_KEY", "--target-host", DEAD_HOST,
          "--target-api-key-env", "DST_KEY", "--state", "{tmp}/ledger.sqlite", *SOURCE_INDEX, *NEW_TARGET),
         UNREACHABLE, f"{DEAD_HOST}.*--target-host", timeout=QUICKLY),
    Case("export, source host refuses connections",
         ("export", "--source-host", DEAD_HOST, "--source-api-key-env", "SRC_KEY", "--state",
          "{tmp}/ledger.sqlite", *SOURCE_INDEX, "--to", "{tmp}/out"),
         UNREACHABLE, f"{DEAD_HOST}.*--source-host", timeout=QUICKLY),
    Case("imports list, host refuses connections",
         ("imports", "list", "--target-index", "small", "--target-host", DEAD_HOST, "--target-api-key-env",
          "DST_KEY"), UNREACHABLE, f"{DEAD_HOST}.*--target-host", timeout=QUICKLY),
    Case("restore --native, host refuses connections", ("restore", "--native", "--from", "some-backup",
         "--target-host", DEAD_HOST, "--target-api-key-env", "DST_KEY", *NEW_TARGET),
         UNREACHABLE, f"{DEAD_HOST}.*--target-host", timeout=QUICKLY),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_remote(case: Case, world: World, tmp_path: Path) -> None:
    run_case(case, world, tmp_path)
