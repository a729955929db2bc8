"""Packs in tests: the source tables of their contracts (docs/packs.md) filled with rows,
installing through the API, and the stored values by KPI key."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import DEFINITIONS, event, listed, measurements
from tests.support.database import snapshot
from tests.support.expected import q

PACKS = "/api/kpis/packs"
AGENT_VIEW = "/api/kpis/metrics/agent"
ACTIVITIES = "/api/kpis/metrics/activities"
# The closed periods the pack tests compute: the ISO week of 9 November 2026 and its month.
WEEK = (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
WEEK_START, MONTH_START = "2026-11-09", "2026-11-01"
# The months the subscription packs compute: September to November 2026.
MONTHS = [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]

# The contract's columns (docs/packs.md), each table holding only what the packs read.
TABLES = {
    "support_cases": (
        "id serial PRIMARY KEY, assigned_to integer, status text NOT NULL, "
        "created_at timestamptz NOT NULL, resolved_at timestamptz, "
        "first_response_at timestamptz, reopened_count integer NOT NULL DEFAULT 0"
    ),
    "leads": (
        "id serial PRIMARY KEY, assigned_agent_id varchar(50) NOT NULL, "
        "created_at timestamptz NOT NULL, contacted_at timestamptz, converted_at timestamptz, "
        "disposition text NOT NULL, response_time_hours numeric(6, 2), "
        "satisfaction_rating integer, revenue numeric(12, 2)"
    ),
    "contacts": (
        "id serial PRIMARY KEY, owner_id varchar(50) NOT NULL, funnel_stage text NOT NULL, "
        "created_at timestamptz NOT NULL"
    ),
}
COLUMNS = {
    "support_cases": (
        "assigned_to",
        "status",
        "created_at",
        "resolved_at",
        "first_response_at",
        "reopened_count",
    ),
    "leads": (
        "assigned_agent_id",
        "created_at",
        "contacted_at",
        "converted_at",
        "disposition",
        "response_time_hours",
        "satisfaction_rating",
        "revenue",
    ),
    "contacts": ("owner_id", "funnel_stage", "created_at"),
}
# Seed 004's contact stages (`contacts.funnel_stage`), in the funnel's order of docs/packs.md.
CONTACT_STAGES = (
    "needs_outreach",
    "contacted",
    "meeting_set",
    "proposal_sent",
    "negotiation",
    "blocked",
    "closed_won",
    "closed_lost",
)


async def source_table(db: Database, table: str, rows: Iterable[Sequence[Any]]) -> None:
    """The contract's table in the source (= test) database, holding these rows (values in
    the order of `COLUMNS[table]`)."""
    columns = COLUMNS[table]
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS public.{table}"))
        await conn.execute(text(f"CREATE TABLE public.{table} ({TABLES[table]})"))
        given = [dict(zip(columns, row, strict=True)) for row in rows]
        if given:
            names = ", ".join(columns)
            marks = ", ".join(f":{c}" for c in columns)
            await conn.execute(
                text(f"INSERT INTO public.{table} ({names}) VALUES ({marks})"),
                given,
            )


async def install(
    client: AsyncClient,
    name: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Install a pack through the API (200); the report."""
    response = await client.post(f"{PACKS}/{name}/install", json=body or {}, headers=headers)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def assert_installing_again_changes_nothing(
    client: AsyncClient,
    db: Database,
    name: str,
    first: dict[str, Any],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Install an installed pack again: every definition unchanged, no assignment or rule
    created, the first install's start date, and not a row, version or audit entry more in
    the database; the second report."""
    before = await snapshot(db)
    again = await install(client, name, body)
    assert set(outcomes(again).values()) == {"unchanged"}
    assert (again["assignments_created"], again["rules_created"]) == ([], [])
    assert again["start_date"] == first["start_date"]
    assert await snapshot(db) == before
    return again


async def install_agents(
    client: AsyncClient,
    teams: Mapping[str, str],
    start_date: date,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Install the agent pack with its user KPIs assigned to these users (user: team) from
    `start_date`; the report."""
    users = [{"user_id": user, "team_id": team} for user, team in teams.items()]
    return await install(
        client, "agent", {"start_date": start_date.isoformat(), "users": users}, headers
    )


def lead(
    agent: str,
    created: datetime,
    *,
    contacted: datetime | None = None,
    converted: datetime | None = None,
    disposition: str = "new",
    response: str | None = None,
    rating: int | None = None,
    revenue: str | None = None,
) -> tuple[Any, ...]:
    """A row of the `leads` table in the order of `COLUMNS["leads"]` (hours and revenue
    given as decimal text)."""
    return (
        agent,
        created,
        contacted,
        converted,
        disposition,
        None if response is None else Decimal(response),
        rating,
        None if revenue is None else Decimal(revenue),
    )


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    """Each definition key of an install report and what the install did with it."""
    return {d["key"]: d["outcome"] for d in report["definitions"]}


async def stored_by_key(client: AsyncClient) -> dict[tuple[str, str, str], Decimal | None]:
    """Every stored value by (KPI key, subject id, period start)."""
    keys = {d["id"]: d["key"] for d in await listed(client, DEFINITIONS)}
    return {
        (keys[m["definition_id"]], m["subject_id"], m["period_start"]): (
            None if m["actual_value"] is None else Decimal(str(m["actual_value"]))
        )
        for m in await measurements(client)
    }


def hours(start: datetime, end: datetime) -> Decimal:
    """The hours between two instants, exactly."""
    return Decimal(int((end - start).total_seconds())) / 3600


def within(instant: datetime | None, period: tuple[datetime, datetime]) -> bool:
    return instant is not None and period[0] <= instant < period[1]


def mean(values: Sequence[Decimal]) -> Decimal | None:
    """The average, or None (no value) for no values."""
    return sum(values, Decimal(0)) / len(values) if values else None


def percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` in percent, or None (no value) when `whole` is 0."""
    return Decimal(100) * part / whole if whole else None


def stored_as(value: Decimal | None) -> Decimal | None:
    """A value as stored (six decimal places), or None for no value."""
    return None if value is None else q(value)


def first_of_month(instant: datetime) -> date:
    return instant.date().replace(day=1)


_event_ids = itertools.count(1)


def pack_event(
    kind: str, at: datetime, user: str = "system", value: Any = None, **properties: Any
) -> dict[str, Any]:
    """An event of a pack's contract: the system's unless a user is named, its properties as
    keywords, ids in the order the events are made."""
    return event(
        kind, at, user, id=uuid.UUID(int=next(_event_ids)), value=value, properties=properties
    )


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# A subscription ledger (customer, instant, MRR from then on) across the month ends of
# September to November 2026, with a year before for year-over-year growth: every month has
# new, expansion, contraction or churn, and a comeback; every metric has a value in each.
SUBSCRIPTIONS: list[tuple[str, datetime, str]] = [
    ("A", _utc(2025, 10, 5, 9), "100"),  # paying since last year, upgraded in November
    ("A", _utc(2026, 11, 10, 12), "150"),
    ("B", _utc(2025, 6, 1, 8), "200"),  # cancels at October's last second, back in November
    ("B", _utc(2026, 10, 31, 23, 59, 59), "0"),
    ("B", _utc(2026, 11, 20, 16), "180"),
    ("C", _utc(2026, 9, 15, 10), "50"),  # new in September, downgraded as November opens
    ("C", _utc(2026, 11, 1), "30"),
    ("D", _utc(2026, 8, 20, 10), "80"),  # churns in November
    ("D", _utc(2026, 11, 25, 10), "0"),
    ("E", _utc(2026, 11, 3, 10), "60"),  # new in November
    ("F", _utc(2026, 10, 10, 10), "40"),  # starts and cancels inside October: no movement
    ("F", _utc(2026, 10, 20, 10), "0"),
    ("G", _utc(2026, 9, 1), "75"),  # new as September opens, upgraded in October,
    ("G", _utc(2026, 10, 15, 10), "90"),
    ("G", _utc(2026, 12, 1), "0"),  # cancelled as December opens: not November's churn
    ("H", _utc(2026, 11, 12, 10), "20"),  # up and down inside November
    ("H", _utc(2026, 11, 13, 10), "0"),
    ("I", _utc(2026, 7, 10, 10), "30"),  # churns in September, back in October
    ("I", _utc(2026, 9, 30, 23, 59, 59, 999999), "0"),
    ("I", _utc(2026, 10, 5, 10), "35.50"),
]


def subscription_events() -> list[dict[str, Any]]:
    """The ledger as subscription events (the contract of docs/packs.md)."""
    return [
        pack_event("subscription", at, "billing", mrr, customer_id=customer)
        for customer, at, mrr in SUBSCRIPTIONS
    ]
