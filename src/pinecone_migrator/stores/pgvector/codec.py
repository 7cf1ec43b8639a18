"""pgvector's binary wire formats, both ways, with numpy: float32 values travel as their bytes, never as text.

``vector``: int16 dimension, int16 unused, float32 big-endian values. ``halfvec``: the same with float16
values. ``sparsevec``: int32 dimension, int32 count, int32 unused, int32 indices (0-based, so a Pinecone
index is the stored index itself), float32 values. The pgvector Python package has adapters for these, but
through Python lists; these go straight between bytes and arrays.

jsonb travels as a version byte (1) and JSON text, read and written with orjson. Numbers round-trip
exactly: a float64 is written as its shortest decimal, which jsonb keeps as an exact ``numeric`` and gives
back digit for digit.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ...records import SparseValues

_BIG_F32 = np.dtype(">f4")
_BIG_F16 = np.dtype(">f2")
_BIG_I32 = np.dtype(">i4")
_HEADER = struct.Struct(">HH")
_SPARSE_HEADER = struct.Struct(">iii")
FLOAT16_MAX = float(np.finfo(np.float16).max)


def dense_bytes(values: npt.NDArray[np.float32]) -> bytes:
    return _HEADER.pack(values.size, 0) + values.astype(_BIG_F32).tobytes()


def half_bytes(values: npt.NDArray[np.float32]) -> bytes:
    """Rounded to float16 as pgvector rounds (to nearest, ties to even); the caller refuses overflows."""
    return _HEADER.pack(values.size, 0) + values.astype(_BIG_F16).tobytes()


def sparse_bytes(sparse: SparseValues, dimension: int) -> bytes:
    count = len(sparse)
    return (
        _SPARSE_HEADER.pack(dimension, count, 0)
        + sparse.indices.astype(_BIG_I32).tobytes()
        + sparse.values.astype(_BIG_F32).tobytes()
    )


def jsonb_bytes(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)


def dense_of(data: Any) -> npt.NDArray[np.float32]:
    dimension, _ = _HEADER.unpack_from(data)
    values = np.frombuffer(data, dtype=_BIG_F32, count=dimension, offset=4).astype(np.float32)
    values.flags.writeable = False
    return values


def half_of(data: Any) -> npt.NDArray[np.float32]:
    dimension, _ = _HEADER.unpack_from(data)
    values = np.frombuffer(data, dtype=_BIG_F16, count=dimension, offset=4).astype(np.float32)
    values.flags.writeable = False
    return values


def sparse_of(data: Any) -> SparseValues | None:
    _, count, _ = _SPARSE_HEADER.unpack_from(data)
    if count == 0:
        return None
    indices = np.frombuffer(data, dtype=_BIG_I32, count=count, offset=12).astype(np.uint32)
    values = np.frombuffer(data, dtype=_BIG_F32, count=count, offset=12 + 4 * count).astype(np.float32)
    return SparseValues(indices, values)


def json_of(text: bytes | str) -> Any:
    """orjson, or the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def register_loaders(connection: Any, oids: dict[str, int]) -> None:
    """Binary loaders of this database's pgvector types (``oids``: type name -> OID) and orjson for JSON."""
    from psycopg.adapt import Loader
    from psycopg.pq import Format
    from psycopg.types.json import set_json_loads

    decoders = {"vector": dense_of, "halfvec": half_of, "sparsevec": sparse_of}
    for name, oid in oids.items():
        decode = decoders.get(name)
        if decode is None:
            continue
        loader = type(
            f"{name.title()}BinaryLoader",
            (Loader,),
            {"format": Format.BINARY, "load": lambda self, data, decode=decode: decode(data)},
        )
        connection.adapters.register_loader(oid, loader)
    set_json_loads(json_of, connection)
