"""Signup cohorts: sizes and week 1/4/12 retention recomputed in plain Python from the same
events (random, across a time change, weeks not over yet); access and bad input."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import event, ingest, ingest_with_repeats
from tests.support.app import make_settings
from tests.support.auth import bearer
from tests.support.problems import assert_problem

URL = "/api/kpis/metrics/cohorts"
WEEKS = (1, 4, 12)
SIX = Decimal("0.000001")


def months_back(last_day: date, months: int) -> list[date]:
    firsts = [last_day.replace(day=1)]
    while len(firsts) < months:
        previous = firsts[-1] - timedelta(days=1)
        firsts.append(previous.replace(day=1))
    return firsts[::-1]


def expected(
    events: list[dict[str, Any]],
    zone: str,
    last_day: date,
    months: int,
    now: datetime,
    signup: str = "signup",
    activity: str | None = None,
) -> list[dict[str, Any]]:
    """The cohorts as a client would count them from the raw events."""
    tz = ZoneInfo(zone)
    unique = list({e["id"]: e for e in events}.values())
    at = {e["id"]: datetime.fromisoformat(e["occurred_at"]).astimezone(UTC) for e in unique}
    firsts: dict[str, datetime] = {}
    for e in unique:
        if e["type"] == signup:
            firsts[e["user_id"]] = min(at[e["id"]], firsts.get(e["user_id"], at[e["id"]]))
    out = []
    for month in months_back(last_day, months):
        members = {
            u: t for u, t in firsts.items() if t.astimezone(tz).date().replace(day=1) == month
        }
        row: dict[str, Any] = {"month": month.isoformat(), "size": len(members)}
        for week in WEEKS:
            over = bool(members) and all(
                t + timedelta(days=7 * (week + 1)) <= now for t in members.values()
            )
            kept = sum(
                1
                for u, t in members.items()
                if any(
                    e["user_id"] == u
                    and (e["type"] == activity if activity else e["type"] != signup)
                    and t + timedelta(days=7 * week)
                    <= at[e["id"]]
                    < t + timedelta(days=7 * week + 7)
                    for e in unique
                )
            )
            row[f"week_{week}_retained"] = kept if over else None
            row[f"week_{week}_pct"] = (
                float((Decimal(kept) / len(members) * 100).quantize(SIX, rounding=ROUND_HALF_EVEN))
                if over
                else None
            )
        out.append(row)
    return out


def random_events(seed: int) -> list[dict[str, Any]]:
    """Users signing up between December 2024 and mid-July 2025 (some twice), active at
    random and exactly on the edges of their retention weeks; some never active."""
    rng = random.Random(seed)
    events = []
    low = datetime(2024, 12, 1, tzinfo=UTC)
    for n in range(70):
        user = f"u{n}"
        signup = low + timedelta(seconds=rng.randint(0, 226 * 86_400))
        events.append(event("signup", signup, user))
        if rng.random() < 0.2:
            events.append(event("signup", signup + timedelta(days=rng.randint(1, 60)), user))
        if rng.random() < 0.15:
            continue  # never active
        for _ in range(rng.randint(1, 12)):
            kind = rng.choice(["login", "login", "call", "email"])
            events.append(event(kind, signup + timedelta(hours=rng.randint(0, 100 * 24)), user))
        week = rng.choice(WEEKS)
        for edge in (
            timedelta(days=7 * week),
            timedelta(days=7 * week + 7),
            timedelta(days=7 * week + 7, microseconds=-1),
        ):
            if rng.random() < 0.5:
                events.append(event(rng.choice(["login", "call"]), signup + edge, user))
    return events + [dict(e) for e in rng.sample(events, 5)]


@pytest.mark.parametrize(("seed", "activity"), [(61, None), (62, "login"), (63, None)])
async def test_random_cohorts_match_a_plain_python_count(
    client: AsyncClient, seed: int, activity: str | None
) -> None:
    events = random_events(seed)
    await ingest_with_repeats(client, events)
    params: dict[str, Any] = {"last_month": "2025-06-15", "months": 6}
    if activity:
        params["activity_type"] = activity
    response = await client.get(URL, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    now = datetime.now(UTC)
    assert body["cohorts"] == expected(events, "UTC", date(2025, 6, 15), 6, now, activity=activity)
    assert (body["signup_type"], body["activity_type"]) == ("signup", activity)
    assert all(c["size"] for c in body["cohorts"]), "every month has signups"


NY = ZoneInfo("America/New_York")


def local(
    year: int, month: int, day: int, hour: int, minute: int, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=NY)


@pytest.fixture
async def new_york(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(database_url, timezone="America/New_York"), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_months_and_weeks_in_the_organisations_time_zone(new_york: AsyncClient) -> None:
    events = [
        # Late on 31 October in New York is 1 November in UTC: an October signup.
        event("signup", local(2025, 10, 31, 23, 30), "oct_late"),
        event("signup", local(2025, 11, 1, 0, 30), "nov_early"),
        event("signup", local(2025, 10, 1, 0, 0), "oct_first"),
        # A microsecond before October: a September cohort, even if signing up again later.
        event("signup", local(2025, 9, 30, 23, 59, 59, 999_999), "sep_last"),
        event("signup", local(2025, 10, 5, 12, 0), "sep_last"),
        # Signed up before summer time ended (2 November): week 1 starts 168 hours later,
        # at 11:00 on the wall clock, not 12:00.
        event("signup", local(2025, 10, 30, 12, 0), "dst"),
        event("login", local(2025, 11, 6, 11, 30), "dst"),
        event("signup", local(2025, 10, 30, 12, 0), "dst_early"),
        event("login", local(2025, 11, 6, 10, 30), "dst_early"),
        event("call", local(2025, 11, 7, 23, 30) + timedelta(hours=1), "oct_late"),
        # 28 days of 24 hours after 00:30 EDT on 1 November is 23:30 EST on 28 November.
        event("login", local(2025, 11, 28, 23, 45), "nov_early"),
    ]
    await ingest(new_york, events)
    body = (await new_york.get(URL, params={"last_month": "2025-11-30", "months": 4})).json()
    now = datetime.now(UTC)
    assert body["cohorts"] == expected(events, "America/New_York", date(2025, 11, 30), 4, now)
    sizes = {c["month"]: c["size"] for c in body["cohorts"]}
    assert sizes == {"2025-08-01": 0, "2025-09-01": 1, "2025-10-01": 4, "2025-11-01": 1}
    october = body["cohorts"][2]
    # dst and oct_late retained in week 1; dst_early's login came half an hour too soon.
    assert (october["week_1_retained"], october["week_1_pct"]) == (2, 50.0)
    assert body["cohorts"][0]["week_1_retained"] is None  # an empty cohort reports nothing
    assert body["cohorts"][3]["week_4_retained"] == 1  # counted in week 4, not week 3


async def test_weeks_not_over_yet_are_null_not_zero(client: AsyncClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = []
    for n, days_ago in enumerate((2, 20, 40, 100, 130)):
        signup = now - timedelta(days=days_ago)
        events.append(event("signup", signup, f"u{n}"))
        events += [
            event("login", signup + timedelta(days=d), f"u{n}") for d in (8, 30, 88) if d < days_ago
        ]
    await ingest(client, events)
    body = (await client.get(URL, params={"months": 6})).json()
    today = now.date()
    assert body["cohorts"] == expected(events, "UTC", today, 6, datetime.now(UTC))
    assert body["cohorts"][-1]["month"] == today.replace(day=1).isoformat()
    newest = next(c for c in body["cohorts"] if c["size"])
    assert newest["size"] >= 1
    latest = [c for c in body["cohorts"] if c["size"]][-1]
    assert latest["week_12_retained"] is None and latest["week_12_pct"] is None


async def test_members_are_refused_and_other_tenants_see_nothing(jwt_client: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    await ingest(
        jwt_client,
        [
            event("signup", datetime(2025, 3, 3, tzinfo=UTC), "42"),
            event("login", datetime(2025, 3, 11, tzinfo=UTC), "42"),
        ],
        headers=admin,
    )
    params: dict[str, str | int] = {"last_month": "2025-03-01", "months": 1}
    member = await jwt_client.get(URL, params=params, headers=bearer("42", "member"))
    assert member.status_code == 403
    manager = await jwt_client.get(
        URL, params=params, headers=bearer("m1", "manager", teams=["t1"])
    )
    assert manager.status_code == 200
    assert manager.json()["cohorts"] == [
        {
            "month": "2025-03-01",
            "size": 1,
            "week_1_retained": 1,
            "week_1_pct": 100.0,
            "week_4_retained": 0,
            "week_4_pct": 0.0,
            "week_12_retained": 0,
            "week_12_pct": 0.0,
        }
    ]
    acme = await jwt_client.get(URL, params=params, headers=bearer("boss", "admin", tenant="acme"))
    assert [c["size"] for c in acme.json()["cohorts"]] == [0]


@pytest.mark.parametrize(
    "params",
    [
        {"months": 0},
        {"months": 37},
        {"months": "six"},
        {"activity_type": "signup"},
        {"signup_type": "Sign Up"},
        {"last_month": "2025-13-01"},
        {"tenant": "acme"},
        {"last_month": "0001-01-01"},
        {"last_month": "9999-12-31"},
    ],
)
async def test_bad_input_is_a_422_problem(client: AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get(URL, params=params)
    assert_problem(response, 422)
