"""Reading written records back (``migrate --verify batch``): proof, batch by batch, that the target holds
exactly what was sent; records that differ are sent again.

The target may be eventually consistent: before reading back, wait until it shows every write made so far
to that namespace (LSN), or, where the store reports no LSNs, read again after growing pauses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ...errors import RemoteError
from ...records import Record, record_digest
from ...stores.base import Store, TracksFreshness
from ..walk import fetch_all
from ..writes import DeadLetter, write_or_isolate

RESEND_ATTEMPTS = 3


def wait_until_visible(target: Store, namespace: str, timeout_seconds: float) -> bool:
    """True when the target confirmed (by LSN) that reads see our writes; False when it cannot tell."""
    if not isinstance(target, TracksFreshness):
        return False
    written = target.written_lsns().get(namespace)
    if written is None:
        return False
    seen = target.wait_until_indexed(namespace, written, timeout_seconds)
    if seen is False:
        raise RemoteError(
            "read back",
            f"the target did not show its writes to namespace {namespace!r} (up to LSN {written}) within "
            f"{timeout_seconds:.0f} s; run the same command again to resume",
            retryable=True,
        )
    return bool(seen)


def read_back(
    target: Store, namespace: str, written: Sequence[Record], timeout_seconds: float
) -> tuple[int, list[DeadLetter]]:
    """Compare the target's copy of ``written`` with what was sent; send differing records again.

    Returns how many records were re-sent, and the records still different after that (dead letters).
    """
    expected = {record.id: record_digest(record) for record in written}
    pending = list(written)
    resent = 0
    dead: list[DeadLetter] = []
    for attempt in range(RESEND_ATTEMPTS + 1):
        confirmed = wait_until_visible(target, namespace, timeout_seconds)
        if not confirmed and attempt:
            time.sleep(0.5 * 2**attempt)  # no LSNs to wait on: give eventual consistency time instead
        found = {r.id: record_digest(r) for r in fetch_all(target, namespace, [r.id for r in pending])}
        pending = [r for r in pending if found.get(r.id) != expected[r.id]]
        if not pending or attempt == RESEND_ATTEMPTS:
            break
        resent += len(pending)
        _, refused = write_or_isolate(target, namespace, pending)
        dead += refused
        refused_ids = {record_id for record_id, _, _ in refused}
        pending = [r for r in pending if r.id not in refused_ids]
    reason = f"the target's copy differs from what was sent, after {RESEND_ATTEMPTS} re-sends"
    return resent, dead + [(r.id, namespace, reason) for r in pending]
