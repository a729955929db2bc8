"""Seed 003's bulk shape: POST /goals/bulk creates, PUT /goals/bulk sets, all or nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define, manual_kpi
from tests.support.auth import ADMIN, bearer
from tests.support.expected import month_end, month_start, q
from tests.support.goals import GOALS, given, items_of

BULK = f"{GOALS}/bulk"
# Seed 003 section 1.B, byte for byte.
SEED_BODY = {
    "period": "monthly",
    "goals": {
        "conversions": 15,
        "revenue": 15000,
        "responseTimeHours": 2.0,
    },
}
AGENT = bearer("agent123", "member")


async def _seed_kpis(client: AsyncClient) -> None:
    for key, unit, target_type in (
        ("conversions", "count", "higher_better"),
        ("revenue", "currency", "higher_better"),
        ("response_time_hours", "hours", "lower_better"),
    ):
        await define(
            client,
            key,
            headers=ADMIN,
            name=key,
            unit=unit,
            target_type=target_type,
            aggregation_period="daily",
        )


async def _stored(db: Database) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT g.user_id, d.key, g.period_kind, g.period_start, g.period_end, "
                "g.target_value FROM kpi.goals g JOIN kpi.definitions d ON d.id = g.definition_id "
                "ORDER BY g.id"
            )
        )
        return [tuple(r) for r in rows]


async def test_the_seeds_body_creates_then_sets_the_agents_goals(
    jwt_client: AsyncClient, db: Database
) -> None:
    c = jwt_client
    await _seed_kpis(c)
    today = datetime.now(ZoneInfo("UTC")).date()
    month = today.replace(day=1).isoformat()

    created = await c.post(BULK, headers=AGENT, json=SEED_BODY)
    assert created.status_code == 201, created.text
    items = created.json()["items"]
    # In the request's order; the camelCase key names the snake_case KPI.
    assert [(g["definition_key"], g["target_value"]) for g in items] == [
        ("conversions", 15),
        ("revenue", 15000),
        ("response_time_hours", 2.0),
    ]
    assert {
        (g["user_id"], g["period_kind"], g["period_start"], g["created_by"]) for g in items
    } == {("agent123", "monthly", month, "agent123")}
    assert all(g["status"] == "no_data" and g["progress"] is None for g in items)

    again = await c.post(BULK, headers=AGENT, json=SEED_BODY)
    assert again.status_code == 409, again.text
    assert str(items[0]["id"]) in again.json()["detail"]

    # PUT replaces the targets of that period (and only of the KPIs it names).
    changed = {"period": "monthly", "goals": {"conversions": 20, "responseTimeHours": 1.5}}
    put = await c.put(BULK, headers=AGENT, json=changed)
    assert put.status_code == 200, put.text
    assert [(g["id"], g["target_value"]) for g in put.json()["items"]] == [
        (items[0]["id"], 20),
        (items[2]["id"], 1.5),
    ]
    assert [row[1:] for row in await _stored(db)] == [
        ("conversions", "monthly", month_start(today), month_end(today), Decimal(20)),
        ("revenue", "monthly", month_start(today), month_end(today), Decimal(15000)),
        ("response_time_hours", "monthly", month_start(today), month_end(today), Decimal("1.5")),
    ]
    # PUT of the seed's body on a fresh period creates them (here: the next quarter's start).
    fresh = await c.put(
        BULK, headers=AGENT, json={**SEED_BODY, "period": "quarterly", "period_start": "2027-02-11"}
    )
    assert fresh.status_code == 200, fresh.text
    assert {(g["period_start"], g["period_end"]) for g in fresh.json()["items"]} == {
        ("2027-01-01", "2027-03-31")
    }
    assert len(items_of(await c.get(GOALS, headers=AGENT, params={"limit": 500}))) == 6

    audit = items_of(
        await c.get("/api/kpis/audit", headers=ADMIN, params={"entity_type": "goal", "limit": 500})
    )
    assert sorted(e["action"] for e in audit) == ["create"] * 6 + ["update"] * 2
    updates = {
        e["entity_id"]: (e["before"]["target_value"], e["after"]["target_value"])
        for e in audit
        if e["action"] == "update"
    }
    assert updates == {str(items[0]["id"]): (15, 20), str(items[2]["id"]): (2.0, 1.5)}
    assert {e["actor"] for e in audit} == {"agent123"}


async def test_the_answer_carries_progress(client: AsyncClient, db: Database) -> None:
    calls = await manual_kpi(client, "calls", aggregation_period="daily")
    csat = await manual_kpi(client, "csat", aggregation_period="weekly", unit="percent")
    await given(client, calls, "42", {"2026-03-02": 4, "2026-03-20": 5, "2026-04-01": 9})
    await given(client, csat, "42", {"2026-03-02": "80.5", "2026-03-09": 91, "2026-03-30": 60})
    response = await client.post(
        BULK,
        json={
            "period": "monthly",
            "period_start": "2026-03-31",
            "user_id": "42",
            "goals": {"calls": 10, "csat": 90},
        },
    )
    assert response.status_code == 201, response.text
    calls_goal, csat_goal = response.json()["items"]
    # calls: 4 + 5 (April 1st is outside) = 9 of 10.
    assert (calls_goal["current_value"], calls_goal["progress"], calls_goal["status"]) == (
        9,
        90,
        "at_risk",
    )
    # csat (avg): weeks starting 2 March, 9 March and 30 March (its start is in March):
    # (80.5 + 91 + 60) / 3 = 77.166667 (six places), 85.740741% of 90.
    mean = q((Decimal("80.5") + 91 + 60) / 3)
    assert Decimal(str(csat_goal["current_value"])) == mean
    assert Decimal(str(csat_goal["progress"])) == q(mean / 90 * 100)
    assert csat_goal["periods_counted"] == 3 and csat_goal["status"] == "at_risk"


async def test_refused_maps_store_nothing(client: AsyncClient, db: Database) -> None:
    await manual_kpi(client, "calls", aggregation_period="daily")
    await define(client, key="team_calls", scope="team", aggregation_period="daily")
    await manual_kpi(client, "churn", aggregation_period="quarterly", unit="percent")
    body = {"period": "monthly", "period_start": "2026-03-01", "user_id": "42"}
    await client.post(BULK, json={**body, "goals": {"calls": 1}})
    before = await _stored(db)

    unknown = await client.post(
        BULK, json={**body, "goals": {"calls": 2, "conversions": 3, "leadsHandled": 4}}
    )
    assert unknown.status_code == 422, unknown.text
    problem = unknown.json()
    assert "conversions" in problem["detail"] and "leadsHandled" in problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == [
        ["body", "goals", "conversions"],
        ["body", "goals", "leadsHandled"],
    ]
    for goals, named, says in (
        ({"calls": 2, "team_calls": 3}, "team_calls", "measured per team"),
        ({"calls": 2, "churn": 3}, "churn", "cannot be set on a KPI measured quarterly"),
        ({"calls": 2, "Calls": 3}, "Calls", "same KPI"),
    ):
        for method in ("POST", "PUT"):
            refused = await client.request(method, BULK, json={**body, "goals": goals})
            assert refused.status_code == 422, (goals, refused.text)
            assert refused.json()["errors"] == [
                {
                    "loc": ["body", "goals", named],
                    "msg": refused.json()["errors"][0]["msg"],
                    "type": "value_error",
                }
            ]
            assert says in refused.json()["errors"][0]["msg"], refused.text
    put_unknown = await client.put(BULK, json={**body, "goals": {"calls": 5, "nope": 1}})
    assert put_unknown.status_code == 422 and "nope" in put_unknown.json()["detail"]
    assert await _stored(db) == before


async def test_managers_and_admins_act_for_someone(jwt_client: AsyncClient, db: Database) -> None:
    c = jwt_client
    kpi = (await define(c, "calls", headers=ADMIN, aggregation_period="daily"))["id"]
    for user, team in (("42", "t1"), ("43", "t2")):
        await assign(c, kpi, user, 1, headers=ADMIN, team_id=team, start_date="2026-01-01")
    manager = bearer("m1", "manager", teams=["t1"])
    body = {"period": "monthly", "period_start": "2026-05-01", "goals": {"calls": 30}}
    mine = await c.post(BULK, headers=manager, json={**body, "user_id": "42"})
    assert mine.status_code == 201 and mine.json()["items"][0]["user_id"] == "42", mine.text
    assert mine.json()["items"][0]["created_by"] == "m1"
    for headers in (manager, bearer("42", "member")):
        refused = await c.put(BULK, headers=headers, json={**body, "user_id": "43"})
        assert refused.status_code == 404, refused.text
    admin = await c.put(BULK, headers=ADMIN, json={**body, "user_id": "43"})
    assert admin.status_code == 200 and admin.json()["items"][0]["user_id"] == "43"
    assert [row[0] for row in await _stored(db)] == ["42", "43"]


async def test_custom_ranges_in_bulk(client: AsyncClient, db: Database) -> None:
    await manual_kpi(client, "calls", aggregation_period="daily")
    base = {"period": "custom", "user_id": "42", "goals": {"calls": 3}}
    made = await client.post(
        BULK, json={**base, "period_start": "2026-03-10", "period_end": "2026-04-09"}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["items"][0]["period_start"], made.json()["items"][0]["period_end"]) == (
        "2026-03-10",
        "2026-04-09",
    )
    for body, loc in (
        ({**base, "period_start": "2026-03-10"}, "period_end"),
        ({**base, "period_end": "2026-03-10"}, "period_start"),
        ({**base, "period_start": "2026-03-10", "period_end": "2026-03-09"}, "period_end"),
    ):
        refused = await client.put(BULK, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["loc"] == ["body", loc]
