"""The demo as loaded: no duplicates on a second load, a run without failures, and values
recomputed in plain Python from the rows the demo stored (leads, contacts, events)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from kpi_service.demo.loader import DemoMismatch, load_demo
from kpi_service.demo.people import DemoSize, Window
from tests.support.demo import AGENTS, LOCAL, LoadedDemo, local_day, month_days

EXACT = Decimal("0.000001")  # computed values are stored at six places


def _close(actual: Decimal | None, expected: Decimal) -> bool:
    return actual is not None and abs(actual - expected) <= EXACT


def _recent_monday(window: Window, weeks_back: int) -> date:
    """The Monday `weeks_back` whole weeks before the week holding the window's last day."""
    return window.last_day - timedelta(days=window.last_day.weekday(), weeks=weeks_back)


async def test_a_second_load_duplicates_nothing_and_changes_nothing(demo: LoadedDemo) -> None:
    first, second = demo.counts
    assert first == second
    assert first["public.leads"] > 3000 and first["public.contacts"] > 500
    assert first["kpi.events"] > 40_000 and first["kpi.measurement_revisions"] == 0
    assert first["kpi.goals"] == 12 * (2 * 3 + 1)
    # The packs' templates (support 2, agent 2, crm 2, saas 4, revenue 3) and the demo's 2.
    assert first["kpi.alert_rules"] == 15
    assert first["kpi.pack_installs"] == 5
    runs_1, runs_2 = demo.runs
    assert len(runs_1) == len(runs_2) > 1
    assert all(run.computed == 0 for run in runs_2)
    assert [r.unchanged for r in runs_2] == [r.computed + r.unchanged for r in runs_1]


async def test_the_history_computes_without_failures(demo: LoadedDemo) -> None:
    for run in (*demo.runs[0], *demo.runs[1]):
        assert (run.status, run.failed, run.errors) == ("succeeded", 0, [])
    keys = {
        r["key"]
        for r in await demo.rows(
            "SELECT DISTINCT d.key FROM kpi.measurements m "
            "JOIN kpi.definitions d ON d.id = m.definition_id WHERE m.actual_value IS NOT NULL"
        )
    }
    # The demo's own KPIs beside the packs' (tests/demo/test_packs.py checks those).
    assert {
        "calls_made",
        "call_duration_p90",
        "conversions",
        "revenue_daily",
        "team_revenue",
    } <= keys
    definitions = await demo.rows("SELECT key FROM kpi.definitions")
    assert not {"revenue", "emails_sent", "dau", "mrr", "funnel_won"} & {
        r["key"] for r in definitions
    }, "the demo defines nothing a pack provides"


async def test_the_window_ends_yesterday_in_the_organisation_time_zone(demo: LoadedDemo) -> None:
    window = await demo.window()
    assert window.last_day in set(demo.days_before)
    [span] = await demo.rows(
        "SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM kpi.events "
        "WHERE type <> 'subscription'"
    )
    assert local_day(span["last"]) == window.last_day
    assert local_day(span["first"]) == window.events_start
    assert window.events_start.day == 1
    assert (window.last_day - window.events_start).days >= 6 * 28
    [ledger] = await demo.rows(
        "SELECT min(occurred_at) AS first, max(occurred_at) AS last FROM kpi.events "
        "WHERE type = 'subscription'"
    )
    # Billing goes back over a year before the last ended month: year-over-year growth.
    assert local_day(ledger["first"]) == window.ledger_start
    assert (window.last_day.replace(day=1) - window.ledger_start).days > 366
    assert local_day(ledger["last"]) <= window.last_day
    [leads] = await demo.rows(
        "SELECT min(created_at) AS first, max(created_at) AS last FROM public.leads"
    )
    assert local_day(leads["first"]) >= window.leads_start
    assert (window.last_day - window.leads_start).days >= 365
    assert local_day(leads["last"]) <= window.last_day


