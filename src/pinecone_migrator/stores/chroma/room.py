"""What a Chroma collection holds exactly (the store's :class:`~..fidelity.Room`), measured on chromadb 1.5.

- Metrics: Chroma's spaces ``l2`` (euclidean) and ``ip`` (dotproduct) keep the float32 values written, bit
  for bit. Its ``cosine`` space does not: it keeps each vector scaled to length 1 with its norm and answers
  with their product, off by a unit in the last place in about a quarter of the values (and NaN beyond
  float32's range). So a collection for a cosine source is an ``ip`` collection of vectors scaled to length
  1 (the change ``vectors-normalised``): inner products of unit vectors are their cosines, so searches rank
  and score as cosine does, and the values read back are the values written.
- No sparse vectors on a local Chroma server (Chroma Cloud only): ``sparse-dropped``.
- Metadata: strings, numbers, booleans and lists of strings are held (the empty list is refused per record).
- IDs: any non-empty string of any length.
"""

from __future__ import annotations

from ..fidelity import PINECONE_METRICS, Room

CHROMA = Room(
    kind="Chroma",
    metrics=PINECONE_METRICS,
    metric_names={"cosine": "ip", "euclidean": "l2", "dotproduct": "ip"},
    dense=True,
    sparse=False,
    sparse_metrics=None,
    max_dimension=None,
    max_sparse_nonzeros=None,
    max_sparse_index=None,
    normalises_cosine=True,
    float16=False,
    metadata_lists=True,
    metadata_nested=False,
    metadata_empty_lists=False,
    metadata_floats_exact=False,
    max_metadata_bytes=None,
    max_id_length=None,
    ascii_ids=False,
)

# Chroma's space for a collection made for a source with this metric (Pinecone's names).
SPACE_FOR = {"cosine": "ip", "euclidean": "l2", "dotproduct": "ip"}
# The metric a collection's space means, in Pinecone's names (a collection made by this store says its own).
METRIC_OF_SPACE = {"cosine": "cosine", "l2": "euclidean", "ip": "dotproduct"}
