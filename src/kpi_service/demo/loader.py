"""The demo data set: support cases for a small team, the seed's KPIs, and computed weeks.

Idempotent: cases are generated once (deterministically, relative to the day of the first
load); definitions and assignments are created once; the weeks are recalculated every time,
which changes nothing when nothing changed.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kpi_service.assignments import service as assignments
from kpi_service.assignments.schemas import AssignmentCreate, AssignmentRead
from kpi_service.core.auth import Principal, Role
from kpi_service.core.database import Database
from kpi_service.core.errors import NotFound
from kpi_service.core.settings import Settings
from kpi_service.definitions import service as definitions
from kpi_service.definitions.schemas import DefinitionCreate
from kpi_service.engine.periods import PeriodKind, containing
from kpi_service.followups import FOLLOWERS
from kpi_service.measurements import runs
from kpi_service.measurements import service as measurements
from kpi_service.measurements.schemas import ManualValue, RecalculateRequest

log = logging.getLogger(__name__)

USERS = ["1", "2", "3", "4", "5"]
TEAM = "support"
WEEKS = 13

DEFINITIONS: list[dict[str, Any]] = [
    {"key": "avg_resolution_time", "name": "Average Resolution Time",
     "description": "Average time taken to resolve customer support cases",
     "category": "customer_support", "unit": "hours", "target_type": "lower_better",
     "aggregation_period": "weekly", "calculation_type": "query",
     "config": {"query_key": "avg_resolution_time"}},
    {"key": "cases_resolved", "name": "Cases Resolved",
     "description": "Number of customer support cases successfully resolved",
     "category": "customer_support", "unit": "count", "target_type": "higher_better",
     "aggregation_period": "weekly", "calculation_type": "query",
     "config": {"query_key": "cases_resolved_count"}},
    {"key": "customer_satisfaction", "name": "Customer Satisfaction",
     "description": "Share of satisfied customers in the monthly survey (entered by managers)",
     "category": "customer_support", "unit": "percent", "target_type": "higher_better",
     "aggregation_period": "monthly", "calculation_type": "manual", "config": {}},
]
# (target, weight) per definition key
TARGETS = {"avg_resolution_time": (Decimal(24), Decimal(40)),
           "cases_resolved": (Decimal(8), Decimal(40)),
           "customer_satisfaction": (Decimal(90), Decimal(20))}

_CREATE_CASES = """
CREATE TABLE IF NOT EXISTS public.support_cases (
    id serial PRIMARY KEY,
    assigned_to integer,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    resolved_at timestamptz
)
"""


def generate_cases(first_monday: date, weeks: int, tz: Any) -> list[dict[str, Any]]:
    """Deterministic cases: a few per user per week, some resolved late on Sunday night."""
    rng = random.Random(20251001)
    cases: list[dict[str, Any]] = []
    for week in range(weeks):
        monday = first_monday + timedelta(weeks=week)
        for user in USERS:
            for _ in range(rng.randint(3, 11)):
                created = datetime.combine(monday, time(0), tz) + timedelta(
                    minutes=rng.randint(0, 7 * 24 * 60 - 1))
                hours = rng.choice([0.5, 1, 2, 4, 8, 12, 20, 30, 48, 70])
                resolved = created + timedelta(hours=hours)
                status = "open" if rng.random() < 0.1 else "resolved"
                cases.append({"a": int(user), "s": status, "c": created,
                              "r": resolved if status == "resolved" else None})
            # Every week, a case resolved on Sunday a few minutes before midnight.
            sunday_late = datetime.combine(monday + timedelta(days=6), time(23, 50 + week % 9),
                                           tz)
            cases.append({"a": int(user), "s": "resolved",
                          "c": sunday_late - timedelta(hours=rng.choice([1, 3, 6])),
                          "r": sunday_late})
    return cases


async def _ensure_cases(source: AsyncEngine, first_monday: date, settings: Settings) -> None:
    async with source.begin() as conn:
        await conn.execute(text(_CREATE_CASES))
        await conn.execute(text("CREATE INDEX IF NOT EXISTS support_cases_resolved_at "
                                "ON public.support_cases (resolved_at)"))
        count = (await conn.execute(text("SELECT count(*) FROM public.support_cases"))).scalar()
        if count:
            log.info("demo: support_cases already holds %s rows", count)
            return
        rows = generate_cases(first_monday, WEEKS, settings.tz)
        await conn.execute(text(
            "INSERT INTO public.support_cases (assigned_to, status, created_at, resolved_at) "
            "VALUES (:a, :s, :c, :r)"), rows)
        log.info("demo: %s support cases created", len(rows))


async def _ensure_definitions(session: AsyncSession, db: Database, settings: Settings,
                              admin: Principal, start: date) -> list[AssignmentRead]:
    """Create the definitions and assignments unless they exist; returns those created."""
    try:
        await definitions.get_by_key(session, admin, DEFINITIONS[0]["key"])
        return []
    except NotFound:
        pass
    created = {}
    for fields in DEFINITIONS:
        d = await definitions.create(session, admin, DefinitionCreate(**fields),
                                     source_engine=db.source_engine, settings=settings)
        created[d.key] = d.id
    bodies = [
        AssignmentCreate(definition_id=created[key], subject_type="user", subject_id=user,
                         team_id=TEAM, target_value=target, weight=weight, start_date=start)
        for key, (target, weight) in TARGETS.items() for user in USERS
    ]
    return await assignments.create_many(session, admin, bodies, settings=settings)


async def _record_satisfaction(session: AsyncSession, settings: Settings, admin: Principal,
                               created: list[AssignmentRead], start: date,
                               today: date) -> None:
    rng = random.Random(7)
    listed = [a for a in created if a.definition_key == "customer_satisfaction"]
    month = containing(PeriodKind.MONTHLY, start)
    while month.end < today:
        for a in listed:
            value = Decimal(rng.randint(70, 99))
            await measurements.record_manual(session, settings, admin, a.id, month.start,
                                             ManualValue(value=value))
        month = month.next()


async def load_demo(settings: Settings) -> None:
    """Load (or refresh) the demo data set into the configured database."""
    assert settings.database_url is not None
    source = settings.source_database_url
    db = Database.connect(settings.database_url.get_secret_value(), settings,
                          source.get_secret_value() if source else None)
    admin = Principal(settings.default_tenant, "demo-loader", Role.ADMIN)
    today = datetime.now(UTC).astimezone(settings.tz).date()
    this_week = containing(PeriodKind.WEEKLY, today)
    first_monday = this_week.start - timedelta(weeks=WEEKS)
    try:
        if db.source_engine is db.engine:
            await _ensure_cases(db.source_engine, first_monday, settings)
        else:
            log.info("demo: the source database is external; support_cases left alone")
        async with db.unit_of_work() as session:
            created = await _ensure_definitions(session, db, settings, admin, first_monday)
            await _record_satisfaction(session, settings, admin, created, first_monday, today)
        async with db.unit_of_work() as session:
            queued = await measurements.recalculate(
                session, admin,
                RecalculateRequest(period_start=first_monday,
                                   period_end=this_week.start - timedelta(days=1),
                                   definition_keys=["avg_resolution_time", "cases_resolved"]))
        run = await runs.execute(db, settings, queued.tenant_id, queued.id, runs.worker_name(),
                                 followers=FOLLOWERS)
        if run is not None:
            log.info("demo: run %s %s: %s computed, %s unchanged", run.id, run.status,
                     run.computed, run.unchanged)
    finally:
        await db.dispose()
