"""Milvus for tests and benchmarks, two ways, both bounded and self-stopping:

- :class:`LiteDirectory`: Milvus Lite embedded in this process (pymilvus starts its engine for a ``.db``
  path); :meth:`LiteDirectory.close` stops it and frees the directory for other processes.
- :class:`LiteServer`: the same engine served over Milvus's gRPC protocol by a child process
  (``python -m milvus_lite server``), what ``milvus://127.0.0.1:PORT/collection`` names; killed on stop.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

START_SECONDS = 60.0


class LiteDirectory:
    """A Milvus Lite data directory ``<folder>/milvus.db``, opened in this process on first use."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "milvus.db"
        self._names = itertools.count()

    def uri(self, collection: str, **options: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in {"collection": collection, **options}.items())
        return f"milvus://{self.path}?{query}"

    def new_name(self, stem: str) -> str:
        return f"{stem}_{next(self._names)}"

    def client(self) -> object:
        from pymilvus import MilvusClient

        return MilvusClient(str(self.path))

    def close(self) -> None:
        """Stop the engine in this process (and release the directory's lock)."""
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(self.path))


class LiteServer:
    """Milvus Lite served on 127.0.0.1 by a child process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._names = itertools.count()

    def start(self) -> LiteServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "milvus_lite",
                "server",
                "--data-dir",
                str(self.data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Milvus Lite server did not start: {self.log_text()[-2000:]}")

    def uri(self, collection: str, **options: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in options.items())
        return f"milvus://127.0.0.1:{self.port}/{collection}" + (f"?{query}" if query else "")

    def new_name(self, stem: str) -> str:
        return f"{stem}_{next(self._names)}"

    def client(self) -> object:
        from pymilvus import MilvusClient

        return MilvusClient(f"http://127.0.0.1:{self.port}")

    def log_text(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        try:
            process.terminate()
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
            self.process = None

    def __enter__(self) -> LiteServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
