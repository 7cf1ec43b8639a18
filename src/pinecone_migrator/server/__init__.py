"""A local Pinecone-compatible server: control plane and data plane on one HTTP port.

The official SDK (10.x and 9.x) works against it unchanged. It is used by the test suite, by
`make demo`, and by users who want to rehearse a migration before touching production.
"""
