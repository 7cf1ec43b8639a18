"""One exception hierarchy for the library; the CLI maps each class to a documented exit code.

Every message says what was wrong and what to do. No message ever contains an API key.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Every exit code of every command: the one table the README shows (``EXIT_CODES``)."""

    OK = 0
    DECLINED = 1
    BAD_INPUT = 2
    INCOMPLETE = 3
    DEAD_LETTERS = 4
    DIFFERENT = 5
    UNJUDGED = 6
    GUARDED = 7
    INTERNAL = 70
    INTERRUPTED = 130


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "done, clean",
    ExitCode.DECLINED: "declined at the confirmation prompt; nothing was written",
    ExitCode.BAD_INPUT: "bad input (options, config, paths, credentials, names); nothing was written",
    ExitCode.INCOMPLETE: "incomplete: a remote or disk failure stopped the run; fix the cause, run it again "
    "to resume",
    ExitCode.DEAD_LETTERS: "finished, but the target refused some records (dead letters, in the ledger)",
    ExitCode.DIFFERENT: "verify (or --verify, validate, a restore's check) found differences",
    ExitCode.UNJUDGED: "this verify level cannot judge this migration, or a pod sweep could not prove it "
    "found every record",
    ExitCode.GUARDED: "sync: a pass would have deleted more than --max-delete-fraction; nothing was deleted",
    ExitCode.INTERNAL: "a bug: one line names it, the traceback is in the log file it prints (or --debug)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM, 'q'); run the same command again to resume",
}


class MigratorError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code: int = ExitCode.INTERNAL


class UserError(MigratorError):
    """Bad input: options, configuration, names. Nothing was written."""

    exit_code = ExitCode.BAD_INPUT


class IncompatibleTarget(UserError):
    """An existing target whose dimension, metric or vector type does not fit the source."""


class RemoteError(MigratorError):
    """A call to a store failed. ``retryable`` says whether trying again may succeed."""

    exit_code = ExitCode.INCOMPLETE

    def __init__(
        self,
        operation: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{operation} failed: {message}")
        self.operation = operation
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the remote asked us to wait (Retry-After), if it said

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, it must arrive in the parent whole (pickle calls __init__ with args).
        return (_remote_error, (type(self), self.operation, self.message, self.status, self.retryable))


class RecordsRejected(MigratorError):
    """The target refused a batch for reasons of its own content (size, dimension, bad ID...).

    Not retryable as is; the engine narrows the batch down to the records at fault (dead letters). A store
    that knows exactly which records it refused, having written all the others, says so with ``records``
    (ID -> reason): the engine then takes the rest as written and bisects nothing.
    """

    exit_code = ExitCode.DEAD_LETTERS

    def __init__(
        self, operation: str, message: str, status: int | None = None, records: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{operation} refused: {message}")
        self.operation = operation
        self.reason = message
        self.status = status
        self.records = records

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.reason, self.status, self.records))


def _remote_error(
    kind: type[RemoteError], operation: str, message: str, status: int | None, retryable: bool
) -> RemoteError:
    return kind(operation, message, status=status, retryable=retryable)
