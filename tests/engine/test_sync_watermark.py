"""--updated-field: a change made while a pass scans, behind its cursor, is still copied by the next pass."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pinecone import Pinecone

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions, SyncPass
from pinecone_migrator.engine.sync.state import SyncState
from pinecone_migrator.stores.base import RecordPage
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..cliproc import SOURCE_KEY, TARGET_KEY
from ..helpers import dense_index
from ..serverproc import ServerProcess


def test_a_change_behind_the_cursor_is_not_lost(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source, target = servers
    application = dense_index(Pinecone(api_key=SOURCE_KEY, host=source.url), "src", dimension=4)
    old = time.time() - 1_000
    application.upsert(
        vectors=[{"id": f"r{i}", "values": [1, 2, 3, i + 1], "metadata": {"updated": old}} for i in range(10)]
    )
    behind: list[str] = []

    class ApplicationWritesDuringTheScan(PineconeStore):
        def fetch_by_metadata(
            self, namespace: str, metadata_filter: dict[str, Any], **kwargs: Any
        ) -> RecordPage:
            page = super().fetch_by_metadata(namespace, metadata_filter, **kwargs)
            if behind:  # after the page was read: r0 changes, with a time below the newest one seen
                application.update(id=behind.pop(), set_metadata={"updated": time.time(), "note": "late"})
            return page

    request = MigrationRequest(source=Endpoint("src", None), target=Endpoint("dst", None))
    options = SyncOptions(updated_field="updated", lookback_seconds=5)
    store = ApplicationWritesDuringTheScan("src", SOURCE_KEY, source.url)
    copy = PineconeStore("dst", TARGET_KEY, target.url)
    with SyncState(tmp_path / "state.sqlite", {"mode": "ledger"}) as state:

        def run() -> Any:
            return SyncPass(request, options, store, copy, state, threading.Event(), lambda *_: False).run()

        run()  # the first pass copies everything and starts the watermark
        application.update(id="r9", set_metadata={"updated": time.time() + 60})  # the newest value there is
        behind.append("r0")
        second = run()
        assert second.updated == 1  # r9; r0 changed behind the scan
        third = run()
        assert third.updated == 1, "the change made behind the cursor was lost"
    copied = Pinecone(api_key=TARGET_KEY, host=target.url)
    record = copied.index(host=copied.describe_index("dst").host).fetch(ids=["r0"]).vectors["r0"]
    assert record.metadata["note"] == "late"
