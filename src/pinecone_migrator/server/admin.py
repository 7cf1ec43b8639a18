"""The admin endpoint: lets a test change faults and limits while the server runs (placeholder)."""

from __future__ import annotations

from aiohttp import web

PREFIX = "/_admin"


def add_routes(app: web.Application) -> None:
    return None
