"""Real object-storage emulators on 127.0.0.1, reached through fsspec by environment variables alone.

One server per backend per test session (started lazily, as a child process, on a free loopback port,
with its data in a temporary directory, and always stopped at teardown):

- S3: moto's server (``moto_server``, PyPI ``moto[server]``)
- GCS: ``gcp-storage-emulator`` (PyPI)
- Azure Blob: Azurite (npm ``azurite``, installed by the Makefile into ``.tools/``)

Each test that asks for ``s3_store`` / ``gcs_store`` / ``azure_store`` (or the parametrized ``object_store``)
gets an :class:`ObjectStore` with a fresh prefix, and the current process's environment set (through
``monkeypatch``) so that a plain ``fsspec.filesystem(protocol)`` or ``fsspec.open(uri)`` reaches the
emulator; :meth:`ObjectStore.child_env` is the environment for a child process (our CLI) to do the same.

What each backend needs (standard variables only, no fsspec options):

- S3 (s3fs/aiobotocore): ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_DEFAULT_REGION``; ``AWS_EC2_METADATA_DISABLED``, ``AWS_CONFIG_FILE`` and
  ``AWS_SHARED_CREDENTIALS_FILE`` only keep a developer's own AWS setup (and the instance-metadata
  address) out of the tests.
- GCS (gcsfs): ``STORAGE_EMULATOR_HOST`` is the endpoint. gcsfs reads no project variable
  (``GOOGLE_CLOUD_PROJECT`` is ignored; only ``GCSFS_DEFAULT_PROJECT``) and needs none for object
  operations. With no credentials gcsfs falls back to anonymous access, but only after google-auth's
  default-credential lookup, which pings the GCE metadata server (169.254.169.254) unless
  ``NO_GCE_CHECK=true``; ``CLOUDSDK_CONFIG`` (an empty directory) keeps a developer's gcloud login out.
  ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` stops gcsfs (>= 2026.x) asking the storage-control gRPC API
  for the bucket type before every operation: without it each operation logs a warning, and with
  ``token="anon"`` it retries against the emulator for minutes.
- Azure (adlfs): ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite's well-known development account).

The GCS variables ``NO_GCE_CHECK`` and ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` are read when google-auth /
gcsfs are imported; the fixtures set them before the first import and patch the module flags if the
modules were already imported (a child process started with :meth:`ObjectStore.child_env` needs nothing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0

# Azurite's documented development-storage account (public, fixed).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# Variables that would otherwise steer a client elsewhere (a developer's own cloud setup): removed.
S3_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_USE_FIPS_ENDPOINT")
GCS_UNSET = ("GOOGLE_APPLICATION_CREDENTIALS", "GCSFS_DEFAULT_PROJECT", "FSSPEC_GS_TOKEN", "FSSPEC_GCS_TOKEN")
AZURE_UNSET = (
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
    "AZURE_STORAGE_ANON",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmulatorProcess:
    """A server as a child process in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], port: int, workdir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.args = args
        self.port = port
        self.workdir = workdir
        self.env = dict(env)
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> EmulatorProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not listen within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)  # the group this fixture created (start_new_session)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class Emulator:
    """A running emulator: its protocol, bucket/container, and the environment that reaches it."""

    protocol: str  # fsspec protocol: "s3", "gs" or "az"
    bucket: str
    env: Mapping[str, str]
    unset: tuple[str, ...]
    process: EmulatorProcess

    def store(self, prefix: str | None = None) -> ObjectStore:
        return ObjectStore(
            protocol=self.protocol,
            bucket=self.bucket,
            prefix=prefix or f"t-{uuid.uuid4().hex[:12]}",
            env=self.env,
            unset=self.unset,
        )


@dataclass(frozen=True)
class ObjectStore:
    """One test's corner of an emulator: ``uri`` is ``<protocol>://<bucket>/<prefix>``."""

    protocol: str
    bucket: str
    prefix: str
    env: Mapping[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"{self.protocol}://{self.bucket}/{self.prefix}"

    @property
    def root(self) -> str:
        """The prefix as an fsspec path (no protocol): ``<bucket>/<prefix>``."""
        return f"{self.bucket}/{self.prefix}"

    def path(self, *parts: str) -> str:
        """``<bucket>/<prefix>/<parts...>``, the form fsspec filesystems take and return."""
        return "/".join([self.root, *parts])

    def url(self, *parts: str) -> str:
        return f"{self.protocol}://{self.path(*parts)}"

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a child process (e.g. our CLI) that reaches this store with plain fsspec."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in self.unset}
        env.update(self.env)
        return env

    def filesystem(self, **options: Any) -> Any:
        """A new (uncached) fsspec filesystem for this protocol, configured from the environment only."""
        import fsspec

        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **options)


