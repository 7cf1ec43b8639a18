"""Files the tests read from ``../shared`` (the published API specs), which only CI is sure to have.

A fresh clone has no ``../shared`` beside it: there a test that needs one of its files skips, naming the
file. CI always has the folder, so there a missing file is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


def running_in_ci() -> bool:
    """Whether ``CI`` is set, as CI services set it (``CI=true``); ``CI=false`` or ``CI=0`` count as unset."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_file(*parts: str) -> Path:
    """The path of ``../shared/<parts>``; skips the calling test when it is missing, or fails under CI."""
    path = SHARED_DIR.joinpath(*parts)
    if path.is_file():
        return path
    message = f"{path} is missing: it comes from the shared folder beside the repository (../shared)"
    if running_in_ci():
        pytest.fail(f"{message}, which CI always has.", pytrace=False)
    pytest.skip(f"{message}; set CI=1 to make this a failure.")
