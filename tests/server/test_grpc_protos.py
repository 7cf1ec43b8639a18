"""The committed protobuf module is what `make protos` generates from the committed .proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pinecone_migrator.protocol as protocol

PROTO_DIR = Path(protocol.__file__).parent
GENERATED = ("vector_service_pb2.py", "vector_service_pb2.pyi")


def test_regenerating_the_protos_yields_the_committed_files(tmp_path: Path) -> None:
    shutil.copy(PROTO_DIR / "vector_service.proto", tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            "--python_out=.",
            "--pyi_out=.",
            "vector_service.proto",
        ],
        cwd=tmp_path,
        check=True,
    )
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (PROTO_DIR / name).read_bytes(), f"{name}: run `make protos`"
