"""Sources that cannot list their IDs (pod-based indexes) are enumerated by query sweeps before any copy.

The engine is written for stores that list; :func:`enumerable` puts a pod-based source behind a
:class:`~pinecone_migrator.stores.swept.SweptSource` (its IDs kept next to the ledger), sweeps the selected
namespaces up front, and says how complete each sweep is. A namespace whose sweep could not be proven
complete (found fewer IDs than its count) is refused unless the user accepts copying what was found.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from .base import QueriesIds, Store
from .swept import IncompleteSweep, SweepReport, SweptSource

log = logging.getLogger("pinecone_migrator.pods")


def sweep_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.name.removesuffix(".sqlite") + ".sweep.sqlite")


def enumerable(
    source: Store,
    ledger: Path,
    namespaces: Sequence[str] | None,
    stop: threading.Event,
    *,
    accept_incomplete: bool = False,
    restart: bool = False,
) -> Store:
    """``source`` itself when it can list; otherwise a swept view of it, every selected namespace swept."""
    if not source.exists() or source.capabilities().can_list:
        return source  # a missing source is reported by the command's own checks
    if not isinstance(source, QueriesIds):
        raise UserError("The source cannot list its IDs and cannot be queried for them either.")
    log.warning("the source is pod-based (no list): finding its IDs by query sweeps, writing nothing to it")
    swept = SweptSource(
        source, sweep_path(ledger), stop=stop, require_proven=not accept_incomplete, restart=restart
    )
    reports = swept.sweep_all(namespaces)
    for report in reports:
        log.info(
            "sweep of %s: %s",
            report.namespace,
            describe(report),
            extra={"fields": {"event": "sweep", **report.to_json()}},
        )
    unproven = [r for r in reports if not r.proven]
    if unproven and not accept_incomplete:
        swept.close()
        details = "; ".join(f"{r.namespace}: {describe(r)}" for r in unproven)
        raise IncompleteSweep(
            f"The query sweeps of this pod-based source could not prove they found every record ({details}). "
            "Pass --accept-incomplete-sweep to copy what was found, or use --stamp-source with sync, which "
            "finds every record by its (missing) stamp."
        )
    return swept


def describe(report: SweepReport) -> str:
    verdict = "complete (proven)" if report.proven else "NOT proven complete"
    return (
        f"{report.found:,} of {report.expected:,} IDs found in {report.sweeps:,} queries "
        f"({report.seconds:.1f} s), {verdict}: {report.reason}"
    )
