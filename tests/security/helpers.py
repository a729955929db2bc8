"""Helpers the security tests share."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

from kpi_service.app import create_app
from tests.conftest import make_settings


def app_routes(prefix: str = "/") -> set[tuple[str, str]]:
    """(method, path) of every route the app serves under `prefix`, included routers too."""
    app = create_app(make_settings("postgresql://unused/unused"))
    found = {(method, context.path) for context in iter_route_contexts(app.routes)
             if isinstance(context.original_route, APIRoute) and context.path is not None
             and context.path.startswith(prefix) for method in context.methods or ()}
    assert len(found) >= 10, "the walk sees the routes of included routers"
    return found
