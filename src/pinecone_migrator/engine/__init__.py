"""The engine: planning units of work, the copy pipeline, the ledger that makes runs resumable."""
