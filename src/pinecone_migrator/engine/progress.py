"""What the engine tells whoever watches a run (a TTY display, log lines, a test), kept apart from display.

The engine calls these from its worker threads; a listener must be thread-safe and quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class ProgressListener(Protocol):
    def run_started(self, totals: Mapping[str, int | None], already_listed: Mapping[str, int]) -> None:
        """Every namespace the run will copy, with the source's (possibly lagging) count and what an
        earlier run of the same ledger listed already."""

    def namespace_started(self, namespace: str, total: int | None, already_listed: int) -> None:
        """Copying of ``namespace`` begins; ``total`` is the source's (possibly lagging) count, and
        ``already_listed`` what an earlier run of the same ledger got through."""

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        """One page is acknowledged by the target and committed to the ledger."""

    def namespace_finished(self, namespace: str, complete: bool) -> None:
        """``complete`` False: stopped (interrupted or failed) before the end of the listing."""

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        """Adaptive concurrency moved (halved on 429, grown back after a run of successes)."""


class NullProgress:
    """Listens to nothing (quiet mode, library use)."""

    def run_started(self, totals: Mapping[str, int | None], already_listed: Mapping[str, int]) -> None:
        pass

    def namespace_started(self, namespace: str, total: int | None, already_listed: int) -> None:
        pass

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        pass

    def namespace_finished(self, namespace: str, complete: bool) -> None:
        pass

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        pass
