"""A real Chroma server for the tests and the benchmark: ``chroma run`` from the chromadb package.

:class:`ChromaServer` starts one on a free port of 127.0.0.1 with its data in a temporary folder (telemetry
off), waits until it answers, and on leaving stops it (SIGTERM, then SIGKILL of its whole process group)
and removes the folder. Each test names a database of its own (:meth:`ChromaServer.new_database`), so one
server serves a whole session.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

START_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ChromaServer:
    def __init__(self, path: Path | None = None) -> None:
        self._temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="chroma-")) if path is None else path
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._numbers = itertools.count()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ChromaServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        chroma = Path(sys.executable).parent / "chroma"
        command = [str(chroma), "run", "--path", str(self.path / "data"), "--host", self.host]
        command += ["--port", str(self.port)]
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        log = open(self.path / "server.log", "wb")  # noqa: SIM115 - the server writes it until stopped
        try:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        finally:
            log.close()
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self._process.returncode}: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"chroma run did not answer within {START_SECONDS:.0f} s: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return (self.path / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def new_database(self, stem: str = "db") -> str:
        """A database name not used before on this server (the store creates it when it writes)."""
        return f"{stem}{next(self._numbers)}"

    def uri(self, database: str | None = None, **options: str) -> str:
        """A store URI of ``database`` (a new one unless named) on this server, with options."""
        chosen = {"database": database or self.new_database(), **options}
        query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in chosen.items())
        return f"chroma://{self.host}:{self.port}/?{query}"
