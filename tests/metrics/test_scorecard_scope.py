"""What a scorecard covers: only the period kind asked and the latest assignment, the team
asked among several, the latest final period in the organisation's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import manual_kpi, record
from tests.support.app import app_client
from tests.support.metrics import (
    FEB,
    held,
    ok,
    view,
)
from tests.support.problems import assert_problem


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
