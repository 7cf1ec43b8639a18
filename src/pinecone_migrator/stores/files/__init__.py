"""File stores: exports and backups as Parquet (Pinecone's bulk-import layout) or JSON Lines, on a local
path or in object storage."""

from .layout import FORMATS
from .source import FileSource
from .target import DEFAULT_ROWS_PER_FILE, FileTarget

__all__ = ["DEFAULT_ROWS_PER_FILE", "FORMATS", "FileSource", "FileTarget"]
