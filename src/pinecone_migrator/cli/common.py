"""What every command shares: exit codes, option parsing helpers, and turning library errors into messages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import orjson

from ..errors import ExitCode, MigratorError, UserError
from ..statelock import check_writable

FC = TypeVar("FC", bound=Callable[..., object])

# Names the commands use; the meanings are ExitCode's, documented in errors.EXIT_CODES.
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


def namespace_name(name: str, option: str = "--namespace") -> str:
    """A namespace as the user named it. The default namespace has one spelling, ``__default__``: an empty
    name is refused rather than guessed."""
    if name == "":
        raise click.UsageError(
            f"{option}: an empty namespace name; the default namespace is written __default__."
        )
    if name != name.strip():
        raise click.UsageError(
            f"{option} {name!r}: the name starts or ends with white space; quote it exactly."
        )
    return name


def namespace_pairs(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """--namespace-map SRC=DST items; a source mapped twice to different targets is refused."""
    mapping: dict[str, str] = {}
    for item in items:
        source, separator, target = item.partition("=")
        if not separator:
            raise click.UsageError(f"--namespace-map {item!r}: write it as SOURCE=TARGET.")
        source = namespace_name(source, f"--namespace-map {item!r} (source)")
        target = namespace_name(target, f"--namespace-map {item!r} (target)")
        if mapping.get(source, target) != target:
            raise click.UsageError(
                f"--namespace-map maps {source!r} twice, to {mapping[source]!r} and to {target!r}: keep one."
            )
        mapping[source] = target
    return tuple(mapping.items())


def host_url(context: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--source-host/--target-host: an http(s) URL, checked before any connection is tried."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a URL ({error}).") from None
    if url.scheme not in ("http", "https") or not url.hostname or any(c.isspace() for c in value):
        raise click.BadParameter(
            f"{value!r} is not an http(s) URL; write it as http://127.0.0.1:5080 (a local server) or "
            "https://api.pinecone.io."
        )
    return value.rstrip("/")


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


def command_name() -> str:
    """The running command as typed (`migrate`, `imports list`), for the state lock's holder."""
    names = []
    context = click.get_current_context(silent=True)
    while context is not None and context.parent is not None:
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(reversed(names))


def interactive() -> bool:
    """A person at a terminal: prompts, the live display and the 'q' key are only for them."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def check_output_paths(options: dict[str, Any]) -> None:
    """Every file a run will write at its end is checked before its start."""
    for option, what in (("report", "The --report file"), ("diff_path", "The --diff file")):
        path = options.get(option)
        if path is not None:
            check_writable(path, what)


def write_report(path: Path | None, body: dict[str, Any]) -> UserError | None:
    """The JSON report; a failure to write it is returned (the run's summary was already shown)."""
    if path is None:
        return None
    try:
        path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    except OSError as error:
        failure = UserError(
            f"the run finished (summary above) but the --report file {path} could not be written "
            f"({error.strerror}); choose another path"
        )
        failure.exit_code = ExitCode.INCOMPLETE
        return failure
    return None
