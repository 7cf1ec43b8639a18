"""Work Pinecone does itself: bulk imports from object storage, backups, and restores from backups.

Thin wrappers over the official SDK with the store's retries and error translation; the engine's workflows
follow the jobs (engine/workflows/jobs.py). Nothing here copies records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import UserError
from .store import PineconeStore


@dataclass(frozen=True)
class Job:
    """A server-side job as this tool shows it (an import, a backup, a restore)."""

    id: str
    status: str
    percent: float | None = None
    records: int | None = None
    error: str | None = None
    detail: str = ""  # the URI of an import, the index of a backup or restore
    created_at: str | None = None
    finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v not in (None, "")}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _import_job(model: Any) -> Job:
    return Job(
        id=str(model.id),
        status=str(model.status),
        percent=model.percent_complete,
        records=model.records_imported,
        error=_text(model.error),
        detail=str(model.uri),
        created_at=_text(model.created_at),
        finished_at=_text(model.finished_at),
    )


def _backup_job(model: Any) -> Job:
    return Job(
        id=str(model.backup_id),
        status=str(model.status),
        records=getattr(model, "record_count", None),
        detail=f"{model.source_index_name}" + (f" ({model.name})" if getattr(model, "name", None) else ""),
        created_at=_text(getattr(model, "created_at", None)),
    )


def _restore_job(model: Any) -> Job:
    return Job(
        id=str(model.restore_job_id),
        status=str(model.status),
        percent=getattr(model, "percent_complete", None),
        detail=f"backup {model.backup_id} -> {model.target_index_name}",
        created_at=_text(getattr(model, "created_at", None)),
        finished_at=_text(getattr(model, "completed_at", None)),
    )


class PineconeJobs:
    """Bulk imports into one index, and backups of it, through its store's client."""

    def __init__(self, store: PineconeStore) -> None:
        self.store = store

    def _index(self) -> Any:
        return self.store.sdk_index()

    def start_import(self, uri: str, *, error_mode: str, integration_id: str | None) -> str:
        index = self._index()
        response = self.store.call(
            "start import",
            lambda: index.start_import(uri, error_mode=error_mode, integration_id=integration_id),
        )
        return str(response.id)

    def _no_import(self, import_id: str) -> Callable[[], UserError]:
        name = self.store.index_name
        return lambda: UserError(
            f"There is no bulk import {import_id!r} in the {self.store.where()}. "
            f"`pinecone-migrator imports list --target-index {name}` lists its imports."
        )

    def describe_import(self, import_id: str) -> Job:
        index = self._index()
        model = self.store.call(
            "describe import", lambda: index.describe_import(import_id), not_found=self._no_import(import_id)
        )
        return _import_job(model)

    def list_imports(self) -> list[Job]:
        index = self._index()
        return [_import_job(m) for m in self.store.call("list imports", lambda: list(index.list_imports()))]

    def cancel_import(self, import_id: str) -> None:
        index = self._index()
        self.store.call(
            "cancel import", lambda: index.cancel_import(import_id), not_found=self._no_import(import_id)
        )

    def create_backup(self, name: str | None, description: str | None) -> Job:
        client = self.store.client
        model = self.store.call(
            "create backup",
            lambda: client.create_backup(
                index_name=self.store.index_name, backup_name=name, description=description
            ),
        )
        return _backup_job(model)

    def describe_backup(self, backup_id: str) -> Job:
        client = self.store.client

        def missing() -> UserError:
            return UserError(
                f"There is no backup {backup_id!r} in the project at {self.store.host_name}. --from takes "
                "the ID that `backup --native` printed, and a native backup is restored only in its own "
                "project (check the host and the API key)."
            )

        model = self.store.call(
            "describe backup", lambda: client.describe_backup(backup_id=backup_id), not_found=missing
        )
        return _backup_job(model)

    def restore(self, backup_id: str, *, deletion_protection: bool, tags: dict[str, str] | None) -> str:
        """Start creating this store's index from a backup; returns the restore job's ID."""
        client = self.store.client
        response = self.store.call(
            "create index from backup",
            lambda: client.create_index_from_backup(
                name=self.store.index_name,
                backup_id=backup_id,
                deletion_protection="enabled" if deletion_protection else "disabled",
                tags=tags,
                timeout=-1,
            ),
        )
        return str(response.restore_job_id)

    def describe_restore(self, job_id: str) -> Job:
        client = self.store.client
        return _restore_job(
            self.store.call("describe restore job", lambda: client.describe_restore_job(job_id=job_id))
        )


def bulk_import_uri(uri: str) -> str:
    """The URI Pinecone's bulk import takes for an fsspec URI: ``s3://`` and ``gs://`` as they are;
    ``az://container/prefix`` as the container's https URL (the account comes from the environment)."""
    import os

    if uri.startswith(("az://", "abfs://")):
        account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME") or _account_from_connection_string(
            os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        )
        if not account:
            raise UserError(
                f"{uri}: Pinecone's bulk import names an Azure container by its https:// URL; set "
                "AZURE_STORAGE_ACCOUNT_NAME, or pass the URL (https://<account>.blob.core.windows.net/...)."
            )
        return f"https://{account}.blob.core.windows.net/{uri.split('://', 1)[1]}"
    return uri


def _account_from_connection_string(text: str) -> str | None:
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip() == "AccountName" and value:
            return value.strip()
    return None
