"""The packs on the demo: every KPI of every installed pack has a value for its latest ended
period, the subscription ledger holds every movement and its figures match a replay in plain
Python, and seed 003's agent view and activity timeline answer for a demo agent."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from kpi_service.demo.packs import PACKS as INSTALLED
from kpi_service.packs.registry import PACKS
from tests.support.demo import LOCAL, LoadedDemo, local_day
from tests.support.expected import month_start

SIX = Decimal("0.000001")


def _latest_ended(kind: str, last_day: date) -> date:
    """The start of the latest period of this kind that ended by `last_day`."""
    after = last_day + timedelta(days=1)
    if kind == "daily":
        return last_day
    if kind == "weekly":
        return after - timedelta(days=after.weekday() + 7)
    return month_start(after, 1)


async def test_every_pack_kpi_has_a_value_for_its_latest_ended_period(demo: LoadedDemo) -> None:
    window = await demo.window()
    stored = await demo.rows(
        "SELECT d.key, a.subject_type, a.subject_id, m.period_start FROM kpi.measurements m "
        "JOIN kpi.definitions d ON d.id = m.definition_id "
        "JOIN kpi.assignments a ON a.id = m.assignment_id WHERE m.actual_value IS NOT NULL"
    )
    valued = {(r["key"], r["subject_type"], r["period_start"]) for r in stored}
    missing, checked = [], 0
    for name in INSTALLED:
        pack = PACKS.get(name)
        assert pack is not None
        for spec in pack.definitions:
            start = _latest_ended(spec["aggregation_period"], window.last_day)
            scope = "organization" if spec["scope"] == "organization" else "user"
            checked += 1
            if (spec["key"], scope, start) not in valued:
                missing.append((spec["key"], scope, start))
    assert checked > 100
    assert missing == []
    # User KPIs: every support user and every agent has its values, not only one of them.
    users = {r["subject_id"] for r in stored if r["key"] == "support_first_response_time"}
    assert users == {"1", "2", "3", "4", "5"}


async def test_the_demo_follows_the_sources_and_names_every_user_with_a_team(
    demo: LoadedDemo,
) -> None:
    installs = await demo.rows("SELECT pack, follow_sources FROM kpi.pack_installs")
    following = {"support", "agent", "crm"}  # the packs with user KPIs read from tables
    assert {r["pack"]: r["follow_sources"] for r in installs} == {
        name: name in following for name in INSTALLED
    }
    # Every user in the demo's tables is named with a team: following adds nobody teamless.
    users = await demo.rows(
        "SELECT DISTINCT subject_id, team_id, assigned_by FROM kpi.assignments "
        "WHERE subject_type = 'user'"
    )
    assert users and {(r["team_id"] is None, r["assigned_by"]) for r in users} == {
        (False, "demo-loader")
    }


async def _ledger(demo: LoadedDemo) -> dict[str, list[tuple[datetime, Decimal]]]:
    """Each customer's (instant, MRR from then on), in order."""
    rows = await demo.rows(
        "SELECT occurred_at, value, properties->>'customer_id' AS customer FROM kpi.events "
        "WHERE type = 'subscription' ORDER BY occurred_at, received_at, id"
    )
    by_customer: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for r in rows:
        by_customer[r["customer"]].append((r["occurred_at"], r["value"]))
    return by_customer


def _mrr_at(changes: list[tuple[datetime, Decimal]], at: datetime) -> Decimal:
    before = [mrr for when, mrr in changes if when < at]
    return before[-1] if before else Decimal(0)


async def test_the_ledger_has_every_movement_some_at_a_month_start(demo: LoadedDemo) -> None:
    kinds: set[str] = set()
    at_month_start = 0
    for changes in (await _ledger(demo)).values():
        paid = False
        previous = Decimal(0)
        for when, mrr in changes:
            local = when.astimezone(LOCAL)
            at_month_start += (local.day, local.hour, local.minute, local.second) == (1, 0, 0, 0)
            if previous == 0 and mrr > 0:
                kinds.add("comeback" if paid else "new")
            elif previous > 0 and mrr == 0:
                kinds.add("cancel")
            elif 0 < previous < mrr:
                kinds.add("upgrade")
            elif 0 < mrr < previous:
                kinds.add("downgrade")
            paid, previous = paid or mrr > 0, mrr
    assert kinds == {"new", "upgrade", "downgrade", "cancel", "comeback"}
    assert at_month_start >= 10


