"""Stores: every kind of place records live (Pinecone, files, ...) behind one small protocol (base.py)."""
