"""LanceDB (embedded) for bench/other_databases.py: a database folder in a temporary directory (the tests'
new tables in it, and the native load — one ``Table.add`` of the whole Arrow table (LanceDB's bulk path:
one commit, one version) into a table laid out as the store creates one (namespace, id, vector as
fixed_size_list<float32>, null sparse columns, metadata as JSON text)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.lancedb import open_uri
from pinecone_migrator.stores.uri import parse
from tests.databases.lancedb.server import LanceFolder

NAMESPACE = "bench"


class LanceDBBench:
    def __init__(self) -> None:
        self.folder: LanceFolder | None = None

    def start(self) -> None:
        import lancedb  # noqa: F401 - imported here (seconds) so that no timed load pays for it

        self.folder = LanceFolder()

    def stop(self) -> None:
        if self.folder is not None:
            self.folder.stop()
            self.folder = None

    def _folder(self) -> LanceFolder:
        assert self.folder is not None, "start() first"
        return self.folder

    def uri(self, name: str) -> str:
        return self._folder().uri(name)

    def native_load(
        self, name: str, ids: list[str], vectors: np.ndarray, metadata: list[dict[str, Any]]
    ) -> None:
        import lancedb

        # The table our store would create (same schema), made through the store.
        shape = IndexShape("dense", "cosine", int(vectors.shape[1]))
        open_uri(parse(self.uri(name), side="target")).create_like(
            StoreDescription(name=name, shape=shape, namespace_counts={})
        )
        table = lancedb.connect(str(self._folder().path)).open_table(name)
        count, dimension = vectors.shape
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        rows = pa.table(
            {
                "namespace": pa.array([NAMESPACE] * count, pa.string()),
                "id": pa.array(ids, pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dimension),
                "sparse_indices": pa.nulls(count, pa.list_(pa.uint32())),
                "sparse_values": pa.nulls(count, pa.list_(pa.float32())),
                "metadata": pa.array([orjson.dumps(m).decode() for m in metadata], pa.string()),
            },
            schema=table.schema,
        )
        table.add(rows)
