"""Migrate: copy the selected namespaces of a source into a target, resumably.

- ``target``: what is selected (namespaces, filter) and the target checked or created like the source;
- ``run``: :func:`~.run.run_migration` (and :func:`~.run.plan_migration`, which writes nothing);
- ``copy``, ``namespace_copy``, ``shards``: a namespace copied as one walk, or as ID-prefix shards side
  by side;
- ``fold``: namespaces folded into one (a metadata field) and unfolded again;
- ``readback``: each written batch read back and compared (``--verify batch``);
- ``plan``: what a copy would do, from a sample; ``summary``: what it did.
The request model is :mod:`pinecone_migrator.engine.request`; the walk, :mod:`pinecone_migrator.engine.walk`.
"""
