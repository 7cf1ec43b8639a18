"""The control plane under the 9.x SDK (classic dialect), and indexes shared between SDK 9.x and 10.x.

SDK 9.x cannot be installed beside 10.x, so it lives in its own environment (``make`` builds
``.venv-sdk9``) and runs ``sdk9_control_scenario.py`` as a subprocess against a server started here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pinecone import Pinecone, ServerlessSpec

from pinecone_migrator.server.runner import BackgroundServer

SCENARIO = Path(__file__).with_name("sdk9_control_scenario.py")
SDK9_PYTHON = Path(os.environ.get("PINECONE_MIGRATOR_SDK9_PYTHON", "/work/main/.venv-sdk9/bin/python"))

pytestmark = [
    pytest.mark.sdk9,
    pytest.mark.skipif(
        not SDK9_PYTHON.exists(),
        reason=f"no SDK 9.x environment at {SDK9_PYTHON}: run `make .venv-sdk9/.installed` "
        "or set PINECONE_MIGRATOR_SDK9_PYTHON",
    ),
]


def run_scenario(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SDK9_PYTHON), str(SCENARIO), *args], capture_output=True, text=True, timeout=240, check=False
    )


def test_sdk9_manages_indexes_and_shares_them_with_sdk10(server: BackgroundServer, pc: Pinecone) -> None:
    pc.create_index(
        "made-by-sdk10",
        dimension=8,
        metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
        deletion_protection="enabled",
        tags={"made-by": "sdk10"},
    )

    result = run_scenario(server.url, "made-by-sdk10")
    assert result.returncode == 0, f"SDK 9 scenario failed:\n{result.stdout}\n{result.stderr}"
    assert "all 8 steps passed with pinecone 9." in result.stdout

    made_by_sdk9 = pc.describe_index("made-by-sdk9")
    assert (made_by_sdk9.dimension, made_by_sdk9.metric, made_by_sdk9.vector_type) == (
        8,
        "dotproduct",
        "dense",
    )
    assert made_by_sdk9.tags == {"made-by": "sdk9"}
    assert made_by_sdk9.deletion_protection == "enabled"
    assert sorted(pc.list_indexes().names()) == ["made-by-sdk10", "made-by-sdk9", "pods", "sparse"]


def test_scenario_reports_a_failure_with_a_clear_message(server: BackgroundServer) -> None:
    """The scenario must be able to fail: an index SDK 10 never created cannot be described."""
    result = run_scenario(server.url, "was-never-created")
    assert result.returncode == 1
    assert "FAILED at step 'describe the index SDK 10 created'" in result.stderr
    assert "NotFoundError" in result.stderr


def test_scenario_refuses_the_wrong_sdk(server: BackgroundServer) -> None:
    """Run with SDK 10 the scenario would test the wrong dialect, so it says so instead."""
    result = subprocess.run(
        [sys.executable, str(SCENARIO), server.url], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "needs pinecone 9.x" in result.stderr
