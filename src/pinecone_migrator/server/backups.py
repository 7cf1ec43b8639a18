"""Backups of serverless indexes and restoring them into new indexes (control plane): create, list (all or
per index), describe and delete backups; ``create-index`` from a backup; list and describe restore jobs.

The state behind them is in :mod:`.backup_registry`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from . import control, control_values
from .backup_registry import Backup, BackupRegistry, index_id
from .context import STATE_KEY, json_response
from .errors import failed_precondition, invalid_argument, not_found
from .jobs import page, utc_now

BACKUPS_KEY: web.AppKey[BackupRegistry] = web.AppKey("backups", BackupRegistry)


def _registry(request: web.Request) -> BackupRegistry:
    return request.app[BACKUPS_KEY]


def _schema_dialect(request: web.Request) -> bool:
    return control.dialect_of(request) is control.SCHEMA


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_argument(f"{key} must be a string.")
    return value


def _listing(request: web.Request, backups: list[Backup]) -> web.Response:
    shown, pagination = page(sorted(backups, key=lambda b: b.seq), request.query, "backups", default_limit=10)
    body: dict[str, Any] = {"data": [b.render(_schema_dialect(request)) for b in shown]}
    if pagination is not None:
        body["pagination"] = pagination
    return json_response(body)


async def create_backup(request: web.Request) -> web.Response:
    definition = control.existing(request)
    if definition.is_pod:
        raise invalid_argument(
            f"Index {definition.name} is pod-based: backups are only supported for serverless indexes. "
            "Use a collection to snapshot a pod-based index."
        )
    if definition.is_dedicated:
        raise failed_precondition(
            f"Index {definition.name} runs on dedicated read nodes, which do not support backups."
        )
    if definition.name in request.app[STATE_KEY].catalog.initializing:
        raise failed_precondition(f"Index {definition.name} is not ready yet: it is still being restored.")
    body = await control.request_object(request)
    backup = _registry(request).create(
        definition, _optional_string(body, "name"), _optional_string(body, "description")
    )
    return json_response(backup.render(_schema_dialect(request)), status=201)


async def list_index_backups(request: web.Request) -> web.Response:
    definition = control.existing(request)
    backups = _registry(request).backups.values()
    if request.query.get("include_deleted") == "true":
        of_index = [b for b in backups if b.source_index_name == definition.name]
    else:
        of_index = [b for b in backups if b.source_index_id == index_id(definition)]
    return _listing(request, of_index)


async def list_backups(request: web.Request) -> web.Response:
    return _listing(request, list(_registry(request).backups.values()))


async def describe_backup(request: web.Request) -> web.Response:
    backup = _registry(request).get(request.match_info["backup_id"])
    return json_response(backup.render(_schema_dialect(request)))


async def delete_backup(request: web.Request) -> web.Response:
    registry = _registry(request)
    registry.delete(registry.get(request.match_info["backup_id"]))
    return web.Response(status=202)


async def create_index_from_backup(request: web.Request) -> web.Response:
    registry = _registry(request)
    backup = registry.get(request.match_info["backup_id"])
    body = await control.request_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise invalid_argument("name (of the index to create) must be a string.")
    tags = control_values.parse_tags(body["tags"]) if body.get("tags") is not None else backup.definition.tags
    definition = replace(
        backup.definition,
        name=name,
        tags=tags,
        deletion_protection=control_values.parse_deletion_protection(body.get("deletion_protection")),
        read_capacity=control_values.parse_read_capacity(body.get("read_capacity")),
        created_at=utc_now(),
    )
    request.app[STATE_KEY].catalog.create(definition)
    job = registry.restore(backup, definition)
    return json_response({"restore_job_id": job.restore_job_id, "index_id": job.target_index_id}, status=202)


async def list_restore_jobs(request: web.Request) -> web.Response:
    jobs = sorted(_registry(request).restores.values(), key=lambda job: job.seq)
    shown, pagination = page(jobs, request.query, "restore-jobs", default_limit=10)
    body: dict[str, Any] = {"data": [job.render() for job in shown]}
    if pagination is not None:
        body["pagination"] = pagination
    return json_response(body)


async def describe_restore_job(request: web.Request) -> web.Response:
    job = _registry(request).restores.get(request.match_info["job_id"])
    if job is None:
        raise not_found(f"Restore job {request.match_info['job_id']} not found.")
    return json_response(job.render())


def add_routes(app: web.Application) -> None:
    registry = BackupRegistry(app[STATE_KEY])
    app[BACKUPS_KEY] = registry
    app.cleanup_ctx.append(registry.lifetime)
    router = app.router
    router.add_post("/indexes/{name}/backups", create_backup)
    router.add_get("/indexes/{name}/backups", list_index_backups)
    router.add_get("/backups", list_backups)
    router.add_get("/backups/{backup_id}", describe_backup)
    router.add_delete("/backups/{backup_id}", delete_backup)
    router.add_post("/backups/{backup_id}/create-index", create_index_from_backup)
    router.add_get("/restore-jobs", list_restore_jobs)
    router.add_get("/restore-jobs/{job_id}", describe_restore_job)
