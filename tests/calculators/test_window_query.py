"""Windowed query KPIs: admin SQL and the built-in queries receive the window's bounds as
`:period_start` / `:period_end`, for users and for teams computed through their members;
every value recounted in plain Python from the source rows inserted, in Berlin across the
start of summer time."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.app import app_client
from tests.support.database import create_support_cases

ZONE = "Europe/Berlin"
TZ = ZoneInfo(ZONE)
TEAM_OF = {"u1": "t1", "u2": "t1", "u3": "t2", "u4": "t2"}
DAYS = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31)]
SALES_SQL = (
    "SELECT user_id AS subject_id, sum(amount) AS value FROM window_sales "
    "WHERE user_id = ANY(:subject_ids) AND sold_at >= :period_start AND sold_at < :period_end "
    "GROUP BY user_id"
)
Sale = tuple[str, datetime, Decimal]


@pytest.fixture
async def berlin(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, timezone=ZONE) as c:
        yield c


@pytest.fixture
async def sales(db: Database) -> AsyncIterator[list[Sale]]:
    """Random sales in the source (= test) database, many on local midnights."""
    rng = random.Random(14)
    rows: list[Sale] = []
    day = date(2026, 3, 15)
    while day <= date(2026, 4, 2):
        midnight = datetime.combine(day, time(0), tzinfo=TZ)
        for at in (midnight, midnight - timedelta(microseconds=1), midnight + timedelta(hours=2)):
            if rng.random() < 0.6:
                amount = Decimal(rng.randint(100, 99_999)) / 100
                rows.append((rng.choice(sorted(TEAM_OF)), at.astimezone(UTC), amount))
        day += timedelta(days=1)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.window_sales"))
        await conn.execute(
            text(
                "CREATE TABLE public.window_sales (user_id text, sold_at timestamptz NOT NULL, "
                "amount numeric NOT NULL)"
            )
        )
        await conn.execute(
            text("INSERT INTO public.window_sales VALUES (:u, :t, :a)"),
            [{"u": u, "t": t, "a": a} for u, t, a in rows],
        )
    yield rows
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.window_sales"))


def summed(rows: list[Sale], users: set[str], first: date, last: date) -> dict[str, Decimal]:
    """Each user's sales of local days first..last."""
    out: dict[str, Decimal] = {}
    for user, at, amount in rows:
        if user in users and first <= at.astimezone(TZ).date() <= last:
            out[user] = out.get(user, Decimal(0)) + amount
    return out


def berlin_at(day: int, hour: int) -> datetime:
    return datetime(2026, 4, day, hour, tzinfo=TZ)


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(m["definition_key"], m["subject_id"], m["period_start"]): m for m in rows}


async def test_admin_sql_gets_the_window_bounds_for_users_and_teams(
    berlin: AsyncClient, sales: list[Sale]
) -> None:
    query: dict[str, Any] = {
        "calculation_type": "query",
        "config": {"sql": SALES_SQL},
        "unit": "currency",
    }
    user_kpi = await define(
        berlin, "sales_7d", aggregation_period="daily", window={"days": 7}, **query
    )
    team_kpi = await define(
        berlin,
        "team_best_7d",
        scope="team",
        rollup="max",
        aggregation_period="daily",
        window={"days": 7},
        **query,
    )
    for user, team in TEAM_OF.items():
        await assign(berlin, user_kpi["id"], user, 100, team_id=team, start_date="2026-01-01")
    for team in sorted(set(TEAM_OF.values())):
        await assign(
            berlin, team_kpi["id"], team, 100, subject_type="team", start_date="2026-01-01"
        )
    run = await recalculate(
        berlin, period_start=DAYS[0].isoformat(), period_end=DAYS[-1].isoformat()
    )
    assert (run["status"], run["computed"]) == ("succeeded", 6 * len(DAYS)), run

    got = by_key(await measurements(berlin))
    assert len(got) == 6 * len(DAYS)
    for day in DAYS:
        first = day - timedelta(days=6)
        totals = summed(sales, set(TEAM_OF), first, day)
        window = {"start": first.isoformat(), "end": day.isoformat()}
        for user in TEAM_OF:
            m = got[("sales_7d", user, day.isoformat())]
            want = totals.get(user)
            assert m["actual_value"] == (None if want is None else float(want)), (user, day)
            assert m["details"]["window"] == window
        for team in set(TEAM_OF.values()):
            values = [totals[u] for u, t in TEAM_OF.items() if t == team and u in totals]
            m = got[("team_best_7d", team, day.isoformat())]
            assert m["actual_value"] == (float(max(values)) if values else None), (team, day)
            assert m["details"]["window"] == window


async def test_everything_so_far_and_a_built_in_query_month_to_date(
    berlin: AsyncClient, db: Database, sales: list[Sale]
) -> None:
    total = await define(
        berlin,
        "sales_total",
        aggregation_period="weekly",
        calculation_type="query",
        config={"sql": SALES_SQL},
        unit="currency",
        window="all",
    )
    cases = [
        # resolved in April (local) before the week's end on Sunday 5 April: counted
        (1, "resolved", berlin_at(1, 0), berlin_at(1, 0)),
        (1, "resolved", berlin_at(1, 0), berlin_at(5, 23)),
        # 31 March 23:59 local (in March): not in April to date
        (1, "resolved", berlin_at(1, 0), datetime(2026, 3, 31, 21, 59, tzinfo=UTC)),
        # Monday 6 April 00:00 local: the next week
        (1, "resolved", berlin_at(1, 0), berlin_at(6, 0)),
        (2, "open", berlin_at(2, 0), None),
    ]
    await create_support_cases(db, cases)
    resolved = await define(
        berlin,
        "resolved_mtd",
        aggregation_period="weekly",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
        window={"to_date": "month"},
    )
    for user in ("u1", "u2"):
        await assign(berlin, total["id"], user, 100, start_date="2026-01-01")
    for user in ("1", "2"):
        await assign(berlin, resolved["id"], user, 2, start_date="2026-01-01")
    run = await recalculate(berlin, period_start="2026-03-31")
    assert (run["status"], run["computed"]) == ("succeeded", 4), run

    got = by_key(await measurements(berlin))
    week = "2026-03-30"  # Monday 30 March to Sunday 5 April
    everything = summed(sales, {"u1", "u2"}, date(1900, 1, 1), date(2026, 4, 5))
    for user in ("u1", "u2"):
        m = got[("sales_total", user, week)]
        assert m["actual_value"] == float(everything[user])
        assert m["details"]["window"] == {"start": None, "end": "2026-04-05"}
    april = [
        resolved_at
        for user, status, _, resolved_at in cases
        if user == 1 and status == "resolved" and resolved_at is not None
    ]
    want = sum(
        1 for at in april if date(2026, 4, 1) <= at.astimezone(TZ).date() <= date(2026, 4, 5)
    )
    assert got[("resolved_mtd", "1", week)]["actual_value"] == want == 2
    assert got[("resolved_mtd", "2", week)]["actual_value"] == 0
    assert got[("resolved_mtd", "1", week)]["details"]["window"] == {
        "start": "2026-04-01",
        "end": "2026-04-05",
    }
