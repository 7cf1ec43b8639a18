"""What every workflow shares: how a run asks, shows its progress, judges itself, and lists a source that
cannot list its IDs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...errors import ExitCode, UserError
from ...stores.base import Store
from ..progress import NullProgress, ProgressListener
from ..request import MigrationRequest
from ..verify.run import VerifyProgress
from .jobs import Job

Confirm = Callable[[str], bool]  # a yes/no question to the person running it; False declines


class Declined(Exception):
    """The confirmation was declined; nothing was written."""


class MakesListable(Protocol):
    """Puts a source that cannot list its IDs (a pod-based index) behind a view that can, or refuses it
    (``pinecone_migrator.stores.listable.enumerable`` is one)."""

    def __call__(
        self,
        source: Store,
        ledger: Path,
        namespaces: Sequence[str] | None,
        stop: threading.Event,
        *,
        accept_incomplete: bool = False,
        restart: bool = False,
    ) -> Store: ...


@contextmanager
def _no_copy_display() -> Iterator[ProgressListener]:
    yield NullProgress()


@contextmanager
def _no_verify_display(total: int | None) -> Iterator[VerifyProgress | None]:
    yield None


@contextmanager
def _no_job_display() -> Iterator[Callable[[Job], None]]:
    yield lambda job: None


@dataclass(frozen=True)
class Displays:
    """How a run shows its progress. Each display is entered only while its part runs, so a terminal shows
    one at a time; the verify display is given the source records it will fetch (for an ETA), the job
    display every answer of a remote job it follows."""

    copy: Callable[[], AbstractContextManager[ProgressListener]] = _no_copy_display
    verify: Callable[[int | None], AbstractContextManager[VerifyProgress | None]] = _no_verify_display
    job: Callable[[], AbstractContextManager[Callable[[Job], None]]] = _no_job_display


def listable_source(
    source: Store,
    request: MigrationRequest,
    stop: threading.Event,
    make_listable: MakesListable | None,
    *,
    accept_incomplete: bool = False,
    restart: bool = False,
) -> Store:
    """The source as the engine walks it: listing its IDs, or refused before anything is written."""
    if make_listable is not None:
        return make_listable(
            source,
            request.ledger_path(),
            list(request.namespaces) or None,
            stop,
            accept_incomplete=accept_incomplete,
            restart=restart,
        )
    if source.exists() and not source.capabilities().can_list:
        raise UserError(
            f"The source {request.source.label()} cannot list its IDs: give make_listable "
            "(pinecone_migrator.stores.listable.enumerable) to find them by query sweeps."
        )
    return source


def verdict_code(equal: bool, judged: bool, interrupted: bool) -> ExitCode:
    """The exit code of a comparison."""
    if interrupted:
        return ExitCode.INTERRUPTED
    if not judged:
        return ExitCode.UNJUDGED
    return ExitCode.OK if equal else ExitCode.DIFFERENT
