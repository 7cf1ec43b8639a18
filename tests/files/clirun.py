"""Running export / import as a user does: a child process against a local server, keys from the env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..cliproc import SOURCE_KEY, TARGET_KEY
from ..serverproc import ServerProcess


def export_command(source: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    command = [
        sys.executable, "-m", "pinecone_migrator", "export",
        "--source-host", source.url, "--source-api-key-env", "SRC_KEY",
        "--state", str(tmp_path / "export-ledger.sqlite"), *args,
    ]  # fmt: skip
    return command, {**os.environ, "SRC_KEY": SOURCE_KEY}


def import_command(target: ServerProcess, tmp_path: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    command = [
        sys.executable, "-m", "pinecone_migrator", "import",
        "--target-host", target.url, "--target-api-key-env", "DST_KEY",
        "--state", str(tmp_path / "import-ledger.sqlite"), *args,
    ]  # fmt: skip
    return command, {**os.environ, "DST_KEY": TARGET_KEY}


def run(
    command: tuple[list[str], dict[str, str]], extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv, env = command
    return subprocess.run(argv, env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=300)
