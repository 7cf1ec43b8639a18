"""The CLI's last line of defence: whatever escapes a command ends as one line and a documented exit code;
and the README's exit-code table is the code's (errors.EXIT_CODES)."""

from __future__ import annotations

import errno
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from pinecone_migrator.cli import main
from pinecone_migrator.cli.app import cli
from pinecone_migrator.errors import EXIT_CODES, ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def failing_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[BaseException]]:
    """A command registered for the test that raises whatever the test puts in the list."""
    raised: list[BaseException] = []

    @cli.command("raise-for-test")
    def raise_for_test() -> None:
        raise raised[0]

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("PINECONE_MIGRATOR_DEBUG", raising=False)
    try:
        yield raised
    finally:
        cli.commands.pop("raise-for-test")


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["pinecone-migrator", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return int(done.value.code or 0)


def test_a_bug_is_one_line_and_its_traceback_goes_to_a_file(
    failing_command: list[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing_command.append(RuntimeError("the impossible happened\nsecond line"))
    assert _run(monkeypatch, "raise-for-test") == ExitCode.INTERNAL == 70
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error (a bug in pinecone-migrator): RuntimeError: the impossible happened;" in err
    assert "second line" not in err
    log = Path(re.search(r"the traceback is in (\S+\.log)", err).group(1))  # type: ignore[union-attr]
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: the impossible happened" in text


def test_debug_shows_the_traceback(
    failing_command: list[BaseException], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing_command.append(KeyError("missing"))
    assert _run(monkeypatch, "--debug", "raise-for-test") == 70
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/data/x"), 3, r"\(/data/x\); the disk is full"),
        (PermissionError(errno.EACCES, "Permission denied", "/data/y"), 3, r"permission denied"),
        (KeyboardInterrupt(), 130, r"Interrupted: run the same command again"),
        (click.UsageError("bad words"), 2, r"bad words"),
        (click.ClickException("a click failure"), 2, r"a click failure"),
    ],
)
def test_escaped_errors_have_documented_codes(
    failing_command: list[BaseException],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    code: int,
    message: str,
) -> None:
    failing_command.append(error)
    assert _run(monkeypatch, "raise-for-test") == code
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert code in EXIT_CODES


def test_the_readme_exit_code_table_is_the_code_s() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", README.read_text(), re.MULTILINE)
    assert {int(code): text for code, text in rows} == {int(code): text for code, text in EXIT_CODES.items()}