async def test_conversion_rate_response_time_and_satisfaction_match_the_leads(
    demo: LoadedDemo,
) -> None:
    window = await demo.window()
    rng = random.Random(4)
    month = month_days(window.events_start + timedelta(days=40))[0].replace(day=1)
    first, last = month_days(month)
    for agent in rng.sample(AGENTS, 3):
        leads = await demo.rows("SELECT * FROM public.leads WHERE assigned_agent_id = $1", agent)
        created = [r for r in leads if first <= local_day(r["created_at"]) <= last]
        converted = sum(1 for r in created if r["disposition"] == "converted")
        assert _close(
            await demo.value("agent_conversion_rate", agent, month),
            Decimal(100) * converted / len(created),
        )
        assert await demo.value("agent_leads_handled", agent, month) == len(created)
        contacted = [
            r
            for r in leads
            if r["contacted_at"] is not None and first <= local_day(r["contacted_at"]) <= last
        ]
        hours = [r["response_time_hours"] for r in contacted]
        assert _close(
            await demo.value("agent_response_time", agent, month),
            sum(hours, Decimal(0)) / len(hours),
        )
        ratings = [
            r["satisfaction_rating"] for r in contacted if r["satisfaction_rating"] is not None
        ]
        assert _close(
            await demo.value("agent_satisfaction", agent, month),
            Decimal(sum(ratings)) / len(ratings),
        )


async def test_calls_in_a_week_and_revenue_in_a_month_match_the_rows(demo: LoadedDemo) -> None:
    window = await demo.window()
    rng = random.Random(9)
    agent = rng.choice(AGENTS)
    calls = await demo.rows(
        "SELECT occurred_at, value FROM kpi.events WHERE user_id = $1 AND type = 'call'", agent
    )
    monday = _recent_monday(window, 3)
    in_week = [
        c for c in calls if monday <= local_day(c["occurred_at"]) <= monday + timedelta(days=6)
    ]
    assert in_week
    assert await demo.value("calls_made", agent, monday) == len(in_week)
    # The leads' revenue that month, and as many conversion events as leads converted.
    month = date(monday.year, monday.month, 1)
    first, last = month_days(month)
    leads = await demo.rows(
        "SELECT converted_at, revenue FROM public.leads "
        "WHERE assigned_agent_id = $1 AND converted_at IS NOT NULL",
        agent,
    )
    won = [r["revenue"] for r in leads if first <= local_day(r["converted_at"]) <= last]
    assert await demo.value("agent_revenue", agent, month) == sum(won, Decimal(0))
    assert await demo.value("conversions", agent, month) == len(won)
    team = [
        r["revenue"]
        for r in await demo.rows(
            "SELECT converted_at, revenue FROM public.leads WHERE converted_at IS NOT NULL"
        )
        if first <= local_day(r["converted_at"]) <= last
    ]
    assert await demo.value("team_revenue", "sales-1", month) == sum(team, Decimal(0))


async def test_the_call_duration_percentile_matches_a_plain_python_p90(demo: LoadedDemo) -> None:
    window = await demo.window()
    month = month_days(window.events_start + timedelta(days=70))[0].replace(day=1)
    first, last = month_days(month)
    agent = AGENTS[5]
    minutes = sorted(
        r["value"]
        for r in await demo.rows(
            "SELECT occurred_at, value FROM kpi.events WHERE user_id = $1 AND type = 'call'", agent
        )
        if first <= local_day(r["occurred_at"]) <= last
    )
    # Continuous percentile (PostgreSQL's percentile_cont): interpolate at (n - 1) * 0.9.
    position = Decimal(len(minutes) - 1) * Decimal("0.9")
    below = int(position)
    expected = minutes[below] + (minutes[below + 1] - minutes[below]) * (position - below)
    assert _close(await demo.value("call_duration_p90", agent, month), expected)


# How far along seed 004's funnel (assigned, contacted, meeting set, proposal sent,
# negotiation, won) each stage is: a blocked contact counts as assigned only, a lost one as
# assigned and contacted (docs/packs.md, crm).
RANK = {
    "needs_outreach": 0,
    "blocked": 0,
    "contacted": 1,
    "closed_lost": 1,
    "meeting_set": 2,
    "proposal_sent": 3,
    "negotiation": 4,
    "closed_won": 5,
}
STEPS = ("assigned", "contacted", "meeting_set", "proposal_sent", "negotiation", "won")


async def test_funnel_steps_count_contacts_at_or_beyond_each_stage(demo: LoadedDemo) -> None:
    window = await demo.window()
    monday = _recent_monday(window, 2)
    contacts = [
        r
        for r in await demo.rows("SELECT owner_id, funnel_stage, created_at FROM public.contacts")
        if monday <= local_day(r["created_at"]) <= monday + timedelta(days=6)
    ]
    stored = await demo.rows("SELECT DISTINCT funnel_stage FROM public.contacts")
    assert {r["funnel_stage"] for r in stored} == set(RANK), "every stage of seed 004"
    for subject, key in [
        *((a, "crm_funnel_{}") for a in AGENTS[:4]),
        ("default", "crm_org_funnel_{}"),
    ]:
        ranks = [RANK[r["funnel_stage"]] for r in contacts if subject in (r["owner_id"], "default")]
        steps = [await demo.value(key.format(step), subject, monday) for step in STEPS]
        counts = [sum(1 for rank in ranks if rank >= k) for k in range(len(STEPS))]
        assert steps == counts
        assert counts == sorted(counts, reverse=True) and counts[0] > 0


