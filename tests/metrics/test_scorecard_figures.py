"""The scorecard view's figures recomputed by hand: a hand-worked team, seed 003's personal
KPIs, a random data set in plain Python, edge values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from tests.support.api import manual_kpi, record
from tests.support.expected import change_of, dense, num, status_of, trend_of, weighted
from tests.support.metrics import (
    FEB,
    MONTHS,
    Held,
    hand_worked_team,
    held,
    ok,
    random_dataset,
)


async def test_hand_worked_scorecard(client: AsyncClient) -> None:
    ids = await hand_worked_team(client)
    card = await ok(client, "scorecard", user_id="ann", period_kind="monthly", date=FEB)
    assert (
        card["user_id"],
        card["period_kind"],
        card["period_start"],
        card["period_end"],
        card["is_final"],
    ) == ("ann", "monthly", "2026-02-01", "2026-02-28", True)
    kpis = {k["definition_key"]: k for k in card["kpis"]}
    assert list(kpis) == ["calls", "handle_time", "quality"]
    # calls 12 of 10 = 120 %; handle time 2 / 1.6 = 125 % (lower is better, from 4 h: -60 %,
    # improving); quality 81 against exactly 90: 100 - 10 = 90 %, further from 90 than
    # January's 90, so declining.
    expected = {
        "calls": (12, 10, 120, 120, "met", 8, 50, "improving", 50, ids["ann_calls"]),
        "handle_time": (1.6, 2, 125, 125, "met", 4, -60, "improving", 25, ids["ann_handle"]),
        "quality": (81, 90, 90, 90, "at_risk", 90, -10, "declining", 25, ids["ann_quality"]),
    }
    fields = (
        "value",
        "target",
        "achievement",
        "score",
        "status",
        "previous_value",
        "change_pct",
        "trend",
        "weight",
        "assignment_id",
    )
    for key, values in expected.items():
        assert tuple(kpis[key][f] for f in fields) == values, key
        assert kpis[key]["measured"] is True and kpis[key]["team_id"] == "t1"
    assert kpis["handle_time"]["unit"] == "hours"
    assert kpis["handle_time"]["target_type"] == "lower_better"
    # (50 x 120 + 25 x 125 + 25 x 90) / 100
    assert card["overall_score"] == 113.75
    # February in t1: cid 150 (20 of 10, capped), ann and bob 113.75, dee unmeasured.
    # January: cid 150, bob 100, ann (50 x 80 + 25 x 50 + 25 x 100) / 100 = 77.5, dee 50.
    assert card["team"] == {
        "team_id": "t1",
        "score": 113.75,
        "rank": 2,
        "team_size": 4,
        "ranked": 3,
        "previous_rank": 3,
        "rank_change": 1,
    }
    assert card["teams"] == ["t1"]

    bob = await ok(client, "scorecard", user_id="bob", date=FEB)
    assert bob["team"]["rank"] == 2 and bob["team"]["rank_change"] == 0
    dee = await ok(client, "scorecard", user_id="dee", date=FEB)
    assert dee["overall_score"] is None
    assert dee["kpis"][0]["measured"] is False and dee["kpis"][0]["value"] is None
    assert dee["kpis"][0]["target"] == 10
    assert dee["team"] == {
        "team_id": "t1",
        "score": None,
        "rank": None,
        "team_size": 4,
        "ranked": 3,
        "previous_rank": 4,
        "rank_change": None,
    }
    eve = await ok(client, "scorecard", user_id="eve", date=FEB)
    assert eve["team"] == {
        "team_id": "t2",
        "score": 150,
        "rank": 1,
        "team_size": 1,
        "ranked": 1,
        "previous_rank": None,
        "rank_change": None,
    }


async def test_seed_003_personal_kpis_are_answered_by_scorecards(client: AsyncClient) -> None:
    """Seed 003 section A (GET /agent/analytics/kpis) field by field, from two scorecards."""
    monthly = {
        "leads_handled": ("count", "higher_better", 40, 43, 47),
        "conversion_rate": ("percent", "higher_better", 60, 60.75, 68.1),
        "revenue": ("currency", "higher_better", 12000, 10488, 12450),
        "response_time_hours": ("hours", "lower_better", 2, 1.5, 1.2),
        "satisfaction": ("none", "higher_better", 4.5, 4.5, 4.7),
        "satisfaction_count": ("count", "higher_better", 20, 20, 23),
    }
    definitions: dict[str, dict[str, Any]] = {}
    for key, (unit, target_type, target, before, now) in monthly.items():
        definitions[key] = await manual_kpi(client, key, unit=unit, target_type=target_type)
        assignment = await held(client, definitions[key], "agent123", target, team="sales")
        await record(client, assignment, "2026-04-01", before)
        await record(client, assignment, "2026-05-01", now)
    weekly = await manual_kpi(client, "leads_this_week", aggregation_period="weekly")
    week = await held(client, weekly, "agent123", 10, team="sales")
    await record(client, week, "2026-05-25", 12)
    # Fourteen colleagues on revenue alone (target 100, so value = score, capped at 150).
    may = [150, 140, 110, 105, 95, 90, 85, 80, 70, 60, 50, 40, 30, 20]
    april = [150, 140, 130, 120, 100, 95, 90, 85, 80, 70, 60, 50, 40, 30]
    for i, (now, before) in enumerate(zip(may, april, strict=True)):
        colleague = await held(client, definitions["revenue"], f"agent{i:03d}", 100, team="sales")
        await record(client, colleague, "2026-04-01", before)
        await record(client, colleague, "2026-05-01", now)

    card = await ok(
        client, "scorecard", user_id="agent123", period_kind="monthly", date="2026-05-31"
    )
    this_week = await ok(
        client, "scorecard", user_id="agent123", period_kind="weekly", date="2026-05-31"
    )
    kpis = {k["definition_key"]: k for k in card["kpis"]}
    answered = {
        "kpis": {
            "leadsHandled": kpis["leads_handled"]["value"],
            "leadsThisWeek": this_week["kpis"][0]["value"],
            "conversionRate": kpis["conversion_rate"]["value"],
            "totalRevenue": kpis["revenue"]["value"],
            "responseTimeHours": kpis["response_time_hours"]["value"],
            "satisfactionScore": kpis["satisfaction"]["value"],
            "satisfactionCount": kpis["satisfaction_count"]["value"],
            "teamRanking": card["team"]["rank"],
            "totalAgents": card["team"]["team_size"],
        },
        "trends": {
            "leads": kpis["leads_handled"]["change_pct"],
            "conversion": kpis["conversion_rate"]["change_pct"],
            "revenue": kpis["revenue"]["change_pct"],
            "response": kpis["response_time_hours"]["change_pct"],
            "satisfaction": kpis["satisfaction"]["change_pct"],
            "ranking": card["team"]["rank_change"],
        },
    }
    # agent123's overall, the mean of six equally weighted scores. May: 47/40 = 117.5,
    # 68.1/60 = 113.5, 12450/12000 = 103.75, 2/1.2 = 166.67 capped at 150, 4.7/4.5 = 104.44,
    # 23/20 = 115: 117.37, third behind 150 and 140. April: 107.5, 101.25, 87.4, 133.33,
    # 100, 100: 104.91, fifth behind 150, 140, 130, 120. Moved up 2, as in the seed.
    # Trends: (47 - 43) / 43, (68.1 - 60.75) / 60.75, (12450 - 10488) / 10488,
    # (1.2 - 1.5) / 1.5 (negative: faster), (4.7 - 4.5) / 4.5.
    assert answered == {
        "kpis": {
            "leadsHandled": 47,
            "leadsThisWeek": 12,
            "conversionRate": 68.1,
            "totalRevenue": 12450,
            "responseTimeHours": 1.2,
            "satisfactionScore": 4.7,
            "satisfactionCount": 23,
            "teamRanking": 3,
            "totalAgents": 15,
        },
        "trends": {
            "leads": 9.302326,
            "conversion": 12.098765,
            "revenue": 18.707094,
            "response": -20,
            "satisfaction": 4.444444,
            "ranking": 2,
        },
    }
    assert kpis["response_time_hours"]["trend"] == "improving"


def expected_card(data: list[Held], user: str, month: str) -> dict[str, Any]:
    """The scorecard recomputed in plain Python from the recorded rows."""
    before = MONTHS[MONTHS.index(month) - 1] if MONTHS.index(month) else None
    mine = sorted((h for h in data if h.user == user), key=lambda h: h.key)
    kpis = []
    for h in mine:
        value = h.values.get(month)
        previous = h.values.get(before) if before else None
        achievement = h.achievement(month)
        kpis.append(
            {
                "definition_key": h.key,
                "assignment_id": h.assignment_id,
                "team_id": h.team,
                "weight": num(h.weight),
                "target": num(h.target),
                "value": num(value),
                "measured": value is not None,
                "achievement": num(achievement),
                "score": num(h.score(month)),
                "status": None if achievement is None else status_of(achievement),
                # Previous value, change and trend are the stored measurement's: none without one.
                "previous_value": None if value is None else num(previous),
                "change_pct": None if value is None else num(change_of(value, previous)),
                "trend": None
                if value is None
                else trend_of(value, previous, h.target_type, h.target),
            }
        )

    def scores(of_month: str | None) -> dict[str, Decimal | None]:
        members = {h.user for h in data if h.team == mine[0].team}
        return (
            {
                m: weighted((h.weight, h.score(of_month)) for h in data if h.user == m)
                for m in members
            }
            if of_month
            else {}
        )

    now, then = scores(month), scores(before)
    rank, previous_rank = dense(now).get(user), dense(then).get(user)
    team = {
        "team_id": mine[0].team,
        "score": num(now[user]),
        "rank": rank,
        "team_size": len(now),
        "ranked": len(dense(now)),
        "previous_rank": previous_rank,
        "rank_change": None if rank is None or previous_rank is None else previous_rank - rank,
    }
    return {
        "overall_score": num(weighted((h.weight, h.score(month)) for h in mine)),
        "kpis": kpis,
        "team": team,
        "teams": [mine[0].team],
    }


async def test_random_data_set_recomputed_in_plain_python(client: AsyncClient) -> None:
    data = await random_dataset(client, seed=20260217)
    users = sorted({h.user for h in data})
    assert len(users) >= 10
    # The seed gives the edges too: zero targets and weights, missing values, tied ranks.
    assert any(h.target == 0 for h in data) and any(h.weight == 0 for h in data)
    assert any(len(h.values) < len(MONTHS) for h in data)
    ranks = [expected_card(data, u, MONTHS[1])["team"] for u in users]
    assert len({(t["team_id"], t["rank"]) for t in ranks if t["rank"]}) < sum(
        1 for t in ranks if t["rank"]
    )
    compared = (
        "definition_key",
        "assignment_id",
        "team_id",
        "weight",
        "target",
        "value",
        "measured",
        "achievement",
        "score",
        "status",
        "previous_value",
        "change_pct",
        "trend",
    )
    for month in MONTHS:
        for user in users:
            card = await ok(client, "scorecard", user_id=user, date=month)
            got = {
                "overall_score": card["overall_score"],
                "team": card["team"],
                "teams": card["teams"],
                "kpis": [{f: k[f] for f in compared} for k in card["kpis"]],
            }
            assert got == expected_card(data, user, month), (month, user)


async def test_edge_values(client: AsyncClient) -> None:
    """Zero targets, a zero lower-is-better value, the score cap, weights of zero."""
    more = await manual_kpi(client, "more", score_cap=200)
    zero = await manual_kpi(client, "zero")
    less = await manual_kpi(client, "less", unit="hours", target_type="lower_better")
    exact = await manual_kpi(client, "exact", unit="none", target_type="exact")
    warned = await manual_kpi(client, "warned", warning_threshold=50)
    rows = [
        (more, 1, 3, 10),
        (zero, 0, 3, 10),
        (less, 2, 0, 30),
        (exact, 0, 1, 30),
        (warned, 10, 6, 0),
    ]
    for definition, target, value, weight in rows:
        assignment = await held(client, definition, "zed", target, weight=weight)
        await record(client, assignment, "2026-03-01", value)
    card = await ok(client, "scorecard", user_id="zed", date="2026-03-31")
    got = {k["definition_key"]: (k["achievement"], k["score"], k["status"]) for k in card["kpis"]}
    # 3 of 1: 300 %, scored at this KPI's cap of 200. Target 0, higher is better, 3 >= 0:
    # 100. Lower is better, 0 h against 2: 100. Exact 0 missed by 1: 0. 6 of 10 is 60 %:
    # at risk above this KPI's threshold of 50.
    assert got == {
        "more": (300, 200, "met"),
        "zero": (100, 100, "met"),
        "less": (100, 100, "met"),
        "exact": (0, 0, "off_track"),
        "warned": (60, 60, "at_risk"),
    }
    # The weight-0 KPI does not count: (10 x 200 + 10 x 100 + 30 x 100 + 30 x 0) / 80.
    assert card["overall_score"] == 75
