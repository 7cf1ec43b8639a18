"""`verify`: compare a target with what a migration should have produced, repair it when asked; and the
search level, which compares query results instead of records."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import ExitCode, UserError
from ...statelock import hold
from ...stores.base import Searches, Store
from ..ledger import Ledger
from ..migrate.changes import with_fidelity
from ..migrate.target import refuse_source_as_target, selected_namespaces
from ..request import MigrationRequest
from ..verify.run import (
    JsonlDiffWriter,
    RepairSummary,
    VerifyCheckpoints,
    VerifyOptions,
    VerifyResult,
    repair,
    verify,
    verify_fingerprint,
)
from ..verify.search import SearchComparison, compare_search
from .common import Displays, MakesListable, listable_source, verdict_code


@dataclass(frozen=True)
class VerifySettings:
    options: VerifyOptions = field(default_factory=VerifyOptions)
    diff_path: Path | None = None  # every differing ID, as JSON Lines
    restart: bool = False  # forget the progress an interrupted verify saved
    repair: bool = False  # re-copy missing and different records, then verify again (level digest: full)
    delete_extra: bool = False  # with repair: delete target records not expected there
    accept_incomplete_sweep: bool = False


@dataclass(frozen=True)
class VerifyOutcome:
    verification: VerifyResult
    repair: RepairSummary | None = None
    after_repair: VerifyResult | None = None

    @property
    def final(self) -> VerifyResult:
        return self.after_repair or self.verification

    @property
    def exit_code(self) -> ExitCode:
        final = self.final
        return verdict_code(final.equal, final.judged, final.interrupted)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"verify": self.verification.to_json()}
        if self.repair is not None:
            body["repair"] = self.repair.to_json()
        if self.after_repair is not None:
            body["verify_after_repair"] = self.after_repair.to_json()
        return body


@dataclass(frozen=True)
class SearchOutcome:
    comparisons: tuple[SearchComparison, ...]
    unjudged: str | None  # why this level cannot judge the migration
    interrupted: bool

    @property
    def equal(self) -> bool:
        return self.unjudged is None and all(c.equal for c in self.comparisons)

    @property
    def exit_code(self) -> ExitCode:
        return verdict_code(self.equal, self.unjudged is None, self.interrupted)

    def to_json(self) -> dict[str, Any]:
        return {
            "verify": {
                "level": "search",
                "equal": self.equal,
                "judged": self.unjudged is None,
                "interrupted": self.interrupted,
                "unjudged": self.unjudged,
                "namespaces": [c.to_json() for c in self.comparisons],
            }
        }


def verify_index(
    request: MigrationRequest,
    source: Store,
    target: Store,
    settings: VerifySettings | None = None,
    *,
    stop: threading.Event | None = None,
    displays: Displays | None = None,
    make_listable: MakesListable | None = None,
    holder: str = "verify",
) -> VerifyOutcome:
    """Verify (levels count, digest, full, sample), and with ``settings.repair`` repair what differs and
    verify again. Only a repair writes, and only to the target."""
    settings = settings or VerifySettings()
    stop = stop or threading.Event()
    displays = displays or Displays()
    options = settings.options
    if settings.repair and options.level == "digest":
        options = replace(options, level="full")  # a repair needs the differing IDs
    with hold(request.ledger_path(), holder):
        _check_sides(request, source, target)
        request = with_fidelity(request, source, target)
        listable = listable_source(
            source, request, stop, make_listable, accept_incomplete=settings.accept_incomplete_sweep
        )

        def check() -> VerifyResult:
            return verify_copy(
                request,
                listable,
                target,
                options,
                stop=stop,
                displays=displays,
                diff_path=settings.diff_path,
                restart=settings.restart,
            )

        result = check()
        if not (settings.repair and result.judged and not result.equal and not result.interrupted):
            return VerifyOutcome(result)
        fixed = repair(
            result,
            request,
            source,
            target,
            delete_extra=settings.delete_extra,
            stop=stop,
            freshness_timeout_seconds=options.freshness_timeout_seconds,
        )
        return VerifyOutcome(result, fixed, check())


def verify_search(
    request: MigrationRequest,
    source: Store,
    target: Store,
    sample_size: int = 100,
    top_k: int = 10,
    *,
    stop: threading.Event | None = None,
    holder: str = "verify",
) -> SearchOutcome:
    """Query both sides by ``sample_size`` stored vectors per namespace and compare the top ``top_k``; a
    migration that filters, routes or merges cannot be judged this way."""
    stop = stop or threading.Event()
    with hold(request.ledger_path(), holder):
        _check_sides(request, source, target)
        namespaces = selected_namespaces(request, source.describe())
        destinations = [request.destination(ns) for ns in namespaces]
        why = []
        if request.filter:
            why.append("a filter selects the records (the target holds only those)")
        if request.namespace_from_metadata is not None:
            why.append("records are routed by metadata")
        if len(set(destinations)) < len(destinations):
            why.append("several source namespaces are merged into one")
        for side, store, endpoint in (("source", source, request.source), ("target", target, request.target)):
            if not isinstance(store, Searches):
                why.append(f"the {side} {endpoint.label()} cannot run similarity searches here")
        comparisons: list[SearchComparison] = []
        if not why:
            for namespace, destination in zip(namespaces, destinations, strict=True):
                if stop.is_set():
                    break
                comparisons.append(
                    compare_search(
                        source, target, namespace, destination, sample_size, top_k=top_k, stop=stop
                    )
                )
    unjudged = (
        f"the search level cannot judge this migration ({'; '.join(why)}); use --level digest"
        if why
        else None
    )
    return SearchOutcome(tuple(comparisons), unjudged, stop.is_set())


def verify_copy(
    request: MigrationRequest,
    source: Store,
    target: Store,
    options: VerifyOptions,
    *,
    stop: threading.Event,
    displays: Displays,
    diff_path: Path | None = None,
    restart: bool = False,
) -> VerifyResult:
    """Verify after waiting for the writes the migration's ledger remembers; progress is kept in the ledger
    (levels digest and full) and differences go to ``diff_path`` when given."""
    lsns: dict[str, int] = {}
    ledger_path = request.ledger_path()
    if ledger_path.exists():
        with Ledger(ledger_path) as ledger:
            lsns = ledger.written_lsns()
    with ExitStack() as stack:
        progress = stack.enter_context(displays.verify(_source_records(request, source)))
        checkpoints = None
        if options.level in ("digest", "full"):  # the only levels that keep progress
            fingerprint = verify_fingerprint(request, options)
            checkpoints = stack.enter_context(VerifyCheckpoints(ledger_path, fingerprint, restart=restart))
        return verify(
            request,
            source,
            target,
            options,
            stop=stop,
            on_difference=None if diff_path is None else stack.enter_context(JsonlDiffWriter(diff_path)),
            target_lsns=lsns,
            progress=progress,
            checkpoints=checkpoints,
        )


def _source_records(request: MigrationRequest, source: Store) -> int | None:
    """Records the source side will fetch (its selected namespaces' counts)."""
    description = source.describe()
    return sum(description.namespace_counts.get(ns, 0) for ns in selected_namespaces(request, description))


def _check_sides(request: MigrationRequest, source: Store, target: Store) -> None:
    for side, store, endpoint in (("source", source, request.source), ("target", target, request.target)):
        if not store.exists():
            raise UserError(f"The {side} index {endpoint.index!r} does not exist at {endpoint.label()}.")
    refuse_source_as_target(source.describe(), target.describe(), request)
