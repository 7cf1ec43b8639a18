"""Work a remote service does itself (a bulk import, a native backup or restore), followed until it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

POLL_SECONDS = 2.0
IMPORT_DONE = ("Completed", "Failed", "Cancelled")
RESTORE_DONE = ("Completed", "Failed", "Cancelled")
BACKUP_DONE = ("Ready", "Failed")


class Job(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def percent(self) -> float | None: ...

    @property
    def records(self) -> int | None: ...

    @property
    def error(self) -> str | None: ...

    def to_json(self) -> dict[str, Any]: ...


J = TypeVar("J", bound=Job)


def follow(
    describe: Callable[[], J],
    done: tuple[str, ...],
    stop: threading.Event,
    on_update: Callable[[J], None],
    poll_seconds: float = POLL_SECONDS,
) -> J:
    """Describe a job until its status is one of ``done`` (or ``stop`` is set); every answer goes to
    ``on_update``. A failed describe is retried by the store; only its final failure ends the wait."""
    while True:
        job = describe()
        on_update(job)
        if job.status in done or stop.is_set():
            return job
        stop.wait(poll_seconds)
