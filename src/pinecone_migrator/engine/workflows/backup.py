"""`backup --native` and `restore --native`: a remote service's own backups of an index, followed to the
end. A restore creates a new index and is checked by its record count against the backup's (the service
gives no digest of a backup, so a record-by-record proof needs a backup to files instead)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ...errors import ExitCode, UserError
from ...stores.base import Store
from .common import Displays
from .jobs import BACKUP_DONE, RESTORE_DONE, Job, follow

COUNT_WAIT_SECONDS = 120.0  # counts lag behind writes: how long a restore's count may take to settle


class Backups(Protocol):
    def create_backup(self, name: str | None, description: str | None) -> Job: ...

    def describe_backup(self, backup_id: str) -> Job: ...

    def restore(self, backup_id: str, *, deletion_protection: bool, tags: dict[str, str] | None) -> str: ...

    def describe_restore(self, job_id: str) -> Job: ...


@runtime_checkable
class NamesMissing(Protocol):
    def missing(self) -> UserError:
        """The error that says this store does not exist, in the store's own terms."""


@dataclass(frozen=True)
class NativeBackupOutcome:
    job: Job
    stopped: bool

    @property
    def exit_code(self) -> ExitCode:
        if self.job.status == "Ready":
            return ExitCode.OK
        return ExitCode.INTERRUPTED if self.stopped else ExitCode.INCOMPLETE

    def to_json(self) -> dict[str, Any]:
        return {"backup": self.job.to_json()}


@dataclass(frozen=True)
class NativeRestoreOutcome:
    backup: Job
    job: Job
    stopped: bool
    restored_records: int | None = None  # counted when the restore is checked
    problems: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        if self.job.status != "Completed":
            return ExitCode.INTERRUPTED if self.stopped else ExitCode.INCOMPLETE
        return ExitCode.DIFFERENT if self.problems else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"backup": self.backup.to_json(), "restore": self.job.to_json()}
        if self.restored_records is not None:
            body["restored_records"] = self.restored_records
        return body


def native_backup(
    store: Store,
    backups: Backups,
    name: str | None = None,
    description: str | None = None,
    *,
    stop: threading.Event | None = None,
    on_started: Callable[[Job], None] = lambda job: None,
    displays: Displays | None = None,
) -> NativeBackupOutcome:
    """Start a backup of ``store`` and wait until it is ready (or failed, or ``stop``)."""
    stop = stop or threading.Event()
    if not store.exists():
        raise store.missing() if isinstance(store, NamesMissing) else UserError("The index does not exist.")
    started = backups.create_backup(name, description)
    on_started(started)
    with (displays or Displays()).job() as show:
        job = follow(lambda: backups.describe_backup(started.id), BACKUP_DONE, stop, show)
    return NativeBackupOutcome(job, stop.is_set())


def native_restore(
    target: Store,
    backups: Backups,
    backup_id: str,
    *,
    deletion_protection: bool = False,
    check_count: bool = True,
    stop: threading.Event | None = None,
    on_started: Callable[[str], None] = lambda job_id: None,
    displays: Displays | None = None,
) -> NativeRestoreOutcome:
    """Restore a backup into the new index ``target`` and wait for it; with ``check_count``, the restored
    index must hold as many records as the backup (its count is given time to settle)."""
    stop = stop or threading.Event()
    if target.exists():
        raise UserError(
            f"The index {target.describe().name!r} exists; a native restore creates a new index. "
            "Choose another --target-index."
        )
    backup = backups.describe_backup(backup_id)
    job_id = backups.restore(backup_id, deletion_protection=deletion_protection, tags=None)
    on_started(job_id)
    with (displays or Displays()).job() as show:
        job = follow(lambda: backups.describe_restore(job_id), RESTORE_DONE, stop, show)
    if job.status != "Completed" or not check_count or backup.records is None:
        return NativeRestoreOutcome(backup, job, stop.is_set())
    found = _settled_count(target, backup.records, stop)
    problems = []
    if found != backup.records:
        problems.append(f"the restored index holds {found:,} records, the backup {backup.records:,}")
    return NativeRestoreOutcome(backup, job, stop.is_set(), found, tuple(problems))


def _settled_count(store: Store, expected: int, stop: threading.Event) -> int:
    """The restored index's record count, polled until it equals ``expected`` or stops changing."""
    deadline = time.monotonic() + COUNT_WAIT_SECONDS
    while True:
        found = sum(store.describe().namespace_counts.values())
        if found == expected or time.monotonic() > deadline or stop.is_set():
            return int(found)
        stop.wait(2.0)
