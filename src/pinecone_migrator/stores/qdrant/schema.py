"""What a collection holds (its dense and sparse vectors, metric, dimension) and what the store can hold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from qdrant_client.http import models

from ..base import IndexShape
from ..fidelity import PINECONE_METRICS, Room
from .settings import DEFAULT_SPARSE_VECTOR, DEFAULT_VECTOR, QdrantSettings

# Pinecone's metric names -> Qdrant's distances (manhattan: Qdrant's own, which Pinecone has not).
DISTANCES = {
    "cosine": models.Distance.COSINE,
    "euclidean": models.Distance.EUCLID,
    "dotproduct": models.Distance.DOT,
    "manhattan": models.Distance.MANHATTAN,
}
METRICS = {distance.value: metric for metric, distance in DISTANCES.items()}
MAX_DIMENSION = 65_536

# What a collection made here holds: every record a Pinecone index holds and more (any ID, nested metadata
# of any size, sparse values beside any metric), except that cosine vectors are scaled to length 1.
QDRANT = Room(
    kind="Qdrant",
    metrics=PINECONE_METRICS | {"manhattan"},
    metric_names={metric: distance.value for metric, distance in DISTANCES.items()},
    dense=True,
    sparse=True,
    sparse_metrics=None,
    max_dimension=MAX_DIMENSION,
    max_sparse_nonzeros=None,
    max_sparse_index=2**32 - 1,
    normalises_cosine=True,
    metadata_lists=True,
    metadata_nested=True,
    max_metadata_bytes=None,
    max_id_length=None,
    ascii_ids=False,
)


@dataclass(frozen=True)
class Schema:
    """One collection's vectors as the store uses them."""

    dense: str | None  # the dense vector's name ("": the unnamed vector); None: no dense vector
    distance: str | None  # Qdrant's name ("Cosine", ...) of the dense vector's distance
    dimension: int | None
    float16: bool
    sparse: str | None  # the sparse vector's name; None: no sparse vector

    @property
    def cosine(self) -> bool:
        return self.distance == models.Distance.COSINE.value

    def shape(self) -> IndexShape:
        if self.dense is None:
            return IndexShape(vector_type="sparse", metric="dotproduct", dimension=None)
        metric = METRICS.get(self.distance or "", (self.distance or "unknown").lower())
        return IndexShape(vector_type="dense", metric=metric, dimension=self.dimension)

    def room(self) -> Room:
        return replace(
            QDRANT, dense=self.dense is not None, sparse=self.sparse is not None, float16=self.float16
        )

    def vector_names(self) -> list[str] | bool:
        """What a read asks for: the named vectors, or True for the unnamed one."""
        if self.dense == "":
            return True
        return [name for name in (self.dense, self.sparse) if name is not None]


def schema_of(info: models.CollectionInfo, settings: QdrantSettings, collection: str) -> Schema:
    """The schema of a collection, choosing its vectors as the URI's options say."""
    params = info.config.params
    dense_configs: dict[str, models.VectorParams] = {}
    vectors: Any = params.vectors
    if isinstance(vectors, models.VectorParams):
        dense_configs[""] = vectors
    elif isinstance(vectors, dict):
        dense_configs = {name: p for name, p in vectors.items() if p.multivector_config is None}
    sparse_names = sorted((params.sparse_vectors or {}).keys())
    dense = _chosen(settings, collection, "vector", settings.vector, sorted(dense_configs), DEFAULT_VECTOR)
    sparse = _chosen(
        settings, collection, "sparse_vector", settings.sparse_vector, sparse_names, DEFAULT_SPARSE_VECTOR
    )
    if dense is None and sparse is None:
        raise settings.uri.problem(
            f"collection {collection!r} has no dense or sparse vector this tool can read."
        )
    if dense is None:
        return Schema(None, None, None, False, sparse)
    config = dense_configs[dense]
    datatype = config.datatype.value if config.datatype is not None else "float32"
    if datatype not in ("float32", "float16"):
        raise settings.uri.problem(
            f"collection {collection!r} holds {datatype} vectors, which this tool does not read exactly."
        )
    distance = config.distance.value if isinstance(config.distance, models.Distance) else str(config.distance)
    return Schema(dense, distance, config.size, datatype == "float16", sparse)


def _chosen(
    settings: QdrantSettings, collection: str, option: str, asked: str | None, names: list[str], usual: str
) -> str | None:
    if asked is not None:
        if asked not in names:
            held = ", ".join(repr(name) for name in names) or "none"
            raise settings.uri.problem(
                f"collection {collection!r} has no vector {asked!r} ({option}; it has {held})."
            )
        return asked
    if len(names) <= 1:
        return names[0] if names else None
    if usual in names:
        return usual
    held = ", ".join(repr(name) for name in names)
    raise settings.uri.problem(
        f"collection {collection!r} has several vectors ({held}): choose one with ?{option}=NAME."
    )
