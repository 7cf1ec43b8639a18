"""The pair's fidelity, settled before anything is written: what the target cannot hold exactly is said,
and a lossy pair is refused unless the user accepted the changes (--accept-changes)."""

from __future__ import annotations

import logging
from dataclasses import replace

from ...errors import UserError
from ...stores.base import Store, StoreDescription
from ...stores.fidelity import pair
from ..request import MigrationRequest
from .target import missing_source

log = logging.getLogger("pinecone_migrator.migrate")


class LossyPair(UserError):
    """The target would change records and the user has not accepted it."""


def with_fidelity(
    request: MigrationRequest, source: Store, target: Store, description: StoreDescription | None = None
) -> MigrationRequest:
    """``request`` with the fidelity of copying ``source`` into ``target`` attached (once). Refuses a pair
    no acceptance makes work, and a lossy pair without ``accept_changes``; reads only."""
    if request.fidelity is not None:
        return request
    if description is None:
        if not source.exists():
            raise missing_source(request)
        description = source.describe()
    shape = description.shape
    fidelity = pair(source, target, shape)
    if fidelity.lossy and not request.accept_changes:
        raise LossyPair(fidelity.refusal(request.source.label(), request.target.label()))
    for change in fidelity.changes:
        log.info("%s: %s", change.name, change.says)
    return replace(request, fidelity=fidelity)
