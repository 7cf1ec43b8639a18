"""The committed protobuf modules are what `make protos` generates from the committed .proto files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pinecone_migrator.protocol as protocol

PROTO_DIR = Path(protocol.__file__).parent
PROTOS = ("vector_service.proto", "packed_reads.proto")
GENERATED = [f"{Path(proto).stem}_pb2{suffix}" for proto in PROTOS for suffix in (".py", ".pyi")]


def test_regenerating_the_protos_yields_the_committed_files(tmp_path: Path) -> None:
    for proto in PROTOS:
        shutil.copy(PROTO_DIR / proto, tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            "--python_out=.",
            "--pyi_out=.",
            *PROTOS,
        ],
        cwd=tmp_path,
        check=True,
    )
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (PROTO_DIR / name).read_bytes(), f"{name}: run `make protos`"
