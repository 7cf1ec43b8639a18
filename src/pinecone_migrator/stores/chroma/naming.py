"""Namespaces <-> Chroma collections: which collection holds a namespace, and which namespace a collection is.

Chroma names a collection with 3 to 512 characters of ``[a-zA-Z0-9._-]``, starting and ending with a letter
or digit, without ``..``, and not an IPv4 address; a Pinecone namespace is any string (``__default__``
included). A namespace whose name, after the store's prefix, is a valid collection name is held by the
collection of that name (``products`` -> ``products``), so that a user's own collections read as namespaces
of the same names. Any other namespace is held by ``<prefix>ns-<slug>-<hash>``: the slug keeps it readable,
16 hex digits of its SHA-256 keep two namespaces apart. Collections this store creates also carry the true
namespace name in their metadata (:data:`NAMESPACE_KEY`), which is what reading goes by: the mapping is
reversible whatever the name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

NAMESPACE_KEY = "migrator:namespace"  # collection metadata: the namespace the collection holds
METRIC_KEY = "migrator:metric"  # collection metadata: the metric in Pinecone's name (cosine over ip)
DIMENSION_KEY = "migrator:dimension"  # collection metadata: the dimension, known before any record

_VALID = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]")
_PREFIX = re.compile(r"(?:[a-zA-Z0-9][a-zA-Z0-9._-]{0,400})?")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def valid_collection_name(name: str) -> bool:
    """Whether Chroma accepts ``name`` for a collection (its own rules, as of chromadb 1.5)."""
    if not _VALID.fullmatch(name) or ".." in name:
        return False
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return True
    return False


def valid_prefix(prefix: str) -> bool:
    """Whether collection names can start with ``prefix`` (empty: every collection)."""
    return bool(_PREFIX.fullmatch(prefix)) and ".." not in prefix


def collection_name(namespace: str, prefix: str) -> str:
    """The collection that holds ``namespace`` (see the module's docstring)."""
    direct = prefix + namespace
    if valid_collection_name(direct):
        return direct
    slug = _UNSAFE.sub("_", namespace)[:48]
    digest = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:16]
    return f"{prefix}ns-{slug}-{digest}"


def namespace_of(name: str, metadata: dict[str, object] | None, prefix: str) -> str | None:
    """The namespace a collection holds (None: it is not one of this store's, its name lacks the prefix)."""
    if not name.startswith(prefix):
        return None
    told = (metadata or {}).get(NAMESPACE_KEY)
    if isinstance(told, str):
        return told
    return name[len(prefix) :] or None
