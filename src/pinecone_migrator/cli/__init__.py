"""The command line: thin commands that parse options and call the library."""

from . import (
    backup_command,
    bulk_command,
    files_command,
    migrate_command,
    plan_command,
    serve_command,
    sync_command,
    validate_command,
    verify_command,
)
from .app import cli, main

__all__ = [
    "backup_command",
    "bulk_command",
    "cli",
    "files_command",
    "main",
    "migrate_command",
    "plan_command",
    "serve_command",
    "sync_command",
    "validate_command",
    "verify_command",
]
