"""The demo's own KPIs (`demo.definitions`) created and assigned (targets, weights, teams),
and the values entered by hand: the saas pack's finance figures, every month that ended."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
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
from kpi_service.demo.people import TEAM_SIZE, DemoSize, Window, team_of
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.measurements import service as measurements
from kpi_service.measurements.schemas import ManualValue
from kpi_service.packs.schemas import AssignmentMade

ASSIGN_CHUNK = 1000
CENTS = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Plan:
    """How a definition is assigned: its target and weight."""

    target: Decimal
    weight: Decimal


# Every agent's: weight 0, so the agents rank with the packs' (seed 003's) weights.
AGENT_PLANS = {
    "calls_made": Plan(Decimal(30), Decimal(0)),
    "call_duration_p90": Plan(Decimal(15), Decimal(0)),
    "conversions": Plan(Decimal(8), Decimal(0)),
}
PILOT_PLAN = Plan(Decimal(400), Decimal(100))  # revenue_daily, for team sales-1
TEAM_PLAN = Plan(Decimal(8000 * TEAM_SIZE), Decimal(100))  # team_revenue, for every team


def assignments_for(
    size: DemoSize, window: Window, definition_ids: dict[str, int]
) -> list[AssignmentCreate]:
    """The assignments of the definitions in `definition_ids` (those created now)."""
    bodies: list[AssignmentCreate] = []

    def add(key: str, kind: SubjectType, subject: str, team: str, plan: Plan, start: date) -> None:
        if key in definition_ids:
            bodies.append(
                AssignmentCreate(
                    definition_id=definition_ids[key],
                    subject_type=kind,
                    subject_id=subject,
                    team_id=team,
                    target_value=plan.target,
                    weight=plan.weight,
                    start_date=start,
                )
            )

    for index, agent in enumerate(size.agent_ids):
        team = team_of(index)
        for key, plan in AGENT_PLANS.items():
            start = window.first_monday if key == "calls_made" else window.events_start
            add(key, SubjectType.USER, agent, team, plan, start)
        if index < TEAM_SIZE:
            add("revenue_daily", SubjectType.USER, agent, team, PILOT_PLAN, window.leads_start)
    for team in size.teams:
        add("team_revenue", SubjectType.TEAM, team, team, TEAM_PLAN, window.events_start)
    return bodies


async def ensure_catalog(
    session: AsyncSession,
    admin: Principal,
    settings: Settings,
    source: Sources,
    size: DemoSize,
    window: Window,
) -> list[AssignmentRead]:
    """Create the demo's definitions missing by key and assign those; the new assignments."""
    created: dict[str, int] = {}
    for fields in DEFINITIONS:
        try:
            await definitions.get_by_key(session, admin, fields["key"])
        except NotFound:
            d = await definitions.create(
                session, admin, DefinitionCreate(**fields), sources=source, settings=settings
            )
            created[d.key] = d.id
    bodies = assignments_for(size, window, created)
    made: list[AssignmentRead] = []
    for first in range(0, len(bodies), ASSIGN_CHUNK):
        made += await assignments.create_many(
            session, admin, bodies[first : first + ASSIGN_CHUNK], settings=settings
        )
    return made


def finance(months: Sequence[date]) -> dict[str, dict[date, Decimal]]:
    """The saas pack's finance figures per month, by key: a burn that eases as revenue grows,
    the runway the cash left gives at that burn, and the invoices still unpaid."""
    rng = random.Random("demo-finance")
    cash, burn = Decimal(2_400_000), Decimal(120_000)
    figures: dict[str, dict[date, Decimal]] = {
        key: {}
        for key in (
            "saas_burn_rate",
            "saas_runway_months",
            "saas_outstanding_invoices",
            "saas_outstanding_invoices_value",
        )
    }
    for month in months:
        burn = (burn * Decimal(str(rng.uniform(0.9, 1.04)))).quantize(CENTS)
        cash -= burn
        invoices = rng.randint(8, 30)
        figures["saas_burn_rate"][month] = burn
        figures["saas_runway_months"][month] = (cash / burn).quantize(Decimal("0.1"))
        figures["saas_outstanding_invoices"][month] = Decimal(invoices)
        figures["saas_outstanding_invoices_value"][month] = (
            invoices * Decimal(str(rng.uniform(800, 2500)))
        ).quantize(CENTS)
    return figures


async def record_manual_values(
    session: AsyncSession,
    settings: Settings,
    admin: Principal,
    created: Sequence[AssignmentMade],
    window: Window,
) -> None:
    """Enter the finance figures of every month of the events window that ended by its last
    day, for the manual assignments created now."""
    figures = finance(ended_months(window.events_start, window.last_day))
    for made in created:
        for month, value in figures.get(made.definition_key, {}).items():
            await measurements.record_manual(
                session, settings, admin, made.assignment_id, month, ManualValue(value=value)
            )


def ended_months(first: date, last_day: date) -> list[date]:
    """The starts of the months from the one holding `first` that end by `last_day`."""
    out = []
    month = containing(PeriodKind.MONTHLY, first)
    while month.end <= last_day:
        out.append(month.start)
        month = month.next()
    return out
