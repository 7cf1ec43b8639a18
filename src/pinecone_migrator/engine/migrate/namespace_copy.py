"""Copying one namespace: as one unit, or as ID-prefix shards listed in parallel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ..ledger import UnitState
from ..walk import Halted, WalkGroup
from .copy import CopyRun, Route, UnitCopier
from .shards import discover_prefixes, shards_wanted

log = logging.getLogger("pinecone_migrator.copy")


def _shards_wanted(run: CopyRun, namespace: str, unit: UnitState) -> int:
    """How many shards to look for; 0 = copy as one unit."""
    options = run.options
    fresh = unit.cursor is None and unit.listed == 0 and not unit.done  # a started listing is continued as is
    if not fresh or run.server_filter is not None:
        return 0
    return shards_wanted(
        run.source,
        namespace,
        unit.total_hint,
        options.shards,
        options.concurrency,
        options.shard_min_records,
        options.page_size,
        run.list_round_trip,
    )


def copy_namespace(run: CopyRun, namespace: str, route: Route) -> bool:
    """Copy a namespace; True when every unit of it reached the end of its listing."""
    ledger = run.ledger
    unit = ledger.unit(namespace)
    totals = next(n for n in ledger.namespaces() if n.namespace == namespace)
    run.progress.namespace_started(namespace, unit.total_hint, totals.listed)
    complete = False
    try:
        prefixes = ledger.shard_prefixes(namespace)
        wanted = 0 if prefixes else _shards_wanted(run, namespace, unit)
        if wanted > 1:
            prefixes = discover_prefixes(run.source, namespace, wanted, stop=run.stop)
            if prefixes:
                ledger.add_shards(namespace, prefixes)
                log.info("namespace %r: listing %d ID-prefix shards in parallel", namespace, len(prefixes))
        if not prefixes:
            complete = UnitCopier(run, namespace, route).run()
        else:
            complete = _copy_shards(run, namespace, route, prefixes) and _copy_remainder(
                run, namespace, route, prefixes
            )
    finally:
        run.progress.namespace_finished(namespace, complete)
    return complete


def copy_in_parallel(run: CopyRun, jobs: list[Callable[[], bool]], width: int) -> bool:
    """Run copy jobs on ``width`` threads; the first failure halts the others and is raised."""

    def guarded(job: Callable[[], bool]) -> bool:
        try:
            return job()
        except Halted:
            raise
        except BaseException:
            run.walker.halt.set()  # the other jobs stop at their next page (a failed walk has set it already)
            raise

    if width <= 1:
        return all([guarded(job) for job in jobs])
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="lister") as drivers:
        group = WalkGroup(drivers, run.walker)
        started = [group.start(guarded, job) for job in jobs]
        group.wait()
    # A job halted by a failure elsewhere raises Halted here; the group that ran the failure raises it.
    return all(future.result() for future in started)


def _copy_shards(run: CopyRun, namespace: str, route: Route, prefixes: list[str]) -> bool:
    jobs: list[Callable[[], bool]] = [
        partial(UnitCopier(run, namespace, route, prefix=prefix).run) for prefix in prefixes
    ]
    return copy_in_parallel(run, jobs, min(len(prefixes), run.options.concurrency or len(prefixes)))


def _copy_remainder(run: CopyRun, namespace: str, route: Route, prefixes: list[str]) -> bool:
    """If the shards listed fewer IDs than the namespace held, list it whole for IDs outside every shard.

    Only a namespace holding IDs the probes could not see (or records deleted during the copy) needs this;
    it costs one more listing, and nothing is copied twice.
    """
    unit = run.ledger.unit(namespace)
    if unit.done:
        return True
    shard_listed = sum(u.listed for u in run.ledger.units() if u.namespace == namespace and u.prefix)
    if unit.cursor is None and unit.listed == 0 and shard_listed >= (unit.total_hint or 0):
        run.ledger.advance(namespace, "", cursor=None, listed=0, copied=0, skipped=0, dead_letters=[])
        return True
    log.warning(
        "namespace %r: the shards listed %d IDs but the namespace counted %s; listing it whole once more "
        "for IDs outside the shards",
        namespace,
        shard_listed,
        unit.total_hint,
    )
    covered = tuple(prefixes)
    return UnitCopier(run, namespace, route, keep_id=lambda i: not i.startswith(covered)).run()
