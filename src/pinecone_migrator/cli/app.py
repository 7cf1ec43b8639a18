"""The command group; each command lives in its own module and registers itself here."""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinecone-migrator")
def cli() -> None:
    """Move Pinecone vector data completely, resumably and verifiably."""


def main() -> None:
    cli(auto_envvar_prefix="PINECONE_MIGRATOR")
