"""`sync`: keep a target in step with a source, pass after pass (or once), in one of two modes: the ledger
mode (what was copied is remembered in the state file; the source is only read) or the stamp mode (each
copied record is stamped in the source, which is written)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import ExitCode, UserError
from ...statelock import hold
from ...stores.base import Store
from ..migrate.changes import with_fidelity
from ..request import MigrationRequest
from ..sync.passes import SyncOptions, SyncPass, check_sync, follow
from ..sync.stamping import StampOptions, StampPass
from ..sync.state import PassRecord, SyncState
from .common import MakesListable, listable_source

log = logging.getLogger("pinecone_migrator.sync")


@dataclass(frozen=True)
class SyncSettings:
    options: SyncOptions = field(default_factory=SyncOptions)
    stamp: StampOptions | None = None  # the stamp mode (WRITES to the source); None: the ledger mode
    once: bool = False  # one pass, then return
    accept_incomplete_sweep: bool = False


@dataclass(frozen=True)
class SyncOutcome:
    last: PassRecord | None  # None: stopped before a pass finished
    once: bool

    @property
    def exit_code(self) -> ExitCode:
        last = self.last
        if last is None or last.state == "stopped":
            return ExitCode.INTERRUPTED
        if last.state == "guarded":
            return ExitCode.GUARDED
        if self.once and last.dead:
            return ExitCode.DEAD_LETTERS
        return ExitCode.OK


def sync(
    request: MigrationRequest,
    source: Store,
    target: Store,
    settings: SyncSettings | None = None,
    *,
    stop: threading.Event | None = None,
    confirm_deletes: Callable[[int, int], bool] = lambda gone, known: False,
    on_pass: Callable[[PassRecord], None] = lambda record: None,
    on_error: Callable[[Exception], None] = lambda error: None,
    make_listable: MakesListable | None = None,
    holder: str = "sync",
) -> SyncOutcome:
    """Passes every ``options.interval_seconds`` until ``stop`` (or one with ``once``). A pass that would
    delete more than ``options.max_delete_fraction`` of the copied records asks ``confirm_deletes(gone,
    known)`` (no: the pass is guarded and the sync ends). In follow mode a failed pass goes to ``on_error``
    and the next one tries again."""
    settings = settings or SyncSettings()
    stop = stop or threading.Event()
    options, stamp = settings.options, settings.stamp
    if stamp is not None and (options.detect_updates or options.updated_field or options.propagate_deletes):
        raise UserError(
            "The stamp mode finds work by its stamps: it excludes detecting updates, an updated field and "
            "propagating deletes (the ledger mode's ways)."
        )
    if stamp is not None:
        log.warning(
            "the stamp mode (--stamp-source): this sync WRITES to the source index (migrated/migrated_at on "
            "each record)"
        )
    request = with_fidelity(request, source, target)
    fingerprint = {**request.fingerprint(), "mode": "ledger" if stamp is None else "stamp"}
    with hold(request.ledger_path(), holder):
        check_sync(request, options, source, target, stamping=stamp is not None)
        with SyncState(request.ledger_path(), fingerprint, restart=request.restart) as state:

            def one_pass() -> PassRecord:
                if stamp is not None:
                    return StampPass(request, stamp, source, target, state, stop).run()
                # A pod-based source is swept afresh each pass: new records appear between passes.
                listable = listable_source(
                    source,
                    request,
                    stop,
                    make_listable,
                    accept_incomplete=settings.accept_incomplete_sweep,
                    restart=True,
                )
                return SyncPass(request, options, listable, target, state, stop, confirm_deletes).run()

            last = follow(one_pass, options, stop, settings.once, on_pass, on_error)
    return SyncOutcome(last, settings.once)
