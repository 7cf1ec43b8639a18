"""The command group; each command lives in its own module and registers itself here.

``main`` is the last line of defence: whatever escapes a command ends as one line and a documented exit
code, never a traceback on the user's screen (unless ``--debug``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
import tempfile
import time
import traceback
from typing import NoReturn

import click

from .. import __version__
from ..errors import ExitCode, MigratorError

DEBUG_ENV = "PINECONE_MIGRATOR_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinecone-migrator")
@click.option(
    "--debug", is_flag=True, help="Show the traceback of an unexpected error instead of writing it to a file."
)
def cli(debug: bool) -> None:
    """Move Pinecone vector data completely, resumably and verifiably."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def main() -> None:
    try:
        cli.main(auto_envvar_prefix="PINECONE_MIGRATOR", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(ExitCode.BAD_INPUT)
    except (click.Abort, KeyboardInterrupt):  # click turns Ctrl-C (and EOF at a prompt) into Abort
        click.echo("Interrupted: run the same command again to resume.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except MigratorError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except OSError as error:
        _os_failure(error)
    except sqlite3.Error as error:
        _state_failure(error)
    except Exception as error:  # a bug: say so in one line, keep the traceback
        _internal_failure(error)


def _os_failure(error: OSError) -> None:
    """A disk or system failure outside the checks made before the run (those say exit 2 themselves)."""
    where = f" ({error.filename})" if error.filename else ""
    if error.errno == errno.ENOSPC:
        advice = "the disk is full: free some space and run the same command again to resume"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "permission denied: make the path writable (or choose another) and run the command again"
    else:
        advice = "run the same command again to resume once the cause is fixed"
    click.echo(f"error: {error.strerror or error}{where}; {advice}.", err=True)
    sys.exit(ExitCode.INCOMPLETE)


# SQLite's primary result codes for a file it could not use: the state file's fault, not ours. Other codes
# (a bad statement, say) are bugs.
_FILE_FAILURES = {
    5: "it is busy",
    6: "it is locked",
    8: "it is read-only",
    10: "an I/O error",
    11: "it is damaged",
    13: "the disk is full",
    14: "it cannot be opened",
    26: "it is not a database",
}


def _state_failure(error: sqlite3.Error) -> None:
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+; on 3.10 only a full disk is recognised
    if code is not None:
        reason = _FILE_FAILURES.get(code & 0xFF)
    else:
        reason = "the disk is full" if "disk is full" in str(error) else None
    if reason is None:
        _internal_failure(error)
    click.echo(
        f"error: a state file (--state, or its staging beside it) could not be written: {error} ({reason}). "
        "Fix that (free space, permissions) and run the same command again to resume: what was committed "
        "is kept.",
        err=True,
    )
    sys.exit(ExitCode.INCOMPLETE)


def _internal_failure(error: Exception) -> NoReturn:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exc()
        sys.exit(ExitCode.INTERNAL)
    log_path = _write_traceback()
    where = f"the traceback is in {log_path}" if log_path else "run again with --debug to see the traceback"
    click.echo(
        f"internal error (a bug in pinecone-migrator): {type(error).__name__}: {_first_line(error)}; "
        f"{where}. Please report it. Progress kept in the ledger is safe: the same command resumes.",
        err=True,
    )
    sys.exit(ExitCode.INTERNAL)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else "(no message)"


def _write_traceback() -> str | None:
    try:
        handle, path = tempfile.mkstemp(
            prefix=f"pinecone-migrator-error-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log"
        )
        with os.fdopen(handle, "w") as log:
            log.write(f"pinecone-migrator {__version__}: {' '.join(sys.argv[1:])}\n")
            traceback.print_exc(file=log)
        return path
    except OSError:
        return None
