"""File stores pass the conformance suite: an export written through FileTarget, read back through the
FileTarget itself and through a FileSource, as Parquet and as JSON Lines, on local disk and in S3 (moto)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.files import FileSource, FileTarget

from ..objectstores import Emulator
from .conformance import SHAPE, SOURCE, Harness, StoreConformance

# Small files, so that listings and fetches cross file boundaries.
ROWS_PER_FILE = 400


class ExportHarness(Harness):
    """Exports in ``root`` (a local folder or an object-store URL); staging files in ``work``."""

    room = fidelity.FILES

    def __init__(self, root: str, work: Path, file_format: str) -> None:
        self.root = root.rstrip("/")
        self.work = work
        self.file_format = file_format
        self._numbers = itertools.count()

    def _target(self, shape: IndexShape = SHAPE) -> FileTarget:
        number = next(self._numbers)
        target = FileTarget(
            f"{self.root}/export-{number}",
            self.file_format,
            self.work / f"staging-{number}.sqlite",
            rows_per_file=ROWS_PER_FILE,
        )
        target.create_like(replace(SOURCE, shape=shape))
        return target

    def _written(self, contents: dict[str, list[Record]], shape: IndexShape) -> FileTarget:
        target = self._target(shape)
        for namespace, records in contents.items():
            for start in range(0, len(records), 1_000):
                target.write(namespace, records[start : start + 1_000])
        target.finish()
        return target

    def missing(self) -> FileSource:
        return FileSource(f"{self.root}/never-written")


class TargetHarness(ExportHarness):
    """The export read back through its own FileTarget (a target is written, then verified)."""

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> FileTarget:
        return self._written(contents, shape)

    def empty(self) -> FileTarget:
        return self._target()

    def missing(self) -> FileTarget:  # type: ignore[override]
        return FileTarget(f"{self.root}/never-written", self.file_format, self.work / "missing.sqlite")


class SourceHarness(ExportHarness):
    """The export read through a FileSource (an import): a source is never written."""

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> FileSource:
        return FileSource(self._written(contents, shape).url)

    def empty(self) -> None:
        return None


@pytest.fixture(scope="module", params=["parquet", "jsonl"])
def file_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestFileTarget(StoreConformance):
    @pytest.fixture(scope="module")
    @classmethod
    def harness(cls, file_format: str, tmp_path_factory: pytest.TempPathFactory) -> Harness:
        work = tmp_path_factory.mktemp(f"target-{file_format}")
        return TargetHarness(str(work / "exports"), work, file_format)


class TestFileSource(StoreConformance):
    @pytest.fixture(scope="module")
    @classmethod
    def harness(cls, file_format: str, tmp_path_factory: pytest.TempPathFactory) -> Harness:
        work = tmp_path_factory.mktemp(f"source-{file_format}")
        return SourceHarness(str(work / "exports"), work, file_format)


@pytest.fixture(scope="module")
def s3_root(s3_emulator: Emulator) -> Iterator[str]:
    """A fresh prefix in moto's S3, this process's environment pointed at it for the module's tests."""
    import fsspec

    with pytest.MonkeyPatch.context() as patch:
        for name in s3_emulator.unset:
            patch.delenv(name, raising=False)
        for name, value in s3_emulator.env.items():
            patch.setenv(name, value)
        fsspec.get_filesystem_class("s3").clear_instance_cache()
        yield s3_emulator.store().uri


class TestS3FileTarget(StoreConformance):
    @pytest.fixture(scope="module")
    @classmethod
    def harness(cls, s3_root: str, tmp_path_factory: pytest.TempPathFactory) -> Harness:
        return TargetHarness(f"{s3_root}/target", tmp_path_factory.mktemp("s3-target"), "parquet")


class TestS3FileSource(StoreConformance):
    @pytest.fixture(scope="module")
    @classmethod
    def harness(cls, s3_root: str, tmp_path_factory: pytest.TempPathFactory) -> Harness:
        return SourceHarness(f"{s3_root}/source", tmp_path_factory.mktemp("s3-source"), "parquet")
