"""One entry point per command, composing the engine's parts; everything the CLI does, callable from
Python with the same guarantees (locks, checks before writes, resume, verification, exit codes).

Stores come in opened (the engine opens none itself); prompts come in as callables, progress as
:class:`Displays`, and each workflow returns a small outcome with its ``exit_code`` and ``to_json()``."""

from .backup import Backups, NativeBackupOutcome, NativeRestoreOutcome, native_backup, native_restore
from .bulk import BulkOutcome, BulkSettings, ImportJobs, InvalidFiles, bulk_import
from .common import Confirm, Declined, Displays, MakesListable
from .files import ExportFolder, FileRecords, OpenFiles, export, import_files, restore
from .jobs import Job
from .migrate import MigrateOutcome, migrate
from .sync import SyncOutcome, SyncSettings, sync
from .verify import SearchOutcome, VerifyOutcome, VerifySettings, verify_index, verify_search

__all__ = [
    "Backups",
    "BulkOutcome",
    "BulkSettings",
    "Confirm",
    "Declined",
    "Displays",
    "ExportFolder",
    "FileRecords",
    "ImportJobs",
    "InvalidFiles",
    "Job",
    "MakesListable",
    "MigrateOutcome",
    "NativeBackupOutcome",
    "NativeRestoreOutcome",
    "OpenFiles",
    "SearchOutcome",
    "SyncOutcome",
    "SyncSettings",
    "VerifyOutcome",
    "VerifySettings",
    "bulk_import",
    "export",
    "import_files",
    "migrate",
    "native_backup",
    "native_restore",
    "restore",
    "sync",
    "verify_index",
    "verify_search",
]
