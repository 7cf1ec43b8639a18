"""What every command shares: exit codes, option parsing helpers, and turning library errors into messages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import click
import orjson

from ..errors import ExitCode, MigratorError

FC = TypeVar("FC", bound=Callable[..., object])

# Names the commands use; the meanings are ExitCode's, documented in errors.EXIT_CODES.
EXIT_OK = ExitCode.OK
EXIT_DECLINED = ExitCode.DECLINED
EXIT_USAGE = ExitCode.BAD_INPUT
EXIT_INCOMPLETE = ExitCode.INCOMPLETE
EXIT_DEAD_LETTERS = ExitCode.DEAD_LETTERS
EXIT_DIFFERENT = ExitCode.DIFFERENT
EXIT_UNJUDGED = ExitCode.UNJUDGED
EXIT_GUARDED = ExitCode.GUARDED
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def fail(error: MigratorError) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    sys.exit(error.exit_code)


@contextmanager
def user_errors() -> Iterator[None]:
    """A library error becomes its message and exit code, never a traceback."""
    try:
        yield
    except MigratorError as error:
        fail(error)


def namespace_name(name: str) -> str:
    return "__default__" if name == "" else name


def namespace_pair(item: str) -> tuple[str, str]:
    source, separator, target = item.partition("=")
    if not separator:
        raise click.UsageError(f"--namespace-map {item!r}: write it as SOURCE=TARGET.")
    return namespace_name(source), namespace_name(target)


def filter_option(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise click.UsageError(
            f'--filter is not valid JSON ({error}); example: \'{{"genre": {{"$eq": "drama"}}}}\''
        ) from None
    if not isinstance(value, dict):
        raise click.UsageError('--filter must be a JSON object, e.g. \'{"year": {"$gte": 2020}}\'.')
    from ..filters import FilterError, compile_filter

    try:
        compile_filter(value)
    except FilterError as error:
        raise click.UsageError(f"--filter: {error}") from None
    return value


def api_key(variable: str, side: str) -> str:
    key = os.environ.get(variable) or click.get_current_context().meta.get("config_secrets", {}).get(side)
    if not key:
        raise click.UsageError(
            f"No API key for the {side}: set the environment variable {variable} "
            f"(or name another one with --{side}-api-key-env)."
        )
    return key


def apply_options(function: FC, options: list[Callable[[FC], FC]]) -> FC:
    for option in reversed(options):
        function = option(function)
    return function


def interactive() -> bool:
    """A person at a terminal: prompts, the live display and the 'q' key are only for them."""
    return sys.stdin.isatty() and sys.stdout.isatty()
