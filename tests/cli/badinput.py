"""The bad-input suite's machinery: one `Case` per row, run through the real CLI against real servers.

A row says what to run (argv with placeholders), the exit code and a pattern the message must match.
`run_case` then checks what every refusal promises: no traceback, no index created or removed on either
server, no record written to any target index, and the source's digest unchanged.

Placeholders in argv and env values: ``{src}``/``{dst}`` (the two servers' URLs), ``{tmp}`` (a fresh
folder per case), ``{export}`` (a fresh copy of a complete Parquet export of the source index ``src``),
``{jsonl}`` (the same as JSON Lines), ``{src_alias}`` (the source server's URL spelled with ``localhost``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinecone import Pinecone

from ..cliproc import SOURCE_KEY, TARGET_KEY
from ..serverproc import ServerProcess

SRC = ("--source-host", "{src}", "--source-api-key-env", "SRC_KEY")
DST = ("--target-host", "{dst}", "--target-api-key-env", "DST_KEY")
STATE = ("--state", "{tmp}/state/ledger.sqlite")
MIGRATE = ("migrate", *SRC, *DST, *STATE)
VERIFY = ("verify", *SRC, *DST, *STATE)
SYNC = ("sync", *SRC, *DST, *STATE, "--once")
EXPORT = ("export", *SRC, *STATE)
IMPORT = ("import", *DST, *STATE)


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    exit: int
    message: str  # a regular expression searched in stderr + stdout (case-insensitive)
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[CaseWorld], None] | None = None  # prepares files in world.tmp before the run
    writes_nothing: bool = True  # no index created, no record written on either server
    check: Callable[[CaseWorld, subprocess.CompletedProcess[str]], None] | None = None
    timeout: float = 60.0


@dataclass
class World:
    """What the whole suite shares: two servers and a complete export of the source."""

    source: ServerProcess
    target: ServerProcess
    parquet_export: Path
    jsonl_export: Path


@dataclass
class CaseWorld:
    world: World
    tmp: Path

    @property
    def export(self) -> Path:
        return self.tmp / "export"

    @property
    def jsonl(self) -> Path:
        return self.tmp / "jsonl"

    def fill(self, text: str) -> str:
        """Placeholders replaced by name (argv may hold JSON, whose braces are not placeholders)."""
        values = {
            "src": self.world.source.url,
            "src_alias": self.world.source.url.replace("127.0.0.1", "localhost"),
            "dst": self.world.target.url,
            "tmp": str(self.tmp),
            "export": str(self.export),
            "jsonl": str(self.jsonl),
        }
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text


def snapshot(server: ServerProcess, key: str) -> dict[str, Any]:
    """Every index of a server with its per-namespace counts (enough to see a created index or a write)."""
    pc = Pinecone(api_key=key, host=server.url)
    found: dict[str, Any] = {}
    for description in pc.list_indexes():
        index = pc.index(host=description.host)
        stats = index.describe_index_stats()
        found[description.name] = {ns: summary.vector_count for ns, summary in stats.namespaces.items()}
    return found


def source_digest(server: ServerProcess) -> Any:
    """The set digest of every namespace of the source index `src`, read through our own store."""
    from pinecone_migrator.stores.pinecone.store import PineconeStore

    from ..helpers import namespace_digest

    store = PineconeStore("src", SOURCE_KEY, server.url)
    return {ns: namespace_digest(store, ns) for ns in sorted(store.describe().namespace_counts)}


def run_case(case: Case, world: World, tmp: Path) -> subprocess.CompletedProcess[str]:
    here = CaseWorld(world, tmp)
    shutil.copytree(world.parquet_export, here.export)
    shutil.copytree(world.jsonl_export, here.jsonl)
    if case.setup is not None:
        case.setup(here)
    before = (snapshot(world.source, SOURCE_KEY), snapshot(world.target, TARGET_KEY))
    digest_before = source_digest(world.source)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PINECONE_")},
        "SRC_KEY": SOURCE_KEY,
        "DST_KEY": TARGET_KEY,
        **{k: here.fill(v) for k, v in case.env.items()},
    }
    argv = [sys.executable, "-m", "pinecone_migrator", *(here.fill(word) for word in case.argv)]
    result = subprocess.run(
        argv, env=env, cwd=tmp, capture_output=True, text=True, timeout=case.timeout, stdin=subprocess.DEVNULL
    )
    output = result.stderr + result.stdout
    assert "Traceback" not in output, output
    assert result.returncode == case.exit, f"exit {result.returncode}, expected {case.exit}:\n{output}"
    assert re.search(case.message, output, re.IGNORECASE | re.DOTALL), (
        f"message /{case.message}/ not found in:\n{output}"
    )
    if case.writes_nothing:
        after = (snapshot(world.source, SOURCE_KEY), snapshot(world.target, TARGET_KEY))
        assert after == before, f"indexes or records changed: {before} -> {after}"
    assert source_digest(world.source) == digest_before, "the source changed"
    if case.check is not None:
        case.check(here, result)
    return result
