"""Bad input to the core commands (migrate, plan, verify, sync, status): one row per case.

Each row runs the real CLI against two real servers; `run_case` asserts the exit code, the message, no
traceback, nothing created or written, and the source's digest unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .badinput import MIGRATE, Case, World, run_case

CASES = [
    Case("unknown namespace", (*MIGRATE, "--source-index", "src", "--target-index", "new", "--namespace", "nope"),
         2, "no namespace 'nope'"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path) -> None:
    run_case(case, world, tmp_path)
