"""Pinecone's hosted embedding models, as far as an integrated index needs them, and the local stand-in.

The local server cannot run the hosted models. It embeds text with a deterministic stand-in instead: every
word is hashed to a fixed random vector (dense models) or to one index (sparse models), and a text's
embedding is the normalised sum over its words. The same text always gets the same vector, texts that share
words get close vectors, and nothing is downloaded. Queries and documents are embedded alike (the hosted
models' ``input_type`` read/write parameters are kept and shown, but change nothing here).

The model facts below are Pinecone's documentation (docs.pinecone.io/models, the ``describe_model``
reference): vector type, default and supported dimensions, supported metrics and the default metric.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from .errors import invalid_argument

STAND_IN = "pinecone-migrator local stand-in (token-hash embedding, not the hosted model)"
MAX_TEXT_BATCH = 96  # records per upsert_records request and texts per embed call of the hosted models
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class HostedModel:
    name: str
    vector_type: str  # "dense" or "sparse"
    dimensions: tuple[int, ...]  # the first is the default; empty for sparse models
    metrics: tuple[str, ...]  # the first is the default

    @property
    def default_dimension(self) -> int | None:
        return self.dimensions[0] if self.dimensions else None


MODELS = {
    model.name: model
    for model in (
        HostedModel("multilingual-e5-large", "dense", (1024,), ("cosine", "euclidean")),
        HostedModel("llama-text-embed-v2", "dense", (1024, 384, 512, 768, 2048), ("cosine", "dotproduct")),
        HostedModel("pinecone-sparse-english-v0", "sparse", (), ("dotproduct",)),
    )
}


def hosted_model(name: object) -> HostedModel:
    """The model an ``embed`` configuration names; 400 for one Pinecone does not host for indexes."""
    if not isinstance(name, str) or name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise invalid_argument(
            f"Model {name!r} is not a supported embedding model. Supported models: {known}."
        )
    return MODELS[name]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _seed(*parts: str) -> int:
    digest = hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@lru_cache(maxsize=65_536)
def _word_vector(model: str, dimension: int, word: str) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(_seed(model, str(dimension), word))
    return rng.standard_normal(dimension).astype(np.float32)


def embed_dense(model: str, dimension: int, text: str) -> npt.NDArray[np.float32]:
    """A unit-length float32 vector of ``dimension`` for ``text``: the same text, the same vector."""
    tokens = words(text) or [text]
    total = np.zeros(dimension, dtype=np.float64)
    for token, times in Counter(tokens).items():
        total += times * _word_vector(model, dimension, token)
    norm = float(np.linalg.norm(total))
    return (total / norm if norm > 0 else total).astype(np.float32)


def embed_sparse(model: str, text: str) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
    """Sparse (indices, values) for ``text``: one index per distinct word (a 32-bit hash), by count."""
    weights: dict[int, float] = {}
    for token, times in Counter(words(text) or [text]).items():
        index = _seed(model, token) & 0xFFFFFFFF
        weights[index] = weights.get(index, 0.0) + float(np.log1p(times))
    indices = sorted(weights)
    return np.asarray(indices, dtype=np.uint32), np.asarray([weights[i] for i in indices], dtype=np.float32)


def token_count(text: str) -> int:
    """What the usage of an embedding reports: words, a stand-in for the hosted model's tokens."""
    return max(1, len(words(text)))
