"""Verify: prove that a target holds what a migration should have put there, name what differs, repair it.

- ``run``: :func:`~.run.verify` by level (count, sample, digest, full) and the repair entry point;
- ``result``: options and the verdict; ``diff``: the differences file;
- ``digests``: per-bucket digests of records; ``buckets``: the digest and ID passes over both sides;
- ``walker``: one walk (and one adaptive limit) per verify or repair run;
- ``workers``: digest scans in worker processes; ``checkpoints``: resumable scans;
- ``sample``, ``search``, ``repair``: the sample level, the search check and the repair of differences.
"""
