"""Every command the CLI has is documented: the README shows it in a code block, its ``--help`` has an
example that is a valid command line of this tool, and lists its exit codes from the one table
(``errors.EXIT_CODES``).

The commands are found by walking the click group, so a new command without documentation fails here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pinecone_migrator.cli.app import cli
from pinecone_migrator.errors import EXIT_CODES, ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"
PROGRAM = "pinecone-migrator"


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(_walk(cli))


def test_the_walk_finds_every_command() -> None:
    # A guard on the walk itself: groups are entered, so subcommands are checked too.
    assert {"migrate", "serve", "imports list", "imports describe", "imports cancel"} <= {
        " ".join(path) for path in COMMANDS
    }


def _readme_command_lines(text: str) -> list[str]:
    """Every `pinecone-migrator ...` line inside a fenced code block (continuation lines joined)."""
    lines: list[str] = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line.strip() for line in joined.splitlines() if line.strip().startswith(PROGRAM + " ")]
    return lines


def _mentions(lines: list[str], path: tuple[str, ...]) -> bool:
    prefix = " ".join((PROGRAM, *path))
    return any(line == prefix or line.startswith(prefix + " ") for line in lines)


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name=PROGRAM)
    assert result.exit_code == 0, result.output
    return result.output


def _examples(help_text: str) -> list[str]:
    """The lines of the help's "Examples:" paragraph that are command lines."""
    found: list[str] = []
    inside = False
    for line in help_text.splitlines():
        if re.match(r"\s*Examples?:\s*$", line):
            inside = True
        elif inside and not line.strip():
            inside = False
        elif inside and line.strip().startswith(PROGRAM + " "):
            found.append(line.strip())
    return found


def _exit_codes(help_text: str) -> dict[int, str]:
    """The help's "Exit codes:" paragraph: one `CODE  meaning` line per code."""
    codes: dict[int, str] = {}
    inside = False
    for line in help_text.splitlines():
        if re.match(r"\s*Exit codes\b.*:\s*$", line):
            inside = True
        elif inside:
            row = re.match(r"\s+(\d+)\s+(\S.*)$", line)
            if row is None:
                break
            codes[int(row.group(1))] = row.group(2)
    return codes


def parse(line: str) -> tuple[tuple[str, ...], click.Context]:
    """Parse a command line the way the CLI would (every option, type, choice and required option
    checked, callbacks run) without running the command. Returns the command path and its context."""
    words = shlex.split(line, comments=True)
    assert words[0] == PROGRAM, line
    words = words[1:]
    group: click.Group = cli
    path: tuple[str, ...] = ()
    parent = cli.make_context(PROGRAM, [], resilient_parsing=True)
    while True:
        assert words, f"{line!r} names no command"
        command = group.get_command(parent, words[0])
        assert command is not None, f"{line!r}: no command {words[0]!r}"
        path, words = (*path, words[0]), words[1:]
        if isinstance(command, click.Group):
            group = command
            parent = command.make_context(path[-1], [], parent=parent, resilient_parsing=True)
            continue
        try:
            context = command.make_context(path[-1], list(words), parent=parent)
        except click.BadParameter as error:
            # An example may name a file on the user's machine (`status --state LEDGER`): only its
            # existence is not checked here.
            if "does not exist" not in error.format_message():
                raise
            context = command.make_context(path[-1], list(words), parent=parent, resilient_parsing=True)
        return path, context


@pytest.fixture(autouse=True)
def _no_config_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --config's default is ./config.json: parse examples where there is none.
    monkeypatch.chdir(tmp_path)
    for variable in ("PINECONE_API_KEY", "PINECONE_LOCAL_API_KEY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_the_readme_shows_the_command(path: tuple[str, ...]) -> None:
    lines = _readme_command_lines(README.read_text())
    assert _mentions(lines, path), (
        f"README.md has no code block line `{' '.join((PROGRAM, *path))} ...`: document the command "
        "in the section where it belongs."
    )


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_the_help_has_examples_that_parse(path: tuple[str, ...]) -> None:
    examples = _examples(_help(path))
    assert examples, (
        f"`{' '.join(path)} --help` has no example: add an 'Examples:' paragraph (after a \\b line) with "
        f"`{PROGRAM} {' '.join(path)} ...` lines to its docstring."
    )
    for example in examples:
        parsed, _ = parse(example)
        assert parsed == path, f"the example {example!r} of {' '.join(path)} runs {' '.join(parsed)}"


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_the_help_lists_exit_codes_from_the_one_table(path: tuple[str, ...]) -> None:
    codes = _exit_codes(_help(path))
    assert codes, f"`{' '.join(path)} --help` has no 'Exit codes:' paragraph (one `CODE  meaning` per line)"
    unknown = set(codes) - {int(code) for code in EXIT_CODES}
    assert not unknown, f"{' '.join(path)}: exit codes {sorted(unknown)} are not in errors.EXIT_CODES"
    # Every command can be given bad input and can meet a bug.
    assert {ExitCode.OK, ExitCode.BAD_INPUT, ExitCode.INTERNAL} <= set(codes), codes


def test_every_complete_readme_command_line_parses() -> None:
    """The README's command lines are real commands too (lines with `...` or `[optional]` placeholders,
    which stand for more than one command, are skipped)."""
    lines = _readme_command_lines(README.read_text())
    checked = 0
    for line in lines:
        if "..." in line or " [" in line or "<" in line:
            continue
        parse(line)
        checked += 1
    assert checked >= len(COMMANDS)


def test_parse_refuses_what_the_cli_refuses() -> None:
    """The examples' check has teeth: a wrong option, choice or command is caught."""
    for wrong in (
        f"{PROGRAM} migrate --source-index a --target-index b --no-such-option",
        f"{PROGRAM} verify --source-index a --target-index b --level nonsense",
        f"{PROGRAM} migrate --source-index a --target-index",
        f"{PROGRAM} migrate --source-index a --target-index b --source-host localhost:5080",
    ):
        with pytest.raises(click.UsageError):
            parse(wrong)
    with pytest.raises(AssertionError):
        parse(f"{PROGRAM} imports frobnicate --target-index b")
