"""A full disk under the state file: one line, exit 3 (run again to resume), no traceback; once there is
room, the same command finishes and the target equals the source. The disk is a real tmpfs of 40 KiB."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY, cli_command, contents, load_source
from ..serverproc import ServerProcess


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_under_the_ledger_is_one_line_and_the_run_resumes(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, tiny_disk: Path
) -> None:
    source, target = servers
    written = load_source(Pinecone(api_key=SOURCE_KEY, host=source.url), count=1000)
    command, env = cli_command(
        source, target, tmp_path, "migrate", "--source-index", "src", "--target-index", "dst"
    )
    command[command.index("--state") + 1] = str(tiny_disk / "ledger.sqlite")
    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 3, full.stderr
    assert "Traceback" not in full.stderr and "internal error" not in full.stderr
    assert "a state file (--state, or its staging beside it) could not be written" in full.stderr
    assert "run the same command again to resume" in full.stderr
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert contents(Pinecone(api_key=TARGET_KEY, host=target.url), "dst") == written
