"""fsspec against real local emulators of S3 (moto), GCS (gcp-storage-emulator) and Azure Blob (Azurite).

Everything here goes through a plain ``fsspec.filesystem(protocol)`` / ``fsspec.open(uri)`` configured by
environment variables alone (see tests/objectstores.py), the way the exporter will use object storage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.callbacks import Callback

from tests.objectstores import AZURE_UNSET, GCS_UNSET, S3_UNSET, ObjectStore

MiB = 2**20

# Options that make put_file upload in several requests, so that it can be interrupted half-way:
# S3 multipart (5 MiB parts: S3's minimum), GCS resumable upload in 1 MiB chunks (multiples of 256 KiB),
# Azure staged blocks of 1 MiB (Put Block ... Put Block List); the sizes are of the file to upload.
MULTIPART_SIZE = {"s3": 11 * MiB, "gs": 5 * MiB + 1234, "az": 5 * MiB + 1234}
MULTIPART_KWARGS: dict[str, dict[str, Any]] = {
    "s3": {"chunksize": 5 * MiB},
    "gs": {"chunksize": MiB},
    "az": {},
}


def plain_fs(store: ObjectStore) -> Any:
    """The filesystem exactly as the exporter gets it: by protocol, configured by the environment."""
    return fsspec.filesystem(store.protocol)


def fresh_fs(store: ObjectStore, **options: Any) -> Any:
    """A filesystem instance that shares no listing cache with any other."""
    return fsspec.filesystem(store.protocol, skip_instance_cache=True, **options)


def force_multipart(fs: Any, protocol: str) -> None:
    """Azure's block size is a client setting, not a put_file argument: shrink it on this instance."""
    if protocol == "az":
        config = fs.service_client._config
        config.max_single_put_size = MiB
        config.max_block_size = MiB


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def clean_environment() -> dict[str, str]:
    """Our environment without anything that points at an emulator (to prove child_env is enough)."""
    drop = {"AWS_ENDPOINT_URL", "STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING"}
    drop |= {"NO_GCE_CHECK", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "CLOUDSDK_CONFIG"}
    drop |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    drop |= set(S3_UNSET) | set(GCS_UNSET) | set(AZURE_UNSET)
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_child(
    store: ObjectStore, code: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=store.child_env(clean_environment()),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class FailHalfway(Callback):  # type: ignore[misc]
    """Raises once some, but not all, of the upload has been reported."""

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        if self.size and 0 < self.value < self.size:
            raise RuntimeError(f"interrupted at {self.value} of {self.size} bytes")


def assert_interrupted(error: BaseException, protocol: str) -> None:
    """Our callback's error surfaced, or (GCS emulator) the failed cleanup's, with ours as its context.

    gcsfs cancels an interrupted resumable upload with DELETE on the session; real GCS answers 499, which
    gcsfs accepts, but gcp-storage-emulator answers 501, so the cleanup's HttpError replaces our error.
    """
    if protocol == "gs" and not isinstance(error, RuntimeError):
        assert "501" in str(error)
        error = error.__context__ or error
    assert isinstance(error, RuntimeError), repr(error)
    assert "interrupted at" in str(error)


def test_put_file_of_5_mb_reads_back_identical(object_store: ObjectStore, tmp_path: Path) -> None:
    data = random_file(tmp_path / "part-00000.bin", 5 * MiB + 17)
    fs = plain_fs(object_store)
    remote = object_store.path("export", "part-00000.bin")
    fs.put_file(str(tmp_path / "part-00000.bin"), remote)
    assert fs.info(remote)["size"] == len(data)
    assert fs.cat_file(remote) == data
    with fsspec.open(object_store.url("export", "part-00000.bin"), "rb") as f:
        f.seek(5 * MiB)
        assert f.read() == data[5 * MiB :]


def test_pipe_and_cat_small_text(object_store: ObjectStore) -> None:
    fs = plain_fs(object_store)
    remote = object_store.path("manifest.json")
    fs.pipe(remote, b'{"done": true}\n')
    assert fs.cat(remote) == b'{"done": true}\n'
    with fsspec.open(object_store.url("manifest.json"), "rt") as f:
        assert f.read() == '{"done": true}\n'


def test_ls_and_find_of_nested_prefix_are_sorted(object_store: ObjectStore) -> None:
    fs = plain_fs(object_store)
    files = ["z.txt", "a.txt", "ns=b/part-1.parquet", "ns=b/part-0.parquet", "ns=a/x/deep.bin"]
    for name in files:
        fs.pipe(object_store.path(name), name.encode())
    root = object_store.root
    assert sorted(fs.ls(root, detail=False)) == [f"{root}/{n}" for n in ["a.txt", "ns=a", "ns=b", "z.txt"]]
    assert fs.ls(root, detail=False) == sorted(fs.ls(root, detail=False))
    details = {e["name"]: e["type"] for e in fs.ls(root, detail=True)}
    assert details[f"{root}/ns=a"] == "directory"
    assert details[f"{root}/a.txt"] == "file"
    assert fs.ls(f"{root}/ns=b", detail=False) == [
        f"{root}/ns=b/part-0.parquet",
        f"{root}/ns=b/part-1.parquet",
    ]
    assert fs.find(root) == [f"{root}/{n}" for n in sorted(files)]
    assert fs.glob(f"{root}/ns=b/*.parquet") == [f"{root}/ns=b/part-0.parquet", f"{root}/ns=b/part-1.parquet"]


def test_exists_and_rm(object_store: ObjectStore) -> None:
    fs = plain_fs(object_store)
    remote = object_store.path("sub", "gone.txt")
    assert not fs.exists(remote)
    fs.pipe(remote, b"x")
    assert fs.exists(remote)
    assert fs.isfile(remote)
    assert fs.isdir(object_store.path("sub"))
    fs.rm(remote)
    assert not fs.exists(remote)
    assert not fresh_fs(object_store).exists(remote)
    fs.pipe(object_store.path("tree", "a"), b"a")
    fs.pipe(object_store.path("tree", "b", "c"), b"c")
    fs.rm(object_store.path("tree"), recursive=True)
    assert fresh_fs(object_store).find(object_store.path("tree")) == []


def test_parquet_written_locally_reads_remotely(object_store: ObjectStore, tmp_path: Path) -> None:
    table = pa.table({"id": [f"v{i}" for i in range(1000)], "values": [[float(i)] * 8 for i in range(1000)]})
    local = tmp_path / "part.parquet"
    pq.write_table(table, local, row_group_size=250)
    fs = plain_fs(object_store)
    remote = object_store.path("ns", "part.parquet")
    fs.put_file(str(local), remote)
    with fs.open(remote, "rb") as f:
        assert pq.read_table(f).equals(table)
    with fs.open(remote, "rb") as f:
        parquet = pq.ParquetFile(f)
        assert parquet.metadata.num_rows == 1000
        assert parquet.metadata.num_row_groups == 4
        assert parquet.read_row_group(3).column("id")[0].as_py() == "v750"
    with fsspec.open(object_store.url("ns", "part.parquet"), "rb") as f:
        assert pq.read_table(f, columns=["id"]).num_rows == 1000


def test_child_process_reaches_the_store_by_environment_alone(object_store: ObjectStore) -> None:
    code = """
        import sys, fsspec
        uri = sys.argv[1]
        with fsspec.open(uri + "/from-child.txt", "wb") as f:
            f.write(b"child")
        fs = fsspec.filesystem(uri.split("://")[0])
        print(fs.cat(uri.split("://")[1] + "/from-child.txt").decode())
    """
    result = run_child(object_store, code, object_store.uri)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child"
    assert result.stderr == ""  # no warnings (e.g. gcsfs's bucket-type lookup) either
    assert plain_fs(object_store).cat(object_store.path("from-child.txt")) == b"child"


# What an instance that has listed ``ns/`` says about an object another process then wrote there
# (s3fs/gcsfs answer exists/info from the cached listing, adlfs's exists asks the server).
STALE_EXISTS = {"s3": False, "gs": False, "az": True}


def test_listing_cache_hides_another_writers_objects_until_invalidated(object_store: ObjectStore) -> None:
    root = object_store.root
    ns = f"{root}/ns"
    fs = plain_fs(object_store)
    fs.pipe(object_store.path("ns", "first"), b"1")
    assert fs.ls(ns, detail=False) == [f"{ns}/first"]  # now cached in fs.dircache
    assert plain_fs(object_store) is fs  # fsspec.filesystem() hands back the same instance, cache and all
    # Another process (here: an instance sharing nothing) writes a second object.
    fresh_fs(object_store).pipe(object_store.path("ns", "second"), b"2")
    both = [f"{ns}/first", f"{ns}/second"]

    assert fs.ls(ns, detail=False) == [f"{ns}/first"], "ls answers from the listing cache"
    assert fs.exists(f"{ns}/second") is STALE_EXISTS[object_store.protocol]
    with pytest.raises(FileNotFoundError):
        fs.info(f"{ns}/second")
    if object_store.protocol == "s3":
        with pytest.raises(FileNotFoundError):  # s3fs even refuses to read it
            fs.cat(f"{ns}/second")
    # Fresh answers: an instance without a listings cache, or after invalidate_cache().
    uncached = fresh_fs(object_store, use_listings_cache=False)
    assert uncached.ls(ns, detail=False) == both
    assert uncached.exists(f"{ns}/second")
    assert not uncached.dircache
    fs.invalidate_cache(ns)
    assert fs.ls(ns, detail=False) == both
    assert fs.exists(f"{ns}/second")
    # find() always lists anew (and refills the cache).
    fresh_fs(object_store).pipe(object_store.path("ns", "third"), b"3")
    assert fs.find(ns) == [*both, f"{ns}/third"]
    # Our own put_file invalidates our cache...
    fs.put_file(__file__, object_store.path("ns", "fourth"))
    four = [f"{ns}/{n}" for n in ["first", "fourth", "second", "third"]]
    assert fs.ls(ns, detail=False) == four
    # ... and so does our own pipe, except on adlfs 2026.8, which drops the cache entry of the path
    # without its container (`_pipe_file` rebinds `path` to the blob name): still stale there.
    fs.pipe(object_store.path("ns", "fifth"), b"5")
    if object_store.protocol == "az":
        assert fs.ls(ns, detail=False) == four
        fs.invalidate_cache(ns)
    assert fs.ls(ns, detail=False) == sorted([*four, f"{ns}/fifth"])


def test_interrupted_multipart_upload_leaves_no_object(
    object_store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = object_store.protocol
    local = tmp_path / "big.bin"
    random_file(local, MULTIPART_SIZE[protocol])
    fs = fresh_fs(object_store)
    force_multipart(fs, protocol)
    if protocol == "gs":
        # The emulator's 501 to the cancel (see assert_interrupted) would be retried for about a minute.
        import gcsfs.retry

        retriable = gcsfs.retry.is_retriable
        monkeypatch.setattr(
            gcsfs.retry, "is_retriable", lambda e: getattr(e, "code", None) != 501 and retriable(e)
        )
    remote = object_store.path("big.bin")
    with pytest.raises(Exception) as caught:
        fs.put_file(str(local), remote, callback=FailHalfway(), **MULTIPART_KWARGS[protocol])
    assert_interrupted(caught.value, protocol)
    assert not fresh_fs(object_store).exists(remote)
    assert fresh_fs(object_store).find(object_store.root) == []

    # Overwriting an existing object: an interrupted upload leaves the old one whole.
    fs.pipe(remote, b"old")
    with pytest.raises(Exception) as caught:
        fs.put_file(str(local), remote, callback=FailHalfway(), **MULTIPART_KWARGS[protocol])
    assert_interrupted(caught.value, protocol)
    assert fresh_fs(object_store).cat(remote) == b"old"

    # And the same upload, uninterrupted, is complete.
    fs.put_file(str(local), remote, **MULTIPART_KWARGS[protocol])
    assert fresh_fs(object_store).cat(remote) == local.read_bytes()


def test_killed_child_mid_upload_leaves_no_object(object_store: ObjectStore, tmp_path: Path) -> None:
    protocol = object_store.protocol
    local = tmp_path / "big.bin"
    random_file(local, MULTIPART_SIZE[protocol])
    code = """
        import json, os, signal, sys, fsspec
        from fsspec.callbacks import Callback
        protocol, local, remote, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])

        class KillHalfway(Callback):
            def call(self, hook_name=None, **kw):
                if self.size and 0 < self.value < self.size:
                    os.kill(os.getpid(), signal.SIGKILL)

        fs = fsspec.filesystem(protocol)
        if protocol == "az":
            fs.service_client._config.max_single_put_size = 2**20
            fs.service_client._config.max_block_size = 2**20
        fs.put_file(local, remote, callback=KillHalfway(), **kwargs)
    """
    import json

    remote = object_store.path("killed.bin")
    result = run_child(
        object_store, code, protocol, str(local), remote, json.dumps(MULTIPART_KWARGS[protocol])
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not fresh_fs(object_store).exists(remote)
    assert fresh_fs(object_store).find(object_store.root) == []
