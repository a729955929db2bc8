"""Prometheus metrics: the process's work counters, and each app's registry, HTTP timing,
access log line and `/metrics` route.

The work counters (runs, calculations, events, webhooks) are recorded where the work is
done, whichever process runs it (API, scheduler, CLI), so they live once per process and
are registered into every app's own registry; HTTP timing and pool gauges belong to one
app. No app touches the library's global registry, so tests can build many apps.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi_service.core.asgi import HttpMiddleware
from kpi_service.core.errors import problem_response
from kpi_service.core.settings import Settings

if TYPE_CHECKING:
    from kpi_service.core.database import Database

access_log = logging.getLogger("kpi_service.access")

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A `_created` series per counter and histogram doubles the exposition for no alerting use.
disable_created_metrics()  # type: ignore[no-untyped-call]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RUNS_FINISHED = Counter(
    "kpi_runs_finished",
    "Calculation runs that reached a final status, by status and trigger.",
    ["status", "trigger"],
    registry=None,
)
CALCULATION_SECONDS = Histogram(
    "kpi_calculation_duration_seconds",
    "Time a calculator took for one (KPI, period), all its subjects at once.",
    ["calculator", "outcome"],
    buckets=_SECONDS,
    registry=None,
)
CALCULATION_ROWS = Counter(
    "kpi_calculation_rows",
    "Subject values (rows) calculators produced.",
    ["calculator"],
    registry=None,
)
EVENTS_INGESTED = Counter(
    "kpi_events_ingested", "Events sent for ingestion, by outcome.", ["outcome"], registry=None
)
WEBHOOK_ATTEMPTS = Counter(
    "kpi_webhook_attempts", "Alert webhook POSTs, by outcome.", ["outcome"], registry=None
)
WEBHOOK_DELIVERIES = Counter(
    "kpi_webhook_deliveries",
    "Alert webhook deliveries that reached a final state, by outcome.",
    ["outcome"],
    registry=None,
)
_WORK: tuple[Collector, ...] = (
    RUNS_FINISHED,
    CALCULATION_SECONDS,
    CALCULATION_ROWS,
    EVENTS_INGESTED,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
)

# Known label values are exported at 0 from the start: a rate over a missing series is empty.
for _outcome in ("accepted", "duplicate", "rejected"):
    EVENTS_INGESTED.labels(outcome=_outcome)
for _outcome in ("delivered", "retry", "failed"):
    WEBHOOK_ATTEMPTS.labels(outcome=_outcome)
for _outcome in ("delivered", "failed"):
    WEBHOOK_DELIVERIES.labels(outcome=_outcome)


def run_finished(status: str, trigger: str) -> None:
    """A run reached its final status (succeeded, partial, failed)."""
    RUNS_FINISHED.labels(status=status, trigger=trigger).inc()


def calculated(calculator: str, seconds: float, rows: int, *, failed: bool = False) -> None:
    """A calculator answered for one (KPI, period): how long, and how many subject values."""
    CALCULATION_SECONDS.labels(calculator=calculator, outcome="failed" if failed else "ok").observe(
        seconds
    )
    CALCULATION_ROWS.labels(calculator=calculator).inc(rows)


def events_ingested(accepted: int, duplicates: int, rejected: int) -> None:
    """One batch of events: stored, already stored (same id), refused."""
    EVENTS_INGESTED.labels(outcome="accepted").inc(accepted)
    EVENTS_INGESTED.labels(outcome="duplicate").inc(duplicates)
    EVENTS_INGESTED.labels(outcome="rejected").inc(rejected)


def webhook_attempted(delivered: bool, retry: bool) -> None:
    """One webhook POST; when it ends its delivery (delivered or given up), that too."""
    outcome = "delivered" if delivered else "retry" if retry else "failed"
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()
    if outcome != "retry":
        WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()


class PoolCollector(Collector):
    """Connection pool gauges, read when scraped."""

    def __init__(self, database: Callable[[], Database | None]) -> None:
        self._database = database

    def collect(self) -> Iterable[Metric]:
        size = GaugeMetricFamily(
            "kpi_db_pool_size", "Connections the pool keeps open.", labels=["database"]
        )
        overflow = GaugeMetricFamily(
            "kpi_db_pool_max_overflow",
            "Connections the pool may open beyond its size.",
            labels=["database"],
        )
        used = GaugeMetricFamily(
            "kpi_db_pool_checked_out", "Connections in use.", labels=["database"]
        )
        idle = GaugeMetricFamily(
            "kpi_db_pool_idle", "Open connections waiting in the pool.", labels=["database"]
        )
        for name, pool in self._pools():
            size.add_metric([name], pool.size())
            overflow.add_metric([name], getattr(pool, "_max_overflow", 0))
            used.add_metric([name], pool.checkedout())
            idle.add_metric([name], pool.checkedin())
        return [size, overflow, used, idle]

    def _pools(self) -> Iterator[tuple[str, Any]]:
        database = self._database()
        if database is None:  # before start-up or after shutdown
            return
        yield "service", database.engine.sync_engine.pool
        yield from database.sources.pools()


class Telemetry:
    """One app's registry: the process's work counters, its HTTP timing and pool gauges."""

    def __init__(self, database: Callable[[], Database | None]) -> None:
        self.registry = CollectorRegistry()
        for collector in (
            *_WORK,
            PROCESS_COLLECTOR,
            PLATFORM_COLLECTOR,
            GC_COLLECTOR,
            PoolCollector(database),
        ):
            self.registry.register(collector)
        self.requests = Histogram(
            "kpi_http_request_duration_seconds",
            "HTTP requests by method, route template and status, until the response is sent.",
            ["method", "route", "status"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self._templates: dict[int, str] | None = None

    def route_of(self, scope: Scope) -> str:
        """The template of the route that answered (bounded), never the raw path."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        if self._templates is None:
            self._templates = _templates(scope["app"])
        template = self._templates.get(id(route)) or getattr(route, "path_format", None)
        return template if isinstance(template, str) else UNMATCHED


def _templates(app: FastAPI) -> dict[int, str]:
    """Each route object's full path template, prefixes of included routers too."""
    return {
        id(context.original_route): context.path_format
        for context in iter_route_contexts(app.routes)
        if context.path_format is not None
    }


class TelemetryMiddleware(HttpMiddleware):
    """Time each request under its route template and write its access log line."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        super().__init__(app)
        self.telemetry = telemetry

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets when an error escapes before any response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = self.telemetry.route_of(scope)
            self.telemetry.requests.labels(method=method, route=route, status=str(status)).observe(
                seconds
            )
            duration_ms = round(seconds * 1000, 3)
            access_log.info(
                "%s %s %s %.1f ms",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )


def install(app: FastAPI, settings: Settings) -> None:
    """Give the app its registry, its timing middleware and `GET /metrics`.

    Call it before the request-context middleware is added, so that one runs outside this
    one and the access log line carries the request id.
    """
    telemetry = Telemetry(lambda: getattr(app.state, "db", None))
    app.state.telemetry = telemetry
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    # Out of the OpenAPI document: it is for scrapers, not API clients.
    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """The Prometheus exposition of this process."""
        if token is not None and not _bearer_matches(request, token):
            return problem_response(
                request,
                401,
                "unauthenticated",
                "Authentication required",
                "The metrics need the bearer token of KPI_METRICS_TOKEN.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(telemetry.registry), media_type=content_type)


def _bearer_matches(request: Request, token: bytes) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token)
