"""The rule for files from ../shared: skip naming the file on a developer's machine, fail under CI."""

from __future__ import annotations

import pytest

from tests.shared_files import SHARED_DIR, shared_file

MISSING = ("pinecone-api", "no-such-version", "no-such-spec.yaml")


def _outcome_for_missing_file() -> tuple[str, str]:
    """What shared_file does for a missing file: ("skip" or "fail", its message)."""
    try:
        shared_file(*MISSING)
    except pytest.skip.Exception as skipped:
        return "skip", str(skipped)
    except pytest.fail.Exception as failed:
        return "fail", str(failed)
    return "returned", ""


def test_a_missing_shared_file_skips_naming_it_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    outcome, message = _outcome_for_missing_file()
    assert outcome == "skip"
    assert str(SHARED_DIR.joinpath(*MISSING)) in message


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_missing_shared_file_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    outcome, message = _outcome_for_missing_file()
    assert outcome == "fail"
    assert str(SHARED_DIR.joinpath(*MISSING)) in message


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_ci_false_counts_as_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert _outcome_for_missing_file()[0] == "skip"


def test_a_present_shared_file_is_returned() -> None:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is missing: nothing to find")
    present = next(path for path in sorted(SHARED_DIR.rglob("*")) if path.is_file())
    assert shared_file(*present.relative_to(SHARED_DIR).parts) == present
