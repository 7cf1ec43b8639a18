"""Pinecone (the cloud, or a Pinecone-compatible server such as ours): the only place that uses the SDK.

- ``store``: :class:`~.store.PineconeStore`, the store protocol over an index;
- ``rest``: the data plane's record reads over plain REST (faster than the SDK's models);
- ``jobs``: work Pinecone does itself (bulk imports, backups, restores);
- ``retry``: which answers are retried, refused or denied, and the backoff.
"""
