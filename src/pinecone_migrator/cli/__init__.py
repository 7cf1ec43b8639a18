"""The command line: thin commands that parse options and call the library."""

from . import migrate_command, serve_command, validate_command, verify_command
from .app import cli, main

__all__ = ["cli", "main", "migrate_command", "serve_command", "validate_command", "verify_command"]
