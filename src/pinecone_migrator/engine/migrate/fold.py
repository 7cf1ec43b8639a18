"""Folding several namespaces into one, and the one-namespace rule of dedicated read nodes.

A fold (``--namespace-to-metadata FIELD --target-namespace NS``) writes every selected namespace into NS and
keeps each record's source namespace in ``metadata[FIELD]``; ``--namespace-from-metadata FIELD`` splits it
again. Two decisions make the fold lossless:

- an ID that occurs in several source namespaces would keep only one record in NS, so the fold is refused
  before anything is written, naming such IDs (found by one listing pass; no ID is rewritten, so the fold's
  records keep their IDs and the unfold gives back the original exactly);
- a record whose metadata already holds FIELD with another value is not overwritten: it becomes a dead letter
  naming the field (a value equal to its source namespace is kept: folding it again changes nothing).
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace

from ...errors import UserError
from ...records import Record
from ...stores.base import Store, StoreDescription
from ..walk import id_pages, listing, pages
from .copy import Route

log = logging.getLogger("pinecone_migrator.fold")

SHOWN_SHARED_IDS = 20


def fold_route(field_name: str, source_namespace: str, target_namespace: str) -> Route:
    """Every record of ``source_namespace`` goes to ``target_namespace`` unless its metadata already holds
    ``field_name`` with another value (folding would overwrite it)."""

    def route(record: Record) -> tuple[str | None, str | None]:
        held = record.metadata.get(field_name)
        if held is None or held == source_namespace:
            return target_namespace, None
        return None, (
            f"metadata field {field_name!r} already holds {held!r}, which the fold would overwrite with the "
            f"source namespace {source_namespace!r}; choose another --namespace-to-metadata field"
        )

    return route


def with_source_namespace(field_name: str, namespace: str, record: Record) -> Record:
    """The record as a fold writes it: its source namespace kept in ``metadata[field_name]``."""
    if record.metadata.get(field_name) == namespace:
        return record
    return replace(record, metadata={**record.metadata, field_name: namespace})


def without_field(field_name: str, record: Record) -> Record:
    """The record as an unfold writes it: the field that named its namespace removed."""
    if field_name not in record.metadata:
        return record
    return replace(record, metadata={k: v for k, v in record.metadata.items() if k != field_name})


class _Unordered(Exception):
    """A store listed IDs out of bytewise order: the merge below cannot be used."""


def _ordered_ids(source: Store, namespace: str, stop: threading.Event | None) -> Iterator[tuple[str, str]]:
    previous: str | None = None
    for page in pages(listing(source, namespace, page_size=source.capabilities().max_list_page), stop):
        for record_id in page.items:
            if previous is not None and record_id <= previous:
                raise _Unordered(namespace)
            previous = record_id
            yield record_id, namespace


def shared_ids(
    source: Store, namespaces: list[str], stop: threading.Event | None = None, most: int = SHOWN_SHARED_IDS
) -> dict[str, list[str]]:
    """Up to ``most`` IDs listed in more than one of ``namespaces``, each with the namespaces holding it.

    Pinecone lists IDs in bytewise order (Python's str order for the same text), so a merge of the listings
    finds repeats holding one page per namespace in memory; a store listing in another order falls back to
    a set of every ID."""
    try:
        return _shared_by_merge(source, namespaces, stop, most)
    except _Unordered as unordered:
        log.warning(
            "namespace %r is not listed in ID order: the fold's IDs are checked in memory", str(unordered)
        )
        return _shared_by_set(source, namespaces, most)


def _shared_by_merge(
    source: Store, namespaces: list[str], stop: threading.Event | None, most: int
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    previous: tuple[str, str] | None = None
    for record_id, namespace in heapq.merge(*(_ordered_ids(source, ns, stop) for ns in namespaces)):
        if previous is not None and previous[0] == record_id:
            found.setdefault(record_id, [previous[1]]).append(namespace)
            if len(found) > most:
                found.pop(record_id)
                break
        previous = (record_id, namespace)
    return found


def _shared_by_set(source: Store, namespaces: list[str], most: int) -> dict[str, list[str]]:
    first_seen: dict[str, str] = {}
    found: dict[str, list[str]] = {}
    for namespace in namespaces:
        for ids in id_pages(source, namespace, page_size=source.capabilities().max_list_page):
            for record_id in ids:
                if record_id in first_seen:
                    found.setdefault(record_id, [first_seen[record_id]]).append(namespace)
                    if len(found) >= most:
                        return found
                else:
                    first_seen[record_id] = namespace
    return found


def refuse_shared_ids(source: Store, namespaces: list[str], stop: threading.Event | None = None) -> None:
    """A fold keeps every record only if no ID occurs in two of the folded namespaces."""
    if len(namespaces) < 2:
        return
    shared = shared_ids(source, namespaces, stop)
    if not shared:
        return
    shown = "; ".join(f"{record_id!r} in {', '.join(map(repr, held))}" for record_id, held in shared.items())
    more = " (the first ones listed)" if len(shared) >= SHOWN_SHARED_IDS else ""
    raise UserError(
        f"Cannot fold: {len(shared)} ID(s) occur in several source namespaces{more}: {shown}. One namespace "
        "keeps one record per ID, so folding would lose records. Copy those namespaces separately "
        "(--namespace), or make their IDs unique in the source first."
    )


def creates_dedicated(read_capacity: dict[str, object] | None) -> bool:
    return read_capacity is not None and read_capacity.get("mode") == "Dedicated"


def refuse_namespaces_a_dedicated_target_cannot_hold(
    landing: list[str], routed_by_metadata: bool, target_label: str, existing: StoreDescription | None
) -> None:
    """Pinecone's dedicated read nodes hold one namespace per index ("Max namespaces per index: 1" in its
    DRN guide): refuse, before anything is written, a migration that would write several, with the ways
    out. ``landing`` are the target namespaces the migration writes; ``existing`` the target if it exists."""
    where = f"The target {target_label} runs on dedicated read nodes, which hold one namespace"
    if routed_by_metadata:
        raise UserError(
            f"{where}, but --namespace-from-metadata makes a namespace per metadata value. Copy into an "
            "on-demand index instead (leave out --target-read-nodes), or choose one --target-namespace."
        )
    if len(landing) > 1:
        raise UserError(
            f"{where}, but this migration would write {len(landing)} namespaces ({', '.join(landing)}). "
            "Either copy one of them (--namespace NAME), or fold them all into one: --namespace-to-metadata "
            "FIELD --target-namespace NAME (each record keeps its source namespace in metadata FIELD; "
            "--namespace-from-metadata FIELD splits them again)."
        )
    held = sorted(set(existing.namespace_counts) - set(landing)) if existing is not None else []
    if held:
        raise UserError(
            f"{where}, and it already holds {held[0]!r}: this migration would write {landing[0]!r}. "
            f"Pass --target-namespace {held[0]} to write into it, or choose another --target-index."
        )
