"""One connection per thread (the engine reads and writes from many threads at once), opened on first use,
and the one place where PostgreSQL's errors become the library's: bad credentials and permissions are bad
input naming what to fix, a lost or refused connection is retryable, a row the table refuses is a refused
record."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import MigratorError, RecordsRejected, RemoteError, UserError
from .codec import register_loaders
from .options import Settings

MAX_CONNECTIONS = 16
_TYPES_QUERY = "SELECT typname, oid FROM pg_type WHERE typname IN ('vector', 'halfvec', 'sparsevec')"
_LOGIN_REFUSED = ("password authentication failed", "no password supplied", "authentication failed",
                  "password is required")  # fmt: skip


class MissingTable(MigratorError):
    """The table a statement named is not there (a namespace's own table not made yet)."""


class AlreadyExists(MigratorError):
    """What a CREATE made is there already (another thread or run made it first)."""


class Conflict(MigratorError):
    """A written row's key is taken (by a concurrent writer, or in another unique index of the table)."""


class Connections:
    """A bounded pool: each operation takes a connection for its duration and gives it back, so that the
    engine's many threads share at most :data:`MAX_CONNECTIONS` sessions of the server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[Any] = []
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._lock = threading.Lock()
        self._generation = 0
        self._born: dict[int, int] = {}  # id of each open connection -> the generation that opened it
        self.contacted = False

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A connection of this pool's for one operation (opened when none is idle)."""
        self._slots.acquire()
        connection = None
        try:
            with self._lock:
                while self._idle and connection is None:
                    candidate = self._idle.pop()
                    if candidate.closed or candidate.broken:
                        candidate.close()
                    else:
                        connection = candidate
            if connection is None:
                connection = self._connect()
            yield connection
        finally:
            if connection is not None:
                self._give_back(connection)
            self._slots.release()

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            broken = connection.closed or connection.broken
            if not broken and self._born.get(id(connection)) == self._generation:
                self._idle.append(connection)
                return
            # A lost connection usually means a restarted server: the idle ones are lost as well.
            dead = [connection, *self._idle] if broken else [connection]
            if broken:
                self._idle = []
            for each in dead:
                self._born.pop(id(each), None)
        for each in dead:
            each.close()

    def _connect(self) -> Any:
        import psycopg

        settings = self.settings
        try:
            connection = psycopg.connect(**settings.connect_arguments(), autocommit=True)
        except psycopg.OperationalError as error:
            raise self._not_connected(error) from None
        with connection.cursor() as cursor:
            cursor.execute(_TYPES_QUERY)
            oids = {str(name): int(oid) for name, oid in cursor.fetchall()}
        register_loaders(connection, oids)
        with self._lock:
            self._born[id(connection)] = self._generation
        self.contacted = True
        return connection

    def _not_connected(self, error: Exception) -> MigratorError:
        settings = self.settings
        text = _first_line(error)
        where = f"PostgreSQL at {settings.host or 'localhost'}:{settings.port}"
        if any(words in text for words in _LOGIN_REFUSED):
            return UserError(
                f"{where} refused the login of user {settings.user or '(default)'} ({text}). Check the user "
                f"in {settings.flag} and the password in {settings.password_advice()}."
            )
        if "does not exist" in text:
            return settings.problem(f"{where} says: {text}. Check the user and database names.")
        if "no pg_hba.conf entry" in text or "permission denied" in text:
            return settings.problem(f"{where} refused the connection ({text}). Ask its administrator.")
        return RemoteError(
            "connect",
            f"could not connect to {where} ({text}). Check the host and port in {settings.flag}, then run "
            "the same command again.",
            retryable=True,
        )

    @contextmanager
    def cursor(self, operation: str, *, transaction: bool = False, refusable: bool = False) -> Iterator[Any]:
        """A binary cursor of a pooled connection; errors translated. ``transaction``: all or nothing.
        ``refusable``: the statement writes records, so data errors are records refused (dead letters)."""
        import psycopg

        with self.session() as connection:
            try:
                if transaction:
                    with connection.transaction(), connection.cursor(binary=True) as cursor:
                        yield cursor
                else:
                    with connection.cursor(binary=True) as cursor:
                        yield cursor
            except psycopg.Error as error:
                raise self._translated(operation, error, refusable, connection) from None

    def _translated(self, operation: str, error: Any, refusable: bool, connection: Any) -> MigratorError:
        from psycopg import errors

        text = _first_line(error)
        settings = self.settings
        if isinstance(error, errors.UndefinedTable):
            return MissingTable(text)
        if isinstance(error, (errors.DuplicateTable, errors.DuplicateObject)) or (
            isinstance(error, errors.UniqueViolation) and "pg_type" in text
        ):
            return AlreadyExists(text)
        if isinstance(error, errors.InsufficientPrivilege):
            return UserError(
                f"PostgreSQL denied {operation} on table {settings.name} to user "
                f"{settings.user or '(default)'} ({text}). Grant it, or name another user in {settings.flag}."
            )
        if isinstance(error, errors.ReadOnlySqlTransaction):
            return UserError(f"{operation} on the source {settings.name}: refused, a source is only read.")
        if refusable and isinstance(error, errors.UniqueViolation):
            return Conflict(text)
        if refusable and isinstance(
            error, (errors.DataError, errors.IntegrityError, errors.ProgramLimitExceeded)
        ):
            return RecordsRejected(operation, text)
        if isinstance(error, (errors.OperationalError, errors.TransactionRollback)) or connection.broken:
            return RemoteError(
                operation,
                f"PostgreSQL at {settings.host or 'localhost'}:{settings.port}: {text}. Run the same command "
                "again to resume once it answers.",
                retryable=True,
            )
        if isinstance(error, errors.InvalidColumnReference) and "ON CONFLICT" in text:
            return settings.problem(
                f"table {settings.name} has no primary key or unique index on its ID (and namespace) "
                "columns: add one, so that writes can replace records by ID."
            )
        return RemoteError(operation, f"{text} (table {settings.name})", retryable=False)

    def forget_all(self) -> None:
        """Connections are opened anew (after the pgvector extension was created: its types' loaders)."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__