async def test_revenue_figures_of_the_last_ended_month_match_a_replay(demo: LoadedDemo) -> None:
    window = await demo.window()
    month = _latest_ended("monthly", window.last_day)
    after = month_start(month, -1)
    start, end = (datetime(d.year, d.month, d.day, tzinfo=LOCAL) for d in (month, after))
    year_before = end.replace(year=end.year - 1)
    ledger = await _ledger(demo)
    m0 = {c: _mrr_at(changes, start) for c, changes in ledger.items()}
    m1 = {c: _mrr_at(changes, end) for c, changes in ledger.items()}
    mrr_start, mrr_end = sum(m0.values(), Decimal(0)), sum(m1.values(), Decimal(0))
    expansion = sum((m1[c] - m0[c] for c in ledger if 0 < m0[c] < m1[c]), Decimal(0))
    contraction = sum((m0[c] - m1[c] for c in ledger if 0 < m1[c] < m0[c]), Decimal(0))
    churned = [c for c in ledger if m0[c] > 0 and m1[c] == 0]
    churned_mrr = sum((m0[c] for c in churned), Decimal(0))
    paying = sum(1 for c in ledger if m1[c] > 0)
    assert churned and contraction > 0 and expansion > 0
    a_year_before = sum((_mrr_at(changes, year_before) for changes in ledger.values()), Decimal(0))
    expected = {
        "revenue_mrr": mrr_end,
        "revenue_arr": 12 * mrr_end,
        "revenue_customers": Decimal(paying),
        "saas_customers": Decimal(paying),
        "revenue_churned_customers": Decimal(len(churned)),
        "revenue_nrr": (mrr_start + expansion - contraction - churned_mrr) * 100 / mrr_start,
        "revenue_grr": (mrr_start - contraction - churned_mrr) * 100 / mrr_start,
        "revenue_mrr_growth_yoy": (mrr_end - a_year_before) * 100 / a_year_before,
    }
    for key, value in expected.items():
        got = await demo.value(key, "default", month)
        assert got is not None and abs(got - value) <= SIX, (key, got, value)


async def test_the_agent_view_answers_for_a_demo_agent(demo: LoadedDemo) -> None:
    today = datetime.now(LOCAL).date()
    first = today - timedelta(days=29)
    leads = await demo.rows("SELECT created_at FROM public.leads WHERE assigned_agent_id = '101'")
    async with demo.client() as client:
        response = await client.get("/api/kpis/metrics/agent", params={"user_id": "101"})
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["kpis"]["total_agents"] == 12
    assert view["kpis"]["leads_handled"] == sum(
        1 for r in leads if first <= local_day(r["created_at"]) <= today
    )
    assert view["kpis"]["team_ranking"] is not None


MAPPED = {
    "call": ("Call Made", ("lead_name", "outcome")),
    "email": ("Email Sent", ("lead_name", "subject")),
    "conversion": ("Lead Converted", ("lead_name", "product")),
    "meeting": ("Meeting Scheduled", ("lead_name", "topic")),
    "assignment": ("Lead Assigned", ("lead_name", "lead_source")),
}


async def test_the_activity_timeline_shows_every_kind_of_activity(demo: LoadedDemo) -> None:
    events = {
        str(r["id"]): r
        for r in await demo.rows(
            "SELECT id, type, properties FROM kpi.events WHERE user_id = '101' "
            "AND type = ANY($1::text[])",
            list(MAPPED),
        )
    }
    async with demo.client() as client:
        response = await client.get(
            "/api/kpis/metrics/activities", params={"user_id": "101", "limit": 500}
        )
        conversions = await client.get(
            "/api/kpis/metrics/activities", params={"user_id": "101", "filter": "conversions"}
        )
    assert response.status_code == 200, response.text
    items = response.json()["activities"]
    assert {item["type"] for item in items} == set(MAPPED)
    for item in items:
        title, described = MAPPED[item["type"]]
        properties = json.loads(events[item["id"]]["properties"])
        assert item["title"] == title
        assert item["description"] == " - ".join(str(properties[p]) for p in described)
    assert conversions.status_code == 200, conversions.text
    converted = conversions.json()["activities"]
    assert converted and {item["type"] for item in converted} == {"conversion"}
