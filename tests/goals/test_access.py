"""Who sees and manages which goals: members their own, managers their teams', admins all,
another tenant nothing (DESIGN.md section 8)."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, record
from tests.support.auth import ACME_ADMIN, ADMIN, bearer
from tests.support.goals import GOALS, items_of

MEMBER_42, MEMBER_43 = bearer("42", "member"), bearer("43", "member")
MANAGER_T1 = bearer("m1", "manager", teams=["t1"])
MANAGER_T2 = bearer("m2", "manager", teams=["t2"])
MONTH = {"period_kind": "monthly", "period_start": "2026-03-01"}


async def _post(
    c: AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await c.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def world(jwt_client: AsyncClient, db: Database) -> dict[str, int]:
    """A KPI assigned to 42 (team t1) and 43 (team t2); a goal of each, set by an admin."""
    c = jwt_client
    kpi = await define(c, "calls", headers=ADMIN, aggregation_period="daily")
    for user, team in (("42", "t1"), ("43", "t2")):
        assignment = await assign(
            c, kpi["id"], user, 1, headers=ADMIN, team_id=team, start_date="2026-01-01"
        )
        await record(c, assignment["id"], "2026-03-02", 7, headers=ADMIN)
    g42 = await _post(
        c, GOALS, {"definition_key": "calls", "user_id": "42", **MONTH, "target_value": 10}, ADMIN
    )
    g43 = await _post(
        c, GOALS, {"definition_key": "calls", "user_id": "43", **MONTH, "target_value": 10}, ADMIN
    )
    return {"kpi": kpi["id"], "g42": g42["id"], "g43": g43["id"]}


async def _ids(c: AsyncClient, headers: dict[str, str], **params: Any) -> list[int]:
    return [
        g["id"]
        for g in items_of(await c.get(GOALS, headers=headers, params={"limit": 500, **params}))
    ]


async def test_members_see_and_manage_their_own_goals_only(
    jwt_client: AsyncClient, world: dict[str, int]
) -> None:
    c = jwt_client
    assert await _ids(c, MEMBER_42) == [world["g42"]]
    assert await _ids(c, MEMBER_42, user_id="43") == []
    own = await c.get(f"{GOALS}/{world['g42']}", headers=MEMBER_42)
    assert own.status_code == 200 and own.json()["current_value"] == 7
    theirs = f"{GOALS}/{world['g43']}"
    for method, body in (("GET", None), ("PATCH", {"target_value": 1}), ("DELETE", None)):
        response = await c.request(method, theirs, json=body, headers=MEMBER_42)
        assert response.status_code == 404, (method, response.text)
    for_43 = {
        "definition_key": "calls",
        "user_id": "43",
        "period_kind": "yearly",
        "period_start": "2026-01-01",
        "target_value": 1,
    }
    assert (await c.post(GOALS, json=for_43, headers=MEMBER_42)).status_code == 404
    bulk = {
        "period": "yearly",
        "period_start": "2026-01-01",
        "user_id": "43",
        "goals": {"calls": 1},
    }
    assert (await c.post(f"{GOALS}/bulk", json=bulk, headers=MEMBER_42)).status_code == 404
    # Their own, they set, change and delete; naming themselves is the same as not.
    mine = await _post(c, GOALS, {**for_43, "user_id": "42"}, MEMBER_42)
    assert (mine["user_id"], mine["created_by"]) == ("42", "42")
    implicit = await _post(
        c, f"{GOALS}/bulk", {**bulk, "user_id": None, "period_start": "2027-01-01"}, MEMBER_42
    )
    assert implicit["items"][0]["user_id"] == "42"
    changed = await c.patch(f"{GOALS}/{mine['id']}", json={"target_value": 2}, headers=MEMBER_42)
    assert changed.status_code == 200, changed.text
    deleted = await c.delete(f"{GOALS}/{mine['id']}", headers=MEMBER_42)
    assert deleted.status_code == 200, deleted.text
    assert (await c.get(theirs, headers=MEMBER_43)).status_code == 200
    audit = items_of(
        await c.get("/api/kpis/audit", headers=ADMIN, params={"entity_type": "goal", "limit": 500})
    )
    assert [(e["actor"], e["action"]) for e in audit if e["actor"] == "42"] == [
        ("42", "delete"),
        ("42", "update"),
        ("42", "create"),
        ("42", "create"),
    ]


async def test_managers_see_and_manage_their_teams_goals(
    jwt_client: AsyncClient, world: dict[str, int]
) -> None:
    c = jwt_client
    assert await _ids(c, MANAGER_T1) == [world["g42"]]
    assert await _ids(c, MANAGER_T2) == [world["g43"]]
    assert await _ids(c, MANAGER_T1, user_id="43") == []
    assert (await c.get(f"{GOALS}/{world['g43']}", headers=MANAGER_T1)).status_code == 404
    assert (
        await c.patch(f"{GOALS}/{world['g43']}", json={"target_value": 1}, headers=MANAGER_T1)
    ).status_code == 404
    changed = await c.patch(f"{GOALS}/{world['g42']}", json={"target_value": 7}, headers=MANAGER_T1)
    assert changed.status_code == 200 and changed.json()["status"] == "met", changed.text
    made = await _post(
        c,
        GOALS,
        {
            "definition_key": "calls",
            "user_id": "42",
            "period_kind": "quarterly",
            "period_start": "2026-01-01",
            "target_value": 30,
        },
        MANAGER_T1,
    )
    assert made["created_by"] == "m1"
    refused = await c.post(
        GOALS,
        headers=MANAGER_T1,
        json={
            "definition_key": "calls",
            "user_id": "43",
            "period_kind": "quarterly",
            "period_start": "2026-01-01",
            "target_value": 30,
        },
    )
    assert refused.status_code == 404, refused.text
    # Their own goals too, though they hold no assignment.
    own = await _post(c, GOALS, {"definition_key": "calls", **MONTH, "target_value": 1}, MANAGER_T1)
    assert own["user_id"] == "m1"
    assert await _ids(c, MANAGER_T1) == [world["g42"], made["id"], own["id"]]
    assert await _ids(c, MANAGER_T2) == [world["g43"]]
    assert (await c.delete(f"{GOALS}/{made['id']}", headers=MANAGER_T1)).status_code == 200


async def test_admins_see_everything_and_another_tenant_nothing(
    jwt_client: AsyncClient, world: dict[str, int]
) -> None:
    c = jwt_client
    assert await _ids(c, ADMIN) == [world["g42"], world["g43"]]
    before = [g for g in items_of(await c.get(GOALS, headers=ADMIN))]
    assert await _ids(c, ACME_ADMIN) == []
    for params in ({"user_id": "42"}, {"definition_id": world["kpi"]}, {"definition_key": "calls"}):
        assert await _ids(c, ACME_ADMIN, **params) == []
    for goal_id in (world["g42"], world["g43"]):
        for method, body in (("GET", None), ("PATCH", {"target_value": 1}), ("DELETE", None)):
            response = await c.request(method, f"{GOALS}/{goal_id}", json=body, headers=ACME_ADMIN)
            assert response.status_code == 404, (method, response.text)
    # Our KPI is unknown to acme, by key or id.
    for reference in ({"definition_key": "calls"}, {"definition_id": world["kpi"]}):
        response = await c.post(
            GOALS,
            headers=ACME_ADMIN,
            json={**reference, "user_id": "42", **MONTH, "target_value": 1},
        )
        assert response.status_code == 422, response.text
    bulk = await c.put(
        f"{GOALS}/bulk",
        headers=ACME_ADMIN,
        json={"period": "monthly", "user_id": "42", "goals": {"calls": 1}},
    )
    assert bulk.status_code == 422 and "calls" in bulk.json()["detail"], bulk.text
    assert items_of(await c.get(GOALS, headers=ADMIN)) == before
