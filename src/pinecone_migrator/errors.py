"""One exception hierarchy for the library; the CLI maps each class to a documented exit code.

Every message says what was wrong and what to do. No message ever contains an API key.
"""

from __future__ import annotations

from typing import Any


class MigratorError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class UserError(MigratorError):
    """Bad input: options, configuration, names. Nothing was written."""

    exit_code = 2


class IncompatibleTarget(UserError):
    """An existing target whose dimension, metric or vector type does not fit the source."""


class RemoteError(MigratorError):
    """A call to a store failed. ``retryable`` says whether trying again may succeed."""

    exit_code = 3

    def __init__(self, operation: str, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(f"{operation} failed: {message}")
        self.operation = operation
        self.message = message
        self.status = status
        self.retryable = retryable

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process, it must arrive in the parent whole (pickle calls __init__ with args).
        return (_remote_error, (type(self), self.operation, self.message, self.status, self.retryable))


class RecordsRejected(MigratorError):
    """The target refused a batch for reasons of its own content (size, dimension, bad ID...).

    Not retryable as is; the engine narrows the batch down to the records at fault (dead letters).
    """

    exit_code = 4

    def __init__(self, operation: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{operation} refused: {message}")
        self.operation = operation
        self.reason = message
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.reason, self.status))


def _remote_error(
    kind: type[RemoteError], operation: str, message: str, status: int | None, retryable: bool
) -> RemoteError:
    return kind(operation, message, status=status, retryable=retryable)
