"""The demo as loaded: no duplicates on a second load, a run without failures, and values
recomputed in plain Python from the rows the demo stored (leads, contacts, events)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kpi_service.demo.loader import DemoMismatch, load_demo
from kpi_service.demo.people import DemoSize, Window
from tests.support.demo import TZ, LoadedDemo

LOCAL = ZoneInfo(TZ)
AGENTS = [str(n) for n in range(101, 113)]
EXACT = Decimal("0.000001")  # computed values are stored at six places


async def _window(demo: LoadedDemo) -> Window:
    [state] = await demo.rows("SELECT last_day, months FROM public.kpi_demo_state")
    return Window(state["last_day"], state["months"], LOCAL)


async def _value(demo: LoadedDemo, key: str, subject: str, start: date) -> Decimal | None:
    rows = await demo.rows(
        "SELECT m.actual_value FROM kpi.measurements m "
        "JOIN kpi.definitions d ON d.id = m.definition_id "
        "JOIN kpi.assignments a ON a.id = m.assignment_id "
        "WHERE d.key = $1 AND a.subject_id = $2 AND m.period_start = $3",
        key,
        subject,
        start,
    )
    assert len(rows) == 1, (key, subject, start, rows)
    value: Decimal | None = rows[0]["actual_value"]
    return value


def _local_day(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


def _month_days(start: date) -> tuple[date, date]:
    nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


def _close(actual: Decimal | None, expected: Decimal) -> bool:
    return actual is not None and abs(actual - expected) <= EXACT


async def test_a_second_load_duplicates_nothing_and_changes_nothing(demo: LoadedDemo) -> None:
    first, second = demo.counts
    assert first == second
    assert first["public.leads"] > 3000 and first["public.contacts"] > 500
    assert first["kpi.events"] > 20_000 and first["kpi.measurement_revisions"] == 0
    assert first["kpi.goals"] == 12 * (2 * 3 + 1)
    assert first["kpi.alert_rules"] == 4
    run_1, run_2 = demo.runs
    assert run_1 is not None and run_2 is not None
    assert run_2.computed == 0 and run_2.unchanged == run_1.computed + run_1.unchanged


async def test_the_history_computes_without_failures(demo: LoadedDemo) -> None:
    for run in demo.runs:
        assert run is not None
        assert (run.status, run.failed, run.errors) == ("succeeded", 0, [])
    keys = {
        r["key"]
        for r in await demo.rows(
            "SELECT DISTINCT d.key FROM kpi.measurements m "
            "JOIN kpi.definitions d ON d.id = m.definition_id WHERE m.actual_value IS NOT NULL"
        )
    }
    assert {
        "avg_resolution_time",
        "cases_resolved",
        "customer_satisfaction",
        "leads_handled",
        "conversion_rate",
        "response_time_hours",
        "satisfaction_score",
        "funnel_assigned",
        "funnel_contacted",
        "funnel_interested",
        "funnel_won",
        "calls_made",
        "emails_sent",
        "call_duration_p90",
        "revenue",
        "conversions",
        "revenue_daily",
        "team_revenue",
        "dau",
        "wau",
        "mau",
        "new_signups",
        "mrr",
        "arr",
    } <= keys


async def test_the_window_ends_yesterday_in_the_organisation_time_zone(demo: LoadedDemo) -> None:
    window = await _window(demo)
    assert window.last_day in set(demo.days_before)
    [span] = await demo.rows(
        "SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM kpi.events"
    )
    assert _local_day(span["last"]) == window.last_day
    assert _local_day(span["first"]) == window.events_start
    assert window.events_start.day == 1
    assert (window.last_day - window.events_start).days >= 6 * 28
    [leads] = await demo.rows(
        "SELECT min(created_at) AS first, max(created_at) AS last FROM public.leads"
    )
    assert _local_day(leads["first"]) >= window.leads_start
    assert (window.last_day - window.leads_start).days >= 365
    assert _local_day(leads["last"]) <= window.last_day


async def test_conversion_rate_response_time_and_satisfaction_match_the_leads(
    demo: LoadedDemo,
) -> None:
    window = await _window(demo)
    rng = random.Random(4)
    month = _month_days(window.events_start + timedelta(days=40))[0].replace(day=1)
    first, last = _month_days(month)
    for agent in rng.sample(AGENTS, 3):
        leads = await demo.rows("SELECT * FROM public.leads WHERE assigned_agent_id = $1", agent)
        created = [r for r in leads if first <= _local_day(r["created_at"]) <= last]
        converted = sum(1 for r in created if r["disposition"] == "converted")
        assert _close(
            await _value(demo, "conversion_rate", agent, month),
            Decimal(100) * converted / len(created),
        )
        assert await _value(demo, "leads_handled", agent, month) == len(created)
        contacted = [
            r
            for r in leads
            if r["contacted_at"] is not None and first <= _local_day(r["contacted_at"]) <= last
        ]
        hours = [r["response_time_hours"] for r in contacted]
        assert _close(
            await _value(demo, "response_time_hours", agent, month),
            sum(hours, Decimal(0)) / len(hours),
        )
        ratings = [
            r["satisfaction_rating"] for r in contacted if r["satisfaction_rating"] is not None
        ]
        assert _close(
            await _value(demo, "satisfaction_score", agent, month),
            Decimal(sum(ratings)) / len(ratings),
        )


async def test_calls_in_a_week_and_revenue_in_a_month_match_the_rows(demo: LoadedDemo) -> None:
    window = await _window(demo)
    rng = random.Random(9)
    agent = rng.choice(AGENTS)
    calls = await demo.rows(
        "SELECT occurred_at, value FROM kpi.events WHERE user_id = $1 AND type = 'call'", agent
    )
    monday = window.events_start + timedelta(days=-window.events_start.weekday() % 7 + 7 * 5)
    in_week = [
        c for c in calls if monday <= _local_day(c["occurred_at"]) <= monday + timedelta(days=6)
    ]
    assert in_week
    assert await _value(demo, "calls_made", agent, monday) == len(in_week)
    # Revenue from conversion events equals the revenue of the leads converted that month.
    month = date(monday.year, monday.month, 1)
    first, last = _month_days(month)
    leads = await demo.rows(
        "SELECT converted_at, revenue FROM public.leads "
        "WHERE assigned_agent_id = $1 AND converted_at IS NOT NULL",
        agent,
    )
    won = [r["revenue"] for r in leads if first <= _local_day(r["converted_at"]) <= last]
    assert await _value(demo, "revenue", agent, month) == sum(won, Decimal(0))
    assert await _value(demo, "conversions", agent, month) == len(won)
    team = [
        r["revenue"]
        for r in await demo.rows(
            "SELECT converted_at, revenue FROM public.leads WHERE converted_at IS NOT NULL"
        )
        if first <= _local_day(r["converted_at"]) <= last
    ]
    assert await _value(demo, "team_revenue", "sales-1", month) == sum(team, Decimal(0))


async def test_the_call_duration_percentile_matches_a_plain_python_p90(demo: LoadedDemo) -> None:
    window = await _window(demo)
    month = _month_days(window.events_start + timedelta(days=70))[0].replace(day=1)
    first, last = _month_days(month)
    agent = AGENTS[5]
    minutes = sorted(
        r["value"]
        for r in await demo.rows(
            "SELECT occurred_at, value FROM kpi.events WHERE user_id = $1 AND type = 'call'", agent
        )
        if first <= _local_day(r["occurred_at"]) <= last
    )
    # Continuous percentile (PostgreSQL's percentile_cont): interpolate at (n - 1) * 0.9.
    position = Decimal(len(minutes) - 1) * Decimal("0.9")
    below = int(position)
    expected = minutes[below] + (minutes[below + 1] - minutes[below]) * (position - below)
    assert _close(await _value(demo, "call_duration_p90", agent, month), expected)


async def test_funnel_steps_count_contacts_at_or_beyond_each_stage(demo: LoadedDemo) -> None:
    window = await _window(demo)
    month = _month_days(window.events_start + timedelta(days=100))[0].replace(day=1)
    first, last = _month_days(month)
    rank = {"needs_outreach": 0, "contacted": 1, "closed_lost": 1, "interested": 2, "closed_won": 3}
    for agent in AGENTS[:4]:
        stages = Counter(
            rank[r["funnel_stage"]]
            for r in await demo.rows(
                "SELECT funnel_stage, created_at FROM public.contacts WHERE owner_id = $1", agent
            )
            if first <= _local_day(r["created_at"]) <= last
        )
        steps = [
            await _value(demo, key, agent, month)
            for key in ("funnel_assigned", "funnel_contacted", "funnel_interested", "funnel_won")
        ]
        counts = [sum(n for r, n in stages.items() if r >= k) for k in range(4)]
        assert steps == counts
        assert counts == sorted(counts, reverse=True)


async def test_active_users_signups_and_recurring_revenue(demo: LoadedDemo) -> None:
    window = await _window(demo)
    logins = await demo.rows("SELECT user_id, occurred_at FROM kpi.events WHERE type = 'login'")
    day = window.last_day - timedelta(days=17)
    daily = {r["user_id"] for r in logins if _local_day(r["occurred_at"]) == day}
    assert await _value(demo, "dau", "default", day) == len(daily)
    month = _month_days(window.events_start)[1] + timedelta(days=1)
    first, last = _month_days(month)
    monthly = {r["user_id"] for r in logins if first <= _local_day(r["occurred_at"]) <= last}
    assert await _value(demo, "mau", "default", month) == len(monthly)
    signups = await demo.rows("SELECT occurred_at FROM kpi.events WHERE type = 'signup'")
    assert await _value(demo, "new_signups", "default", month) == sum(
        1 for r in signups if first <= _local_day(r["occurred_at"]) <= last
    )
    recorded = await demo.rows(
        "SELECT m.period_start, m.actual_value, d.key FROM kpi.measurements m "
        "JOIN kpi.definitions d ON d.id = m.definition_id WHERE d.key IN ('mrr', 'arr') "
        "ORDER BY m.period_start"
    )
    mrr = {r["period_start"]: r["actual_value"] for r in recorded if r["key"] == "mrr"}
    arr = {r["period_start"]: r["actual_value"] for r in recorded if r["key"] == "arr"}
    assert len(mrr) >= 6 and min(mrr) == window.events_start
    assert {start: arr[start] for start in mrr} == {s: v * 12 for s, v in mrr.items()}


async def test_daily_revenue_has_a_year_of_days_with_zero_on_quiet_days(demo: LoadedDemo) -> None:
    window = await _window(demo)
    agent = AGENTS[0]
    series = {
        r["period_start"]: r["actual_value"]
        for r in await demo.rows(
            "SELECT m.period_start, m.actual_value FROM kpi.measurements m "
            "JOIN kpi.definitions d ON d.id = m.definition_id "
            "JOIN kpi.assignments a ON a.id = m.assignment_id "
            "WHERE d.key = 'revenue_daily' AND a.subject_id = $1",
            agent,
        )
    }
    assert len(series) == (window.last_day - window.leads_start).days + 1 >= 365
    won: dict[date, Decimal] = {}
    for r in await demo.rows(
        "SELECT converted_at, revenue FROM public.leads "
        "WHERE assigned_agent_id = $1 AND converted_at IS NOT NULL",
        agent,
    ):
        day = _local_day(r["converted_at"])
        won[day] = won.get(day, Decimal(0)) + r["revenue"]
    assert series == {day: won.get(day, Decimal(0)) for day in series}
    assert Decimal(0) in series.values()


async def test_another_size_on_the_same_database_is_refused(demo: LoadedDemo) -> None:
    with pytest.raises(DemoMismatch, match="12 agents"):
        await load_demo(demo.settings, DemoSize(agents=24))


async def test_the_pilot_team_has_monthly_and_quarterly_goals(demo: LoadedDemo) -> None:
    window = await _window(demo)
    held = await demo.rows(
        "SELECT g.user_id, g.period_kind, g.period_start, d.key "
        "FROM kpi.goals g JOIN kpi.definitions d ON d.id = g.definition_id"
    )
    assert {r["user_id"] for r in held} == set(AGENTS)
    last_month = _month_days(window.last_day.replace(day=1) - timedelta(days=1))[0].replace(day=1)
    assert {(r["period_kind"], r["period_start"]) for r in held} == {
        ("monthly", last_month),
        ("monthly", window.last_day.replace(day=1)),
        ("quarterly", date(window.last_day.year, (window.last_day.month - 1) // 3 * 3 + 1, 1)),
    }
    assert {r["key"] for r in held} == {"conversions", "revenue", "response_time_hours"}


async def test_the_conversion_rule_covers_every_month_below_80_percent_of_target(
    demo: LoadedDemo,
) -> None:
    window = await _window(demo)
    months = []
    month = window.events_start
    # Ended months only (the last day is yesterday): the month in progress is not judged.
    while _month_days(month)[1] <= window.last_day:
        months.append(month)
        month = _month_days(month)[1] + timedelta(days=1)
    episodes = await demo.rows(
        "SELECT a.subject_id, a.period_start, a.last_period_start FROM kpi.alerts a "
        "JOIN kpi.alert_rules r ON r.id = a.rule_id "
        "WHERE r.name = 'Conversion rate below 80% of target'"
    )
    assert episodes
    for agent in AGENTS:
        created = [
            (_local_day(r["created_at"]), r["disposition"])
            for r in await demo.rows(
                "SELECT created_at, disposition FROM public.leads WHERE assigned_agent_id = $1",
                agent,
            )
        ]
        breached = set()
        for month in months:
            last = _month_days(month)[1]
            if last >= datetime.now(LOCAL).date():
                continue  # the month in progress is never judged: no episode may open on it
            leads = [d for day, d in created if month <= day <= last]
            rate = Decimal(100) * sum(d == "converted" for d in leads) / len(leads)
            if rate / 30 * 100 < 80:  # the target is 30%
                breached.add(month)
        mine = [e for e in episodes if e["subject_id"] == agent]
        # An episode opens on a breach, and every breach lies inside an episode.
        assert {e["period_start"] for e in mine} <= breached
        assert all(
            any(e["period_start"] <= m <= e["last_period_start"] for e in mine) for m in breached
        )
