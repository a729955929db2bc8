"""The demo's catalog in the database: its KPI definitions created, assigned (targets,
weights, teams), and the values entered by hand: the support team's satisfaction and the
organisation's MRR."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments import service as assignments
from kpi_service.assignments.schemas import AssignmentCreate, AssignmentRead
from kpi_service.core.auth import Principal
from kpi_service.core.errors import NotFound
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions import service as definitions
from kpi_service.definitions.schemas import DefinitionCreate
from kpi_service.demo.definitions import DEFINITIONS
from kpi_service.demo.people import (
    SUPPORT_TEAM,
    SUPPORT_USERS,
    TEAM_SIZE,
    DemoSize,
    Window,
    team_of,
)
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.measurements import service as measurements
from kpi_service.measurements.schemas import ManualValue
from kpi_service.models import SubjectType

ASSIGN_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Plan:
    """How a definition is assigned: (target, weight), and to whom (see `assignments_for`)."""

    target: Decimal
    weight: Decimal


# Monthly weights add up to 100; funnel steps feed the funnel view, not the score.
AGENT_PLANS = {
    "leads_handled": Plan(Decimal(30), Decimal(10)),
    "conversion_rate": Plan(Decimal(30), Decimal(20)),
    "response_time_hours": Plan(Decimal(2), Decimal(15)),
    "satisfaction_score": Plan(Decimal("4.2"), Decimal(15)),
    "funnel_assigned": Plan(Decimal(17), Decimal(0)),
    "funnel_contacted": Plan(Decimal(14), Decimal(0)),
    "funnel_interested": Plan(Decimal(7), Decimal(0)),
    "funnel_won": Plan(Decimal(3), Decimal(0)),
    "call_duration_p90": Plan(Decimal(15), Decimal(5)),
    "revenue": Plan(Decimal(8000), Decimal(25)),
    "conversions": Plan(Decimal(8), Decimal(10)),
    "calls_made": Plan(Decimal(30), Decimal(60)),
    "emails_sent": Plan(Decimal(17), Decimal(40)),
}
SUPPORT_PLANS = {
    "avg_resolution_time": Plan(Decimal(24), Decimal(40)),
    "cases_resolved": Plan(Decimal(8), Decimal(40)),
    "customer_satisfaction": Plan(Decimal(90), Decimal(20)),
}
PILOT_PLAN = Plan(Decimal(400), Decimal(100))  # revenue_daily, for team sales-1


def organization_plans(size: DemoSize) -> dict[str, Plan]:
    """Organisation targets grow with the demo's size."""
    agents, customers = size.agents, size.customers
    weight = Decimal(100)
    return {
        "dau": Plan(Decimal(agents + customers // 20), weight),
        "wau": Plan(Decimal(agents + customers // 5), weight),
        "mau": Plan(Decimal(agents + customers // 3), weight),
        "new_signups": Plan(Decimal(customers // size.months), weight),
        "mrr": Plan(mrr_base(size) * Decimal("1.2"), weight),
        "arr": Plan(mrr_base(size) * Decimal("14.4"), weight),
    }


def mrr_base(size: DemoSize) -> Decimal:
    """The MRR of the first month: 50,000 for the default team of 12 agents."""
    return Decimal(50_000 * max(1, size.agents // TEAM_SIZE))


def first_monday(day: date) -> date:
    """The first Monday on or after `day` (weekly KPIs start on a whole week)."""
    return day + timedelta(days=-day.weekday() % 7)


def assignments_for(
    size: DemoSize, window: Window, support_start: date, definition_ids: dict[str, int], tenant: str
) -> list[AssignmentCreate]:
    """The assignments of the definitions in `definition_ids` (those created now)."""
    bodies: list[AssignmentCreate] = []

    def add(
        key: str, subject_type: SubjectType, subject: str, team: str | None, plan: Plan, start: date
    ) -> None:
        if key in definition_ids:
            bodies.append(
                AssignmentCreate(
                    definition_id=definition_ids[key],
                    subject_type=subject_type,
                    subject_id=subject,
                    team_id=team,
                    target_value=plan.target,
                    weight=plan.weight,
                    start_date=start,
                )
            )

    for key, plan in SUPPORT_PLANS.items():
        for user in SUPPORT_USERS:
            add(key, SubjectType.USER, user, SUPPORT_TEAM, plan, support_start)
    weekly = {d["key"] for d in DEFINITIONS if d["aggregation_period"] == PeriodKind.WEEKLY}
    for index, agent in enumerate(size.agent_ids):
        team = team_of(index)
        for key, plan in AGENT_PLANS.items():
            start = first_monday(window.events_start) if key in weekly else window.events_start
            add(key, SubjectType.USER, agent, team, plan, start)
        if index < TEAM_SIZE:
            add("revenue_daily", SubjectType.USER, agent, team, PILOT_PLAN, window.leads_start)
    for team in size.teams:
        add(
            "team_revenue",
            SubjectType.TEAM,
            team,
            team,
            Plan(Decimal(8000 * TEAM_SIZE), Decimal(100)),
            window.events_start,
        )
    for key, plan in organization_plans(size).items():
        start = first_monday(window.events_start) if key in weekly else window.events_start
        add(key, SubjectType.ORGANIZATION, tenant, None, plan, start)
    return bodies


async def ensure_catalog(
    session: AsyncSession,
    admin: Principal,
    settings: Settings,
    source: Sources,
    size: DemoSize,
    window: Window,
    support_start: date,
) -> list[AssignmentRead]:
    """Create the definitions missing by key and assign those; returns the new assignments."""
    created: dict[str, int] = {}
    for fields in DEFINITIONS:
        try:
            await definitions.get_by_key(session, admin, fields["key"])
        except NotFound:
            d = await definitions.create(
                session, admin, DefinitionCreate(**fields), sources=source, settings=settings
            )
            created[d.key] = d.id
    bodies = assignments_for(size, window, support_start, created, admin.tenant_id)
    made: list[AssignmentRead] = []
    for first in range(0, len(bodies), ASSIGN_CHUNK):
        made += await assignments.create_many(
            session, admin, bodies[first : first + ASSIGN_CHUNK], settings=settings
        )
    return made


async def record_manual_values(
    session: AsyncSession,
    settings: Settings,
    admin: Principal,
    created: Sequence[AssignmentRead],
    size: DemoSize,
    window: Window,
    support_start: date,
) -> None:
    """Enter the support team's monthly satisfaction and the organisation's MRR for every
    month that ended by the window's last day, for assignments created now."""
    rng = random.Random(7)
    for a in (a for a in created if a.definition_key == "customer_satisfaction"):
        for month in _months(support_start, window.last_day):
            await measurements.record_manual(
                session,
                settings,
                admin,
                a.id,
                month,
                ManualValue(value=Decimal(rng.randint(70, 99))),
            )
    mrr = mrr_base(size)
    growth = random.Random(11)
    for a in (a for a in created if a.definition_key == "mrr"):
        for month in _months(window.events_start, window.last_day):
            await measurements.record_manual(
                session, settings, admin, a.id, month, ManualValue(value=mrr)
            )
            mrr = (mrr * Decimal(1 + growth.uniform(0.01, 0.07))).quantize(Decimal("0.01"))


def _months(first: date, last_day: date) -> list[date]:
    """The starts of the months from the one holding `first` that end by `last_day`."""
    out = []
    month = containing(PeriodKind.MONTHLY, first)
    while month.end <= last_day:
        out.append(month.start)
        month = month.next()
    return out
