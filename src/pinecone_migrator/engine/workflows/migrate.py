"""`migrate` (and every command that is a migration: export, import, restore): confirm, copy, verify when
asked, and judge the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ...errors import ExitCode
from ...statelock import hold
from ...stores.base import Store
from ..ledger import Ledger
from ..migrate.changes import with_fidelity
from ..migrate.run import run_migration
from ..migrate.summary import MigrationSummary
from ..migrate.target import select, target_state
from ..request import MigrationRequest
from ..verify.run import VerifyOptions, VerifyResult
from .common import Confirm, Declined, Displays, MakesListable, listable_source
from .verify import verify_copy

VerifyAfter = Literal["off", "batch", "digest", "full"]  # batch is the copy's own read-back (CopyOptions)
Check = Callable[[VerifyResult], list[str]]  # further problems a verification shows (a restore's manifest)


@dataclass(frozen=True)
class MigrateOutcome:
    summary: MigrationSummary
    verification: VerifyResult | None = None
    problems: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        summary, verification = self.summary, self.verification
        if summary.interrupted:
            return ExitCode.INTERRUPTED
        if not summary.complete:
            return ExitCode.INCOMPLETE
        if verification is not None and not verification.equal:
            return ExitCode.INTERRUPTED if verification.interrupted else ExitCode.DIFFERENT
        if self.problems:
            return ExitCode.DIFFERENT
        if summary.dead_letters:
            return ExitCode.DEAD_LETTERS
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        body = self.summary.to_json()
        if self.verification is not None:
            body["verify"] = self.verification.to_json()
        if self.problems:
            body["problems"] = list(self.problems)
        return body


def migrate(
    request: MigrationRequest,
    source: Store,
    target: Store,
    *,
    verify: VerifyAfter = "off",
    stop: threading.Event | None = None,
    confirm: Confirm | None = None,
    displays: Displays | None = None,
    make_listable: MakesListable | None = None,
    accept_incomplete_sweep: bool = False,
    verify_target: Callable[[], Store] | None = None,
    check: Check | None = None,
    holder: str = "migrate",
) -> MigrateOutcome:
    """Copy what ``request`` selects, resumably (one process per ledger), then verify at level ``verify``
    (digest or full) when the copy completed.

    ``confirm`` is asked the run's question first (declined: :class:`Declined`, nothing written);
    ``verify_target`` gives the store verify reads the target through when it is not ``target`` itself (an
    export is read back from its files); ``check`` returns further problems found in the verification."""
    stop = stop or threading.Event()
    displays = displays or Displays()
    request = with_fidelity(request, source, target)
    with hold(request.ledger_path(), holder):
        if confirm is not None and not confirm(confirmation(request, source, target)):
            raise Declined("Cancelled: nothing was written.")
        source = listable_source(
            source,
            request,
            stop,
            make_listable,
            accept_incomplete=accept_incomplete_sweep,
            restart=request.restart,
        )
        with displays.copy() as progress:
            summary = run_migration(request, source, target, stop, progress=progress)
        verification = None
        if verify in ("digest", "full") and summary.complete and not summary.interrupted:
            checked = target if verify_target is None else verify_target()
            options = VerifyOptions(level=verify)
            verification = verify_copy(request, source, checked, options, stop=stop, displays=displays)
    problems = [] if verification is None or check is None else check(verification)
    return MigrateOutcome(summary, verification, tuple(problems))


def confirmation(request: MigrationRequest, source: Store, target: Store) -> str:
    """The question a run asks before it writes: how much is left to copy, from where to where."""
    description, namespaces, _ = select(request, source)
    records = sum(description.namespace_counts.get(ns, 0) for ns in namespaces)
    state = target_state(description, target, request)
    done = listed_earlier(request)
    left = (
        f"{max(records - done, 0):,} of {records:,} records left (resuming: {done:,} done by an earlier run)"
        if done
        else f"{records:,} records"
    )
    question = (
        f"Copy {left} in {len(namespaces)} namespace(s) from {request.source.label()} to "
        f"{request.target.label()} (target {state})"
    )
    changes = [] if request.fidelity is None else request.fidelity.summary()
    if not changes:
        return question + "?"
    listed = "".join(f"\n  - {line}" for line in changes)
    return f"{question}, with what the target does not hold exactly:{listed}\nGo ahead?"


def listed_earlier(request: MigrationRequest) -> int:
    """Records an earlier run of this ledger already handled (0 for a new ledger or a restart)."""
    path = request.ledger_path()
    if request.restart or not path.exists():
        return 0
    with Ledger(path, read_only=True) as ledger:
        return sum(unit.listed for unit in ledger.namespaces())
