"""Windowed event KPIs against a plain-Python recount of the events sent: rolling DAU, WAU and
MAU (daily, distinct users of `login`, windows of 1, 7 and 30 days) in Berlin across both DST
changes of 2026, with events on local midnights and in the hours the clocks change; and
month, quarter and year to date and everything so far for sums and counts."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, measurements, recalculate
from tests.support.app import app_client
from tests.support.summary import URL as SUMMARY

ZONE = "Europe/Berlin"
TZ = ZoneInfo(ZONE)
USERS = [f"u{n}" for n in range(1, 9)]
# Summer time starts on 29 March 2026 and ends on 25 October 2026 in Berlin.
SEASONS = [(date(2026, 3, 24), date(2026, 4, 3)), (date(2026, 10, 21), date(2026, 10, 31))]
# The instants around the clock changes (UTC): the last CET microsecond and the first CEST
# instant of 29 March; 02:30 local twice on 25 October (CEST, then CET).
SHIFTS = [
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
]
ROLLING = {"dau": 1, "wau": 7, "mau": 30}


@pytest.fixture
async def berlin(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, timezone=ZONE) as c:
        yield c


def local_day(event: dict[str, Any]) -> date:
    return datetime.fromisoformat(event["occurred_at"]).astimezone(TZ).date()


def instants_of(rng: random.Random, day: date) -> list[datetime]:
    """A local day's edges (its midnight, the microsecond before) and a few random times."""
    midnight = datetime.combine(day, time(0), tzinfo=TZ)
    edges = [midnight, midnight - timedelta(microseconds=1)]
    return edges + [midnight + timedelta(minutes=rng.randint(1, 1400)) for _ in range(2)]


def random_events(seed: int, kind: str, first: date, last: date) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    moments = list(SHIFTS)
    day = first
    while day <= last:
        moments += [at for at in instants_of(rng, day) if rng.random() < 0.45]
        day += timedelta(days=1)
    return [
        event(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            user_id=rng.choice(USERS),
            event_type=kind,
            occurred_at=at.astimezone(rng.choice([TZ, UTC])),
            value=(
                rng.choice([rng.randint(1, 90), round(rng.uniform(1, 500), 2)])
                if kind == "sale"
                else None
            ),
        )
        for at in moments
    ]


def stored(rows: list[dict[str, Any]]) -> dict[tuple[str, str, date], dict[str, Any]]:
    return {
        (m["definition_key"], m["subject_id"], date.fromisoformat(m["period_start"])): m
        for m in rows
    }


async def test_rolling_dau_wau_mau_across_dst_changes(berlin: AsyncClient) -> None:
    logins = []
    for n, (first, last) in enumerate(SEASONS):
        logins += random_events(n + 1, "login", first - timedelta(days=35), last + timedelta(2))
    await ingest(berlin, logins)
    for key, days in ROLLING.items():
        made = await define(
            berlin,
            key,
            scope="organization",
            aggregation_period="daily",
            calculation_type="event",
            config={"event_type": "login", "aggregate": "distinct_users"},
            window={"days": days},
        )
        assert made["rollup"] == "last"
        await assign(
            berlin, made["id"], "default", 4, subject_type="organization", start_date="2026-01-01"
        )
    for first, last in SEASONS:
        run = await recalculate(berlin, period_start=first.isoformat(), period_end=last.isoformat())
        assert (run["status"], run["computed"]) == ("succeeded", 3 * ((last - first).days + 1))

    got = stored(await measurements(berlin))
    checked = 0
    for first, last in SEASONS:
        day = first
        while day <= last:
            for key, days in ROLLING.items():
                since = day - timedelta(days=days - 1)
                users = {e["user_id"] for e in logins if since <= local_day(e) <= day}
                m = got[(key, "default", day)]
                assert m["actual_value"] == len(users), (key, day)
                assert m["details"]["window"] == {
                    "start": since.isoformat(),
                    "end": day.isoformat(),
                }
                checked += 1
            day += timedelta(days=1)
    assert checked == len(got) == 66
    # The executive summary names each organisation KPI's window.
    summary = (await berlin.get(SUMMARY, params={"date": "2026-03-31"})).json()
    assert {k["definition_key"]: k["window"] for k in summary["kpis"]} == {
        key: {"days": days} for key, days in ROLLING.items()
    }


TO_DATE = {
    # key: (period, aggregate, window)
    "mtd_sum": ("daily", "sum", {"to_date": "month"}),
    "qtd_count": ("daily", "count", {"to_date": "quarter"}),
    "ytd_sum": ("daily", "sum", {"to_date": "year"}),
    "all_count": ("daily", "count", "all"),
    "all_sum": ("daily", "sum", "all"),
    "week_mtd_sum": ("weekly", "sum", {"to_date": "month"}),
    "month_qtd_count": ("monthly", "count", {"to_date": "quarter"}),
    "quarter_ytd_sum": ("quarterly", "sum", {"to_date": "year"}),
}


def window_first(window: Any, end: date) -> date | None:
    """The window's first local day, by hand; None for everything so far."""
    if window == "all":
        return None
    unit = window["to_date"]
    if unit == "month":
        return end.replace(day=1)
    if unit == "quarter":
        return date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    return date(end.year, 1, 1)


def expected(
    sales: list[dict[str, Any]], user: str, aggregate: str, first: date | None, last: date
) -> Decimal | None:
    values = [
        Decimal(str(e["value"]))
        for e in sales
        if e["user_id"] == user
        and (first is None or first <= local_day(e))
        and local_day(e) <= last
    ]
    if aggregate == "count":
        return Decimal(len(values))
    return sum(values, Decimal(0)) if values else None


async def test_to_date_and_all_for_sums_and_counts(berlin: AsyncClient) -> None:
    sales = random_events(7, "sale", date(2025, 12, 20), date(2026, 4, 8))
    await ingest(berlin, sales)
    for key, (period, aggregate, window) in TO_DATE.items():
        made = await define(
            berlin,
            key,
            aggregation_period=period,
            calculation_type="event",
            config={"event_type": "sale", "aggregate": aggregate},
            window=window,
        )
        for user in USERS:
            await assign(berlin, made["id"], user, 4, start_date="2025-01-01")
    # Year and quarter ends and starts, the day summer time starts, a month end, a week ending
    # in the next month (30 March to 5 April).
    for day in ("2025-12-31", "2026-01-01", "2026-03-29", "2026-03-31", "2026-04-01"):
        run = await recalculate(berlin, period_start=day)
        assert run["status"] == "succeeded", run

    got = stored(await measurements(berlin))
    keys = {k for k, _, _ in got}
    assert keys == set(TO_DATE)
    for (key, user, _), m in got.items():
        period, aggregate, window = TO_DATE[key]
        last = date.fromisoformat(m["period_end"])
        first = window_first(window, last)
        want = expected(sales, user, aggregate, first, last)
        assert m["actual_value"] == (None if want is None else float(want)), (key, user, last)
        start = None if first is None else first.isoformat()
        assert m["details"]["window"] == {"start": start, "end": last.isoformat()}
    # Every period holding one of the days was computed: 5 days, 3 weeks (29 December to 4
    # January, 23 to 29 March, 30 March to 5 April), 4 months and 3 quarters.
    per_key = {k: len({p for kk, _, p in got if kk == k}) for k in TO_DATE}
    assert per_key == {
        **{k: 5 for k, (p, _, _) in TO_DATE.items() if p == "daily"},
        "week_mtd_sum": 3,
        "month_qtd_count": 4,
        "quarter_ytd_sum": 3,
    }
