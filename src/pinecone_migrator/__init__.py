"""pinecone-migrator: move Pinecone vector data completely, resumably and verifiably."""

__version__ = "0.1.0"
