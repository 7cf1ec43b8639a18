"""Data plane (being written)."""

from __future__ import annotations

from aiohttp import web

PREFIX = "/data/"


def add_routes(app: web.Application) -> None:
    return None
