"""The demo data set: the five packs installed (support, agent, crm, saas, revenue) with a
support team on the seed's cases, sales teams on leads, contacts and events, a product's
events and subscription ledger for the organisation's KPIs, the demo's own KPIs, and their
computed history.

Idempotent: the day the demo ends on (yesterday at the first load) and its size are kept in
`public.kpi_demo_state`; source rows and events are generated once from fixed seeds; the packs
are installed again (a no-op for the same version) and the demo's definitions created when
missing (with their assignments and manual values); goals are set (a PUT: the same values
again); alert rules are created when missing by name; the history is recalculated at every
load, which changes nothing when nothing changed.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.core.auth import Principal, Role
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.demo import alerts, catalog, events, goals, history, packs, sources
from kpi_service.demo.people import DemoSize, Window
from kpi_service.measurements import service as measurements
from kpi_service.models import CalculationRun
from kpi_service.runs import execution
from kpi_service.runs.hooks import HOOKS

log = logging.getLogger(__name__)

_CREATE_STATE = """
CREATE TABLE IF NOT EXISTS public.kpi_demo_state (
    id smallint PRIMARY KEY CHECK (id = 1),
    last_day date NOT NULL,
    agents integer NOT NULL,
    months integer NOT NULL,
    events_loaded boolean NOT NULL DEFAULT false
)"""


class DemoMismatch(RuntimeError):
    """The database holds a demo of another size; it is kept as it is."""


async def _window(engine: AsyncEngine, settings: Settings, size: DemoSize) -> tuple[Window, bool]:
    """The demo's window (fixed at the first load) and whether its events are stored."""
    yesterday = settings.today() - timedelta(days=1)
    async with engine.begin() as conn:
        await conn.execute(text(_CREATE_STATE))
        await conn.execute(
            text(
                "INSERT INTO public.kpi_demo_state (id, last_day, agents, months) "
                "VALUES (1, :day, :agents, :months) ON CONFLICT (id) DO NOTHING"
            ),
            {"day": yesterday, "agents": size.agents, "months": size.months},
        )
        row = (
            await conn.execute(
                text("SELECT last_day, agents, months, events_loaded FROM public.kpi_demo_state")
            )
        ).one()
    if (row.agents, row.months) != (size.agents, size.months):
        raise DemoMismatch(
            f"this database holds the demo for {row.agents} agents over {row.months} months; "
            f"{size.agents} agents over {size.months} months need a fresh database"
        )
    return Window(row.last_day, row.months, settings.tz), bool(row.events_loaded)


async def _mark_events_loaded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE public.kpi_demo_state SET events_loaded = true"))


async def load_demo(settings: Settings, size: DemoSize | None = None) -> list[CalculationRun]:
    """Load (or refresh) the demo data set into the configured database; returns the runs
    that computed its history (`demo.history`)."""
    size = size or DemoSize()
    assert settings.database_url is not None
    db = Database.connect(settings.database_url.get_secret_value(), settings)
    admin = Principal(settings.default_tenant, "demo-loader", Role.ADMIN)
    started = time.perf_counter()
    try:
        window, events_loaded = await _window(db.engine, settings, size)
        if settings.source_database_url is None:  # the default source is our own database
            await sources.ensure_sources(db.engine, size, window)
        else:
            log.info("demo: the source database is external; its tables are left alone")
        if not events_loaded:
            stored = await events.ingest_all(db, admin, size, window)
            await _mark_events_loaded(db.engine)
            log.info("demo: %s events stored", stored)
        async with db.unit_of_work() as session:
            installed = await packs.install_packs(
                session, admin, settings, db.sources, size, window
            )
            await catalog.ensure_catalog(session, admin, settings, db.sources, size, window)
            await catalog.record_manual_values(session, settings, admin, installed, window)
            await goals.ensure_goals(session, settings, admin, size, window)
            await alerts.ensure_rules(session, admin)
        runs = await _compute(db, settings, admin, window)
        log.info(
            "demo: %s runs: %s computed, %s unchanged, %s failed (%.1fs in all)",
            len(runs),
            sum(run.computed for run in runs),
            sum(run.unchanged for run in runs),
            sum(run.failed for run in runs),
            time.perf_counter() - started,
        )
        return runs
    finally:
        await db.dispose()


async def _compute(
    db: Database, settings: Settings, admin: Principal, window: Window
) -> list[CalculationRun]:
    """Run the history's recalculations one after the other (each followed by the alert
    rules and goals); the runs."""
    runs: list[CalculationRun] = []
    for body in history.requests(window):
        async with db.unit_of_work() as session:
            queued = await measurements.recalculate(session, admin, body)
        run = await execution.execute(
            db, settings, admin.tenant_id, queued.id, execution.worker_name(), hooks=HOOKS
        )
        if run is not None:
            log.info(
                "demo: run %s (%s from %s, %s KPIs) %s: %s computed, %s unchanged, %s failed",
                run.id,
                body.period_kind,
                body.period_start,
                len(body.definition_keys or ()),
                run.status,
                run.computed,
                run.unchanged,
                run.failed,
            )
            runs.append(run)
    return runs
