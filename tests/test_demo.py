"""`make demo` runs the real job on the local server and proves the target equals the source."""

from __future__ import annotations

import io

from pinecone_migrator import demo


def test_demo_migrates_and_checks_every_record() -> None:
    out = io.StringIO()
    demo.run(out=out)
    text = out.getvalue()
    assert "Upserted 24,000 records" in text
    assert text.count("dead letters 0") == 3
    assert "Migrated 24,000 records" in text
    assert text.count(" equal\n") == 3
    assert "Target equals source." in text
