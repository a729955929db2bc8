"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kpi_service.alerts.router import router as alerts_router
from kpi_service.assignments.router import router as assignments_router
from kpi_service.audit.router import router as audit_router
from kpi_service.core import openapi, telemetry
from kpi_service.core.body_limit import BodyLimit
from kpi_service.core.context import RequestContextMiddleware
from kpi_service.core.database import Database
from kpi_service.core.errors import install_error_handlers, problem_response
from kpi_service.core.migrations import current_revision, head_revision
from kpi_service.core.problems import LEGACY_RESPONSES, PROBLEM_RESPONSES, document_problems
from kpi_service.core.settings import Environment, Settings, get_settings
from kpi_service.definitions.router import router as definitions_router
from kpi_service.events.router import router as events_router
from kpi_service.goals.router import router as goals_router
from kpi_service.legacy.router import router as legacy_router
from kpi_service.measurements.router import router as measurements_router
from kpi_service.metrics.router import router as metrics_router
from kpi_service.packs.router import router as packs_router
from kpi_service.runs.background import BackgroundRuns
from kpi_service.runs.hooks import HOOKS
from kpi_service.scheduler.service import Scheduler

log = logging.getLogger(__name__)

API_PREFIX = "/api/kpis"


class Readiness(TypedDict):
    """The answer of a ready service (published as free JSON, not as a model)."""

    status: str
    revision: str
    sources: dict[str, str | None]


def _connect(settings: Settings) -> Database:
    if settings.database_url is None:
        raise RuntimeError("KPI_DATABASE_URL is not set (use `kpi-service serve`)")
    return Database.connect(settings.database_url.get_secret_value(), settings)


async def _check_sources(db: Database, settings: Settings) -> None:
    """Create the service-kept source role and check every source's role; in production a
    source whose role could reach the service's data stops the start."""
    unsafe = {
        name: state.problem for name, state in (await db.sources.check()).items() if state.unsafe
    }
    if unsafe and settings.env is Environment.PRODUCTION:
        await db.dispose()
        raise RuntimeError(
            "source roles are not safe for tenant SQL: "
            + "; ".join(f"{name}: {problem}" for name, problem in unsafe.items())
            + " (docs/security.md)"
        )


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app; it connects on start-up unless a database is handed in."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = getattr(app.state, "db", None) is None
        if owned:
            app.state.db = _connect(settings)
        await _check_sources(app.state.db, settings)
        # What exists at start-up (modules, the app, the routes) lives as long as the process:
        # out of the collector's sight, a full collection walks requests' objects only.
        gc.freeze()
        scheduler = Scheduler(lambda: app.state.db, settings, app.state.runs)
        if settings.scheduler_enabled:
            scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown()
            await app.state.runs.shutdown()
            if owned:
                await app.state.db.dispose()
                app.state.db = None

    app = FastAPI(
        title="KPI service",
        version="0.1.0",
        summary="Define KPIs, assign them with targets and weights, compute and read them.",
        root_path=settings.root_path,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.runs = BackgroundRuns(lambda: app.state.db, settings, HOOKS)
    # Innermost of ours: ahead of routing, authentication and body parsing, yet timed, logged
    # and given its request id like any answer.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    telemetry.install(app, settings)  # before the request context, which must wrap it
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    openapi.install(app)
    document_problems(app)

    for router in (
        definitions_router,
        assignments_router,
        measurements_router,
        goals_router,
        events_router,
        metrics_router,
        alerts_router,
        packs_router,
        audit_router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    if settings.legacy_routes:
        app.include_router(legacy_router, responses=LEGACY_RESPONSES)

    @app.get("/healthz", tags=["operations"], operation_id="getHealth")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="getReadiness",
        response_model=Any,
        responses={503: {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> Readiness | JSONResponse:
        """The database answers, its schema is at the newest migration, and no source's role
        could reach the service's data."""
        db: Database = app.state.db
        try:
            current = await current_revision(db.engine)  # a round trip: it answers, or not
        except Exception as exc:  # any failure to reach the database means "not ready"
            # Probes come every few seconds during an outage: one line each, no traceback.
            log.warning("readiness check failed: %s", type(exc).__name__)
            current = None
        head = head_revision()
        if current is None or current != head:
            return problem_response(
                request,
                503,
                "not-ready",
                "Not ready",
                f"database revision {current}, expected {head}",
                headers={"Retry-After": "5"},
            )
        states = await db.sources.check()
        unsafe = [f"source {name}: {s.problem}" for name, s in states.items() if s.unsafe]
        if unsafe:
            return problem_response(
                request,
                503,
                "not-ready",
                "Not ready",
                "; ".join(unsafe),
                headers={"Retry-After": "30"},
            )
        return {
            "status": "ready",
            "revision": current,
            "sources": {name: "ok" if s.usable else s.problem for name, s in states.items()},
        }

    return app
