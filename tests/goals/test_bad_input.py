"""Goals refused: each a 4xx problem naming the field, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import define, manual_kpi
from tests.support.goals import GOALS, set_goal
from tests.support.problems import assert_problem

GOAL: dict[str, Any] = {
    "definition_key": "calls",
    "user_id": "42",
    "period_kind": "monthly",
    "period_start": "2026-03-01",
    "target_value": 10,
}


async def _counts(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        goals = await conn.scalar(text("SELECT count(*) FROM kpi.goals"))
        audit = await conn.scalar(
            text("SELECT count(*) FROM kpi.audit_entries WHERE entity_type = 'goal'")
        )
    return int(goals or 0), int(audit or 0)


@pytest.fixture
async def kpis(client: AsyncClient, db: Database) -> dict[str, Any]:
    calls = await manual_kpi(client, "calls", aggregation_period="daily")
    await manual_kpi(client, "churn", aggregation_period="quarterly", unit="percent")
    await manual_kpi(client, "weekly_calls", aggregation_period="weekly")
    await manual_kpi(client, "monthly_calls", aggregation_period="monthly")
    await define(client, key="team_calls", scope="team", aggregation_period="daily")
    await define(client, key="org_calls", scope="organization", aggregation_period="daily")
    old = await manual_kpi(client, "old_calls", aggregation_period="daily")
    assert (await client.delete(f"/api/kpis/definitions/{old['id']}")).status_code == 200
    existing = await set_goal(client, **GOAL)
    return {"calls": calls["id"], "goal": existing["id"]}


CREATE_REFUSALS: list[tuple[str, dict[str, Any], int, list[str | int]]] = [
    ("no KPI named", {"definition_key": None}, 422, ["body"]),
    ("both KPI references", {"definition_id": 1}, 422, ["body"]),
    ("an unknown key", {"definition_key": "nope"}, 422, ["body", "definition_key"]),
    (
        "an unknown id",
        {"definition_key": None, "definition_id": 999},
        422,
        ["body", "definition_id"],
    ),
    ("a key with capitals", {"definition_key": "Calls"}, 422, ["body", "definition_key"]),
    ("a team KPI", {"definition_key": "team_calls"}, 422, ["body", "definition_key"]),
    ("an organisation KPI", {"definition_key": "org_calls"}, 422, ["body", "definition_key"]),
    ("an inactive KPI", {"definition_key": "old_calls"}, 422, ["body", "definition_key"]),
    ("an unknown period kind", {"period_kind": "weekly"}, 422, ["body", "period_kind"]),
    (
        "a month finer than the KPI's quarter",
        {"definition_key": "churn"},
        422,
        ["body", "period_kind"],
    ),
    ("an end that is not the month's", {"period_end": "2026-03-30"}, 422, ["body", "period_end"]),
    ("a custom goal without end", {"period_kind": "custom"}, 422, ["body", "period_end"]),
    (
        "a custom goal without start",
        {"period_kind": "custom", "period_start": None, "period_end": "2026-03-05"},
        422,
        ["body", "period_start"],
    ),
    (
        "a custom end before its start",
        {"period_kind": "custom", "period_end": "2026-02-28"},
        422,
        ["body", "period_end"],
    ),
    (
        "a custom range of more than five years",
        {"period_kind": "custom", "period_start": "2020-01-01", "period_end": "2025-01-05"},
        422,
        ["body", "period_end"],
    ),
    (
        "a custom range where no week starts",
        {
            "definition_key": "weekly_calls",
            "period_kind": "custom",
            "period_start": "2026-03-03",
            "period_end": "2026-03-08",
        },
        422,
        ["body", "period_end"],
    ),
    (
        "a custom range where no month starts",
        {
            "definition_key": "monthly_calls",
            "period_kind": "custom",
            "period_start": "2026-03-02",
            "period_end": "2026-03-31",
        },
        422,
        ["body", "period_end"],
    ),
    ("no target", {"target_value": None}, 422, ["body", "target_value"]),
    ("a NaN target", {"target_value": "NaN"}, 422, ["body", "target_value"]),
    ("a target past 1e15", {"target_value": 1e16}, 422, ["body", "target_value"]),
    ("a user id past 64 characters", {"user_id": "u" * 65}, 422, ["body", "user_id"]),
    ("an unknown field", {"achieved_at": "2026-01-01T00:00:00Z"}, 422, ["body", "achieved_at"]),
    ("a date that is not one", {"period_start": "2026-02-30"}, 422, ["body", "period_start"]),
    ("the goal that exists", {}, 409, []),
]


@pytest.mark.parametrize(
    ("flaw", "change", "status", "loc"), CREATE_REFUSALS, ids=[c[0] for c in CREATE_REFUSALS]
)
async def test_create_refusals(
    client: AsyncClient,
    db: Database,
    kpis: dict[str, Any],
    flaw: str,
    change: dict[str, Any],
    status: int,
    loc: list[str | int],
) -> None:
    before = await _counts(db)
    body = {k: v for k, v in {**GOAL, **change}.items() if v is not None}
    response = await client.post(GOALS, json=body)
    assert_problem(response, status)
    if loc:
        assert [e["loc"][: len(loc)] for e in response.json()["errors"]][:1] == [loc]
    assert await _counts(db) == before


BULK_REFUSALS: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("no goals", {"goals": {}}, ["body", "goals"]),
    ("goals as a list", {"goals": [{"calls": 1}]}, ["body", "goals"]),
    ("101 goals", {"goals": {f"k{i}": 1 for i in range(101)}}, ["body", "goals"]),
    ("a key with a space", {"goals": {"my calls": 1}}, ["body", "goals", "my calls"]),
    ("a key with NUL", {"goals": {"calls\u0000": 1}}, ["body", "goals", "calls\u0000"]),
    ("a text target", {"goals": {"calls": "ten"}}, ["body", "goals", "calls"]),
    ("a null target", {"goals": {"calls": None}}, ["body", "goals", "calls"]),
    ("an unknown period", {"period": "weekly"}, ["body", "period"]),
    ("no period", {"period": None}, ["body", "period"]),
    ("an end that is not the month's", {"period_end": "2026-03-30"}, ["body", "period_end"]),
    ("an unknown field", {"goal_type": "revenue"}, ["body", "goal_type"]),
]


@pytest.mark.parametrize(
    ("flaw", "change", "loc"), BULK_REFUSALS, ids=[c[0] for c in BULK_REFUSALS]
)
async def test_bulk_refusals(
    client: AsyncClient,
    db: Database,
    kpis: dict[str, Any],
    flaw: str,
    change: dict[str, Any],
    loc: list[str | int],
) -> None:
    before = await _counts(db)
    valid = {
        "period": "monthly",
        "period_start": "2026-04-01",
        "user_id": "42",
        "goals": {"calls": 5},
    }
    body = {k: v for k, v in {**valid, **change}.items() if v is not None}
    for method in ("POST", "PUT"):
        response = await client.request(method, f"{GOALS}/bulk", json=body)
        assert response.status_code == 422, (method, response.text)
        assert response.json()["errors"][0]["loc"][: len(loc)] == loc, response.text
    assert await _counts(db) == before


UPDATE_REFUSALS: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("a null target", {"target_value": None}, ["body", "target_value"]),
    ("a null start", {"period_start": None}, ["body", "period_start"]),
    ("a null kind", {"period_kind": None}, ["body", "period_kind"]),
    ("an end that is not the month's", {"period_end": "2026-03-15"}, ["body", "period_end"]),
    (
        "a custom end before the start",
        {"period_kind": "custom", "period_end": "2026-02-01"},
        ["body", "period_end"],
    ),
    ("the KPI", {"definition_key": "churn"}, ["body", "definition_key"]),
    ("the user", {"user_id": "43"}, ["body", "user_id"]),
    ("an infinite target", {"target_value": "Infinity"}, ["body", "target_value"]),
]


@pytest.mark.parametrize(
    ("flaw", "change", "loc"), UPDATE_REFUSALS, ids=[c[0] for c in UPDATE_REFUSALS]
)
async def test_update_refusals(
    client: AsyncClient,
    db: Database,
    kpis: dict[str, Any],
    flaw: str,
    change: dict[str, Any],
    loc: list[str | int],
) -> None:
    before = await _counts(db)
    response = await client.patch(f"{GOALS}/{kpis['goal']}", json=change)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][: len(loc)] == loc, response.text
    assert await _counts(db) == before
    assert (await client.get(f"{GOALS}/{kpis['goal']}")).json()["target_value"] == 10


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=ten",
        "cursor=not-a-cursor",
        "active_on=2026-02-30",
        "user_id=%00",
        f"user_id={'u' * 65}",
        "definition_id=0",
        f"definition_id={2**63}",
        "definition_key=Calls",
        "period_kind=weekly",
    ],
)
async def test_list_refusals(client: AsyncClient, db: Database, query: str) -> None:
    response = await client.get(f"{GOALS}?{query}")
    assert_problem(response, 422)


@pytest.mark.parametrize("goal_id", ["0", "-1", "abc", str(2**63), "1.5"])
async def test_bad_goal_ids(client: AsyncClient, db: Database, goal_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"{GOALS}/{goal_id}", json={"target_value": 1} if method == "PATCH" else None
        )
        assert response.status_code == 422, (method, response.text)
