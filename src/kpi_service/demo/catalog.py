"""The demo's KPI definitions, who they are assigned to (targets, weights, teams), and the
values entered by hand: the support team's satisfaction and the organisation's MRR."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments import service as assignments
from kpi_service.assignments.schemas import AssignmentCreate, AssignmentRead
from kpi_service.core.auth import Principal
from kpi_service.core.errors import NotFound
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions import service as definitions
from kpi_service.definitions.schemas import DefinitionCreate
from kpi_service.demo.people import (
    SUPPORT_TEAM,
    SUPPORT_USERS,
    TEAM_SIZE,
    DemoSize,
    Window,
    team_of,
)
from kpi_service.engine.periods import PeriodKind, containing
from kpi_service.measurements import service as measurements
from kpi_service.measurements.schemas import ManualValue
from kpi_service.models import SubjectType

ASSIGN_CHUNK = 1000

# The admin-written SQL of the query KPIs (DESIGN.md 5): a period's slice of a source table,
# for all agents at once. Counts list every agent (unnest) so an agent without rows gets 0.
_PERIOD = (
    "{column} >= CAST(:period_start AS timestamptz) AND {column} < CAST(:period_end AS timestamptz)"
)
_AGENTS = "assigned_agent_id = ANY(CAST(:subject_ids AS text[]))"


def _leads_avg(expression: str, column: str) -> str:
    return (
        f"SELECT assigned_agent_id AS subject_id, avg({expression}) AS value "  # noqa: S608
        f"FROM leads WHERE {_AGENTS} AND {_PERIOD.format(column=column)} "
        f"AND {expression} IS NOT NULL GROUP BY assigned_agent_id"
    )


def _per_agent(aggregate: str, table: str, owner: str, condition: str) -> str:
    return (
        f"SELECT s.agent AS subject_id, {aggregate} AS value "  # noqa: S608
        "FROM unnest(CAST(:subject_ids AS text[])) AS s(agent) "
        f"LEFT JOIN {table} AS t ON t.{owner} = s.agent AND {condition} GROUP BY s.agent"
    )


LEADS_HANDLED_SQL = _per_agent(
    "count(t.id)", "leads", "assigned_agent_id", _PERIOD.format(column="t.created_at")
)
CONVERSION_RATE_SQL = (
    "SELECT assigned_agent_id AS subject_id, "  # noqa: S608
    "100.0 * count(*) FILTER (WHERE disposition = 'converted') / count(*) AS value "
    f"FROM leads WHERE {_AGENTS} AND {_PERIOD.format(column='created_at')} "
    "GROUP BY assigned_agent_id"
)
RESPONSE_TIME_SQL = _leads_avg("response_time_hours", "contacted_at")
SATISFACTION_SQL = _leads_avg("satisfaction_rating", "contacted_at")
REVENUE_DAILY_SQL = _per_agent(
    "COALESCE(sum(t.revenue), 0)",
    "leads",
    "assigned_agent_id",
    _PERIOD.format(column="t.converted_at"),
)
# The contacts created in the period whose stage is at or beyond each funnel step (a lost
# contact had been contacted: crm.STAGE_RANK).
FUNNEL_STEPS = (
    (
        "funnel_assigned",
        "Funnel 1: contacts assigned",
        ("needs_outreach", "contacted", "interested", "closed_won", "closed_lost"),
    ),
    (
        "funnel_contacted",
        "Funnel 2: contacts reached",
        ("contacted", "interested", "closed_won", "closed_lost"),
    ),
    ("funnel_interested", "Funnel 3: contacts interested", ("interested", "closed_won")),
    ("funnel_won", "Funnel 4: contacts won", ("closed_won",)),
)


def funnel_sql(stages: Sequence[str]) -> str:
    """Contacts created in the period, per owner, whose stage is one of `stages`."""
    listed = ", ".join(f"'{stage}'" for stage in stages)
    return _per_agent(
        "count(t.id)",
        "contacts",
        "owner_id",
        f"{_PERIOD.format(column='t.created_at')} AND t.funnel_stage IN ({listed})",
    )


def _definition(
    key: str,
    name: str,
    unit: str,
    target_type: str,
    period: str,
    calculation_type: str,
    config: dict[str, Any],
    *,
    category: str = "sales",
    scope: str = "user",
    rollup: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "description": description,
        "category": category,
        "unit": unit,
        "target_type": target_type,
        "aggregation_period": period,
        "scope": scope,
        "calculation_type": calculation_type,
        "config": config,
        "rollup": rollup,
    }


def _event(event_type: str, aggregate: str) -> dict[str, Any]:
    return {"event_type": event_type, "aggregate": aggregate}


SUPPORT = [
    _definition(
        "avg_resolution_time",
        "Average Resolution Time",
        "hours",
        "lower_better",
        "weekly",
        "query",
        {"query_key": "avg_resolution_time"},
        category="customer_support",
        description="Average time taken to resolve customer support cases",
    ),
    _definition(
        "cases_resolved",
        "Cases Resolved",
        "count",
        "higher_better",
        "weekly",
        "query",
        {"query_key": "cases_resolved_count"},
        category="customer_support",
        description="Number of customer support cases successfully resolved",
    ),
    _definition(
        "customer_satisfaction",
        "Customer Satisfaction",
        "percent",
        "higher_better",
        "monthly",
        "manual",
        {},
        category="customer_support",
        description="Share of satisfied customers in the monthly survey (entered by managers)",
    ),
]

SALES = [
    _definition(
        "leads_handled",
        "Leads Handled",
        "count",
        "higher_better",
        "monthly",
        "query",
        {"sql": LEADS_HANDLED_SQL},
        description="Leads assigned in the period",
    ),
    _definition(
        "conversion_rate",
        "Conversion Rate",
        "percent",
        "higher_better",
        "monthly",
        "query",
        {"sql": CONVERSION_RATE_SQL},
        description="Share of the period's new leads that converted",
    ),
    _definition(
        "response_time_hours",
        "Response Time",
        "hours",
        "lower_better",
        "monthly",
        "query",
        {"sql": RESPONSE_TIME_SQL},
        description="Average hours from a lead's arrival to first contact",
    ),
    _definition(
        "satisfaction_score",
        "Satisfaction Score",
        "none",
        "higher_better",
        "monthly",
        "query",
        {"sql": SATISFACTION_SQL},
        rollup="avg",
        description="Average rating (1 to 5) of the leads contacted in the period",
    ),
    *(
        _definition(
            key,
            name,
            "count",
            "higher_better",
            "monthly",
            "query",
            {"sql": funnel_sql(stages)},
            category="funnel",
        )
        for key, name, stages in FUNNEL_STEPS
    ),
    _definition(
        "calls_made",
        "Calls Made",
        "count",
        "higher_better",
        "weekly",
        "event",
        _event("call", "count"),
    ),
    _definition(
        "emails_sent",
        "E-mails Sent",
        "count",
        "higher_better",
        "weekly",
        "event",
        _event("email", "count"),
    ),
    _definition(
        "call_duration_p90",
        "Call Duration (90th percentile)",
        "minutes",
        "lower_better",
        "monthly",
        "event",
        _event("call", "p90"),
        rollup="max",
    ),
    _definition(
        "revenue",
        "Revenue",
        "currency",
        "higher_better",
        "monthly",
        "event",
        _event("conversion", "sum"),
    ),
    _definition(
        "conversions",
        "Conversions",
        "count",
        "higher_better",
        "monthly",
        "event",
        _event("conversion", "count"),
    ),
    _definition(
        "revenue_daily",
        "Daily Revenue",
        "currency",
        "higher_better",
        "daily",
        "query",
        {"sql": REVENUE_DAILY_SQL},
        description="Revenue of the leads converted that day (the pilot team)",
    ),
    _definition(
        "team_revenue",
        "Team Revenue",
        "currency",
        "higher_better",
        "monthly",
        "event",
        _event("conversion", "sum"),
        scope="team",
    ),
]

ORGANIZATION = [
    _definition(
        "dau",
        "Daily Active Users",
        "count",
        "higher_better",
        "daily",
        "event",
        _event("login", "distinct_users"),
        category="executive",
        scope="organization",
    ),
    _definition(
        "wau",
        "Weekly Active Users",
        "count",
        "higher_better",
        "weekly",
        "event",
        _event("login", "distinct_users"),
        category="executive",
        scope="organization",
    ),
    _definition(
        "mau",
        "Monthly Active Users",
        "count",
        "higher_better",
        "monthly",
        "event",
        _event("login", "distinct_users"),
        category="executive",
        scope="organization",
    ),
    _definition(
        "new_signups",
        "New Signups",
        "count",
        "higher_better",
        "monthly",
        "event",
        _event("signup", "count"),
        category="executive",
        scope="organization",
    ),
    _definition(
        "mrr",
        "Monthly Recurring Revenue",
        "currency",
        "higher_better",
        "monthly",
        "manual",
        {},
        category="executive",
        scope="organization",
        rollup="last",
    ),
    _definition(
        "arr",
        "Annual Recurring Revenue",
        "currency",
        "higher_better",
        "monthly",
        "formula",
        {"expression": "mrr * 12", "variables": {"mrr": "mrr"}},
        category="executive",
        scope="organization",
        rollup="last",
    ),
]

DEFINITIONS = [*SUPPORT, *SALES, *ORGANIZATION]


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
