"""The routes the app serves, walked from its router (included routers and plain routes)."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

from kpi_service.app import create_app
from tests.support.app import make_settings


def served_routes() -> set[tuple[str, str]]:
    """(method, path) of everything the app answers, included routers and plain routes (the
    docs) too; HEAD is left out where GET is served, being GET without the body."""
    app = create_app(make_settings("postgresql://unused/unused"))
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        methods = set(context.methods or ())
        assert context.path is not None and methods, f"a route without methods: {context}"
        if "GET" in methods:
            methods.discard("HEAD")
        found |= {(method, context.path) for method in methods}
    assert len(found) >= 10, "the walk sees the routes of included routers"
    return found


def app_routes(prefix: str = "/") -> set[tuple[str, str]]:
    """(method, path) of every API route the app serves under `prefix`, included routers too."""
    app = create_app(make_settings("postgresql://unused/unused"))
    found = {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.path is not None
        and context.path.startswith(prefix)
        for method in context.methods or ()
    }
    assert len(found) >= 10, "the walk sees the routes of included routers"
    return found
