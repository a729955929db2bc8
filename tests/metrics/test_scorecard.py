"""GET /metrics/scorecard: a user's KPIs of a period, overall score and team standing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import manual_kpi, record
from tests.support.app import app_client
from tests.support.auth import bearer
from tests.support.database import compilations
from tests.support.expected import change_of, dense, num, status_of, trend_of, weighted
from tests.support.metrics import (
    MONTHS,
    Held,
    hand_worked_team,
    held,
    ok,
    random_dataset,
    statements_as_team_grows,
    view,
)
from tests.support.problems import assert_problem

D = Decimal
FEB = "2026-02-10"


def strings(tree: Any) -> set[str]:
    """Every string (keys and values) in a JSON document."""
    if isinstance(tree, dict):
        return set(tree).union(*(strings(v) for v in tree.values()))
    if isinstance(tree, list):
        return set().union(*(strings(v) for v in tree))
    return {tree} if isinstance(tree, str) else set()


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


async def test_only_the_period_kind_and_the_latest_assignment_count(client: AsyncClient) -> None:
    monthly = await manual_kpi(client, "monthly_kpi")
    weekly = await manual_kpi(client, "weekly_kpi", aggregation_period="weekly")
    await held(client, weekly, "ann", 5)
    old = await held(client, monthly, "ann", 10, end_date="2026-02-14", weight=10)
    new = await held(client, monthly, "ann", 20, start="2026-02-15", weight=30)
    await record(client, old, "2026-02-01", 10)
    await record(client, new, "2026-02-01", 10)
    card = await ok(client, "scorecard", user_id="ann", date=FEB)
    assert [
        (k["definition_key"], k["assignment_id"], k["target"], k["achievement"])
        for k in card["kpis"]
    ] == [("monthly_kpi", new, 20, 50)]
    assert card["overall_score"] == 50
    # A new target from March: February keeps the one it was measured with, March shows
    # the new one (not measured yet); deactivated KPIs leave the scorecard.
    patched = await client.patch(
        f"/api/kpis/assignments/{new}",
        json={"target_value": 25, "target_effective_from": "2026-03-01"},
    )
    assert patched.status_code == 200, patched.text
    march = await ok(client, "scorecard", user_id="ann", date="2026-03-05")
    assert [(k["target"], k["measured"]) for k in march["kpis"]] == [(25, False)]
    assert (await ok(client, "scorecard", user_id="ann", date=FEB))["kpis"][0]["target"] == 20
    week = await ok(client, "scorecard", user_id="ann", period_kind="weekly", date=FEB)
    assert (week["period_start"], week["period_end"]) == ("2026-02-09", "2026-02-15")
    assert [k["definition_key"] for k in week["kpis"]] == ["weekly_kpi"]
    deleted = await client.delete(f"/api/kpis/definitions/{monthly['id']}")
    assert deleted.status_code in (200, 204), deleted.text
    assert (await ok(client, "scorecard", user_id="ann", date=FEB))["kpis"] == []
    # Before the assignments started, nothing is in force.
    assert (await ok(client, "scorecard", user_id="ann", date="2024-06-01"))["kpis"] == []


async def test_several_teams(client: AsyncClient) -> None:
    a, b, c = [await manual_kpi(client, k) for k in ("ka", "kb", "kc")]
    ids = [
        await held(client, kpi, user, 10, team=team)
        for kpi, user, team in (
            (a, "ann", "t2"),
            (b, "ann", "t2"),
            (c, "ann", "t1"),
            (c, "bob", "t1"),
        )
    ]
    for assignment, value in zip(ids, (10, 5, 20, 30), strict=True):
        await record(client, assignment, "2026-02-01", value)
    card = await ok(client, "scorecard", user_id="ann", date=FEB)
    # Two of ann's KPIs are under t2: t2 is her default team.
    assert card["teams"] == ["t1", "t2"]
    assert card["team"]["team_id"] == "t2" and card["team"]["team_size"] == 1
    assert card["overall_score"] == 100  # (100 + 50 + 150) / 3
    assert card["team"]["score"] == 75  # t2's KPIs only: (100 + 50) / 2
    in_t1 = await ok(client, "scorecard", user_id="ann", date=FEB, team_id="t1")
    # In t1 ann (150 on kc) ties bob (30 of 10 -> 150).
    assert in_t1["team"] == {
        "team_id": "t1",
        "score": 150,
        "rank": 1,
        "team_size": 2,
        "ranked": 2,
        "previous_rank": None,
        "rank_change": None,
    }
    response = await view(client, "scorecard", user_id="ann", date=FEB, team_id="t9")
    assert_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["query", "team_id"]
    # With as many KPIs under each team, the first by id.
    await held(client, c, "cat", 1, team="t4")
    await held(client, b, "cat", 1, team="t3")
    assert (await ok(client, "scorecard", user_id="cat", date=FEB))["team"]["team_id"] == "t3"


async def test_default_period_is_the_latest_final_in_the_time_zone(
    db: Database, database_url: str, client: AsyncClient
) -> None:
    daily = await manual_kpi(client, "daily_calls", aggregation_period="daily")
    assignment = await held(client, daily, "ann", 10, start="2020-01-01")
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        yesterday = datetime.now(UTC).astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
        await record(client, assignment, yesterday.isoformat(), 7)
        async with app_client(db, database_url, timezone=zone) as local:
            card = await ok(local, "scorecard", user_id="ann", period_kind="daily")
        assert card["period_start"] == card["period_end"] == yesterday.isoformat(), zone
        assert card["kpis"][0]["value"] == 7 and card["is_final"] is True
    # Kiritimati (UTC+14) and Pago Pago (UTC-11) are never on the same day.
    now = datetime.now(UTC)
    assert (
        now.astimezone(ZoneInfo("Pacific/Kiritimati")).date()
        != now.astimezone(ZoneInfo("Pacific/Pago_Pago")).date()
    )
    month = await ok(client, "scorecard", user_id="ann")
    this_month = datetime.now(UTC).date().replace(day=1)
    assert month["period_end"] == (this_month - timedelta(days=1)).isoformat()


async def test_access(client: AsyncClient, jwt_client: AsyncClient) -> None:
    await hand_worked_team(client)
    other = await manual_kpi(client, "other_team_kpi")
    ann_t2 = await held(client, other, "ann", 10, team="t2")
    await record(client, ann_t2, "2026-02-01", 5)
    member = bearer("ann", "member")
    own = await ok(jwt_client, "scorecard", member, date=FEB)
    assert own["user_id"] == "ann" and own["team"]["rank"] == 2
    assert own["team"]["team_size"] == 4 and len(own["kpis"]) == 4
    # Rank and size only: nobody else's id or score appears anywhere in the answer.
    assert strings(own) & {"bob", "cid", "dee", "eve"} == set()
    assert set(own["team"]) == {
        "team_id",
        "score",
        "rank",
        "team_size",
        "ranked",
        "previous_rank",
        "rank_change",
    }
    for who in ("bob", "eve", "nobody"):
        response = await view(jwt_client, "scorecard", member, user_id=who, date=FEB)
        assert_problem(response, 404, who)
        assert set(response.json()) == {"type", "title", "status", "detail", "instance"}
    # A manager of t1 reads t1's members, and only what is recorded under t1.
    manager = bearer("m1", "manager", teams=["t1"])
    seen = await ok(jwt_client, "scorecard", manager, user_id="ann", date=FEB)
    assert [k["definition_key"] for k in seen["kpis"]] == ["calls", "handle_time", "quality"]
    assert seen["teams"] == ["t1"] and seen["overall_score"] == 113.75
    assert_problem(await view(jwt_client, "scorecard", manager, user_id="eve", date=FEB), 404)
    other_manager = bearer("m3", "manager", teams=["t3"])
    assert_problem(await view(jwt_client, "scorecard", other_manager, user_id="ann"), 404)
    # Another tenant's admin finds nothing of ours.
    acme = await ok(
        jwt_client, "scorecard", bearer("boss", "admin", tenant="acme"), user_id="ann", date=FEB
    )
    assert (acme["kpis"], acme["team"], acme["teams"], acme["overall_score"]) == (
        [],
        None,
        [],
        None,
    )


async def test_bad_input_is_a_problem(client: AsyncClient) -> None:
    for params in (
        {"period_kind": "hourly"},
        {"date": "2026-13-01"},
        {"date": "1800-01-01"},
        {"date": "3000-01-01"},
        {"user_id": "x" * 65},
        {"team_id": ""},
        {"unknown": "1"},
        {"user_id": "a\x00b"},
    ):
        assert_problem(await view(client, "scorecard", **params), 422, params)


async def test_statements_do_not_grow_with_the_team(client: AsyncClient, db: Database) -> None:
    seen = await statements_as_team_grows(client, db, (2, 12), "scorecard", user_id="u00", date=FEB)
    counts = [count for count, _ in seen]
    assert counts[0] == counts[1] <= 4, counts
    assert [card["team"]["team_size"] for _, card in seen] == [2, 12]


async def test_statements_are_compiled_once(client: AsyncClient, db: Database) -> None:
    await hand_worked_team(client)
    await ok(client, "scorecard", user_id="ann", date=FEB)
    seen = []
    for params in (
        {"user_id": "bob", "date": FEB},
        {"user_id": "eve", "date": "2026-01-20"},
        {"user_id": "cid", "date": "2026-02-01", "team_id": "t1"},
    ):
        async with compilations(db) as compiled:
            await ok(client, "scorecard", **params)
        seen.append(compiled)
    # Other users, periods and teams reuse the statements compiled once (a statement without
    # a cache key, such as one holding a VALUES list, would be compiled for every request).
    assert len(seen[0]) == 2 and seen[0] == seen[1] == seen[2], seen
