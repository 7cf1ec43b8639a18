"""The server as a child process (``pinecone-migrator serve``), for tests that kill or restart it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

import httpx


class ServerProcess:
    """``grpc=True`` serves the data plane over gRPC too, on ephemeral ports (``--grpc-port 0``): each
    index's address is in its description (``grpc_host``) and in :meth:`grpc_hosts`."""

    def __init__(self, data_dir: Path | None, *extra: str, port: int = 0, grpc: bool = False) -> None:
        location = ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
        if grpc:
            location += ["--grpc-port", "0"]
        self.args = [
            sys.executable,
            "-m",
            "pinecone_migrator",
            "serve",
            "--port",
            str(port),
            *location,
            *extra,
        ]
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line
        return self

    def grpc_hosts(self) -> dict[str, str]:
        """``{index: "127.0.0.1:PORT"}``: where each index's gRPC data plane listens."""
        key = self.args[self.args.index("--api-key") + 1] if "--api-key" in self.args else "any"
        hosts: dict[str, str] = httpx.get(
            f"{self.url}/_admin/grpc", headers={"Api-Key": key}, timeout=10
        ).json()
        return hosts

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def log_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