async def test_active_users_and_signups(demo: LoadedDemo) -> None:
    window = await demo.window()
    logins = await demo.rows("SELECT user_id, occurred_at FROM kpi.events WHERE type = 'login'")
    day = window.last_day - timedelta(days=3)
    daily = {r["user_id"] for r in logins if local_day(r["occurred_at"]) == day}
    assert await demo.value("saas_dau", "default", day) == len(daily) > 0
    first = window.last_day - timedelta(days=29)
    rolling = {
        r["user_id"] for r in logins if first <= local_day(r["occurred_at"]) <= window.last_day
    }
    assert await demo.value("saas_mau", "default", window.last_day) == len(rolling)
    signups = await demo.rows("SELECT occurred_at FROM kpi.events WHERE type = 'signup'")
    assert await demo.value("saas_signups", "default", day) == sum(
        1 for r in signups if local_day(r["occurred_at"]) == day
    )
    # Logins have a weekly rhythm: in every whole week, a weekend day has fewer on average.
    per_day = Counter(local_day(r["occurred_at"]) for r in logins)
    monday = window.first_monday
    while monday + timedelta(days=6) <= window.last_day:
        week = [per_day[monday + timedelta(days=n)] for n in range(7)]
        assert sum(week[5:]) / 2 < sum(week[:5]) / 5, (monday, week)
        monday += timedelta(weeks=1)


async def test_daily_revenue_has_its_days_with_zero_on_quiet_days(demo: LoadedDemo) -> None:
    window = await demo.window()
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
    assert len(series) == (window.last_day - window.events_start).days + 1 >= 6 * 28
    won: dict[date, Decimal] = {}
    for r in await demo.rows(
        "SELECT converted_at, revenue FROM public.leads "
        "WHERE assigned_agent_id = $1 AND converted_at IS NOT NULL",
        agent,
    ):
        day = local_day(r["converted_at"])
        won[day] = won.get(day, Decimal(0)) + r["revenue"]
    assert series == {day: won.get(day, Decimal(0)) for day in series}
    assert Decimal(0) in series.values()


async def test_another_size_on_the_same_database_is_refused(demo: LoadedDemo) -> None:
    with pytest.raises(DemoMismatch, match="12 agents"):
        await load_demo(demo.settings, DemoSize(agents=24))


async def test_the_pilot_team_has_monthly_and_quarterly_goals(demo: LoadedDemo) -> None:
    window = await demo.window()
    held = await demo.rows(
        "SELECT g.user_id, g.period_kind, g.period_start, d.key "
        "FROM kpi.goals g JOIN kpi.definitions d ON d.id = g.definition_id"
    )
    assert {r["user_id"] for r in held} == set(AGENTS)
    last_month = month_days(window.last_day.replace(day=1) - timedelta(days=1))[0].replace(day=1)
    assert {(r["period_kind"], r["period_start"]) for r in held} == {
        ("monthly", last_month),
        ("monthly", window.last_day.replace(day=1)),
        ("quarterly", date(window.last_day.year, (window.last_day.month - 1) // 3 * 3 + 1, 1)),
    }
    assert {r["key"] for r in held} == {"conversions", "agent_revenue", "agent_response_time"}


async def test_the_conversion_rule_covers_every_month_below_80_percent_of_target(
    demo: LoadedDemo,
) -> None:
    window = await demo.window()
    months = []
    month = window.events_start
    # Ended months only (the last day is yesterday): the month in progress is not judged.
    while month_days(month)[1] <= window.last_day:
        months.append(month)
        month = month_days(month)[1] + timedelta(days=1)
    episodes = await demo.rows(
        "SELECT a.subject_id, a.period_start, a.last_period_start FROM kpi.alerts a "
        "JOIN kpi.alert_rules r ON r.id = a.rule_id "
        "WHERE r.name = 'Agents: conversion below target'"
    )
    assert episodes
    for agent in AGENTS:
        created = [
            (local_day(r["created_at"]), r["disposition"])
            for r in await demo.rows(
                "SELECT created_at, disposition FROM public.leads WHERE assigned_agent_id = $1",
                agent,
            )
        ]
        breached = set()
        for month in months:
            last = month_days(month)[1]
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