def _require_tool(path: str | None, what: str) -> str:
    if path:
        return path
    message = f"{what} not found: run `make install`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _base_env() -> dict[str, str]:
    """The emulator process's own environment: ours, without proxies (it only talks to loopback)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- S3: moto's server --------------------------------------------------------------------------------


def start_s3(workdir: Path) -> Emulator:
    port = free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    moto = _require_tool(moto, "moto_server (pip install 'moto[server]')")
    process = EmulatorProcess("moto", [moto, "-H", "127.0.0.1", "-p", str(port)], port, workdir, _base_env())
    process.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(workdir / "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "aws-credentials-absent"),
    }
    try:
        import s3fs

        fs = s3fs.S3FileSystem(
            key="testing",
            secret="testing",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            skip_instance_cache=True,
        )
        fs.mkdir("migrator-test")
    except BaseException:
        process.stop()
        raise
    return Emulator("s3", "migrator-test", env, S3_UNSET, process)


# --- GCS: gcp-storage-emulator ------------------------------------------------------------------------


def start_gcs(workdir: Path) -> Emulator:
    port = free_port()
    data = workdir / "gcs-data"
    data.mkdir()
    args = [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "--data-dir",
        str(data),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--default-bucket",
        "migrator-test",
        "--quiet",
    ]
    process = EmulatorProcess("gcp-storage-emulator", args, port, workdir, _base_env())
    process.start()
    gcloud = workdir / "gcloud-config"
    gcloud.mkdir()
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": str(gcloud),
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    return Emulator("gs", "migrator-test", env, GCS_UNSET, process)


def _patch_gcs_import_time_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make already-imported google-auth/gcsfs honour the variables they read only at import time."""
    metadata = sys.modules.get("google.auth.compute_engine._metadata")
    if metadata is not None:
        monkeypatch.setattr(metadata, "_NO_GCE_CHECK", True)
    gcsfs = sys.modules.get("gcsfs")
    if gcsfs is not None:
        import fsspec.registry

        plain = gcsfs.core.GCSFileSystem
        if gcsfs.GCSFileSystem is not plain:
            monkeypatch.setattr(gcsfs, "GCSFileSystem", plain)
            for proto in ("gs", "gcs"):
                if proto in fsspec.registry._registry:
                    monkeypatch.setitem(fsspec.registry._registry, proto, plain)


# --- Azure Blob: Azurite ------------------------------------------------------------------------------


def azurite_blob_command() -> str | None:
    local = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob")


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


def start_azure(workdir: Path) -> Emulator:
    azurite = _require_tool(azurite_blob_command(), "azurite-blob (npm install --prefix .tools azurite)")
    _require_tool(shutil.which("node"), "node")
    port = free_port()
    data = workdir / "azurite-data"
    data.mkdir()
    args = [
        azurite,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
    ]
    process = EmulatorProcess("azurite", args, port, workdir, _base_env())
    process.start()
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(port)}
    try:
        import adlfs

        fs = adlfs.AzureBlobFileSystem(
            connection_string=env["AZURE_STORAGE_CONNECTION_STRING"], skip_instance_cache=True
        )
        fs.mkdir("migrator-test")
    except BaseException:
        process.stop()
        raise
    return Emulator("az", "migrator-test", env, AZURE_UNSET, process)


STARTERS = {"s3": start_s3, "gs": start_gcs, "az": start_azure}


def _emulator(protocol: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    for attempt in range(3):  # the free port may be taken before the server binds it: try another
        try:
            emulator = STARTERS[protocol](tmp_path_factory.mktemp(f"emulator-{protocol}"))
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield emulator
    finally:
        emulator.process.stop()


def _use(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """A fresh prefix, with the current process's environment pointed at the emulator."""
    import fsspec

    for name in emulator.unset:
        monkeypatch.delenv(name, raising=False)
    for name, value in emulator.env.items():
        monkeypatch.setenv(name, value)
    if emulator.protocol == "gs":
        _patch_gcs_import_time_flags(monkeypatch)
    # Cached instances keep their directory listings (and settings) across tests: start clean.
    fsspec.get_filesystem_class(emulator.protocol).clear_instance_cache()
    return emulator.store()


# --- fixtures (registered in tests/conftest.py) -------------------------------------------------------


@pytest.fixture(scope="session")
def s3_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _emulator("s3", tmp_path_factory)


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _emulator("gs", tmp_path_factory)


@pytest.fixture(scope="session")
def azure_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _emulator("az", tmp_path_factory)


@pytest.fixture
def s3_store(s3_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    return _use(s3_emulator, monkeypatch)


@pytest.fixture
def gcs_store(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    return _use(gcs_emulator, monkeypatch)


@pytest.fixture
def azure_store(azure_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    return _use(azure_emulator, monkeypatch)


EMULATOR_FIXTURES = {"s3": "s3_emulator", "gs": "gcs_emulator", "az": "azure_emulator"}


@pytest.fixture(params=["s3", "gs", "az"])
def object_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """Each backend in turn (its emulator started on first use)."""
    emulator: Emulator = request.getfixturevalue(EMULATOR_FIXTURES[request.param])
    return _use(emulator, monkeypatch)
