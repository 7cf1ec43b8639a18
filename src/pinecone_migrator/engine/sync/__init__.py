"""Continuous sync: passes that bring a target up to date with a source.

- ``passes``: ledger mode (the tool's own state; never writes to the source), :class:`~.passes.SyncPass`;
- ``stamping``: stamp mode, the original script's way (``migrated``/``migrated_at`` written to the source);
- ``state``: the sync state file (known IDs and digests, passes, watermarks).
"""
