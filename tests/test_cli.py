"""The command line: user errors get a clear message and an exit code, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .serverproc import ServerProcess


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", *args], capture_output=True, text=True, timeout=60
    )


def test_serve_refuses_contradictory_storage_flags(tmp_path: Path) -> None:
    result = _run("serve", "--in-memory", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--in-memory and --data-dir exclude each other" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 2  # bad input: 1 means "declined at the prompt"
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_api_key_never_prints_it(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--api-key", "top-secret-value") as server:
        assert httpx.get(f"{server.url}/indexes").status_code == 401
        assert httpx.get(f"{server.url}/indexes", headers={"Api-Key": "top-secret-value"}).status_code == 200
        assert "listening on" in server.log_text()
        assert "top-secret-value" not in server.log_text()


def test_version_and_help() -> None:
    assert _run("--version").stdout.startswith("pinecone-migrator, version")
    help_text = _run("serve", "--help").stdout
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--in-memory",
        "--api-key",
        "--rate-limits",
        "--visibility-delay-ms",
    ):
        assert flag in help_text
