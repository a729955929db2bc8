"""POST /assignments/bulk: all items stored together, or none and the failing indexes named."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import ASSIGNMENTS as URL
from tests.support.api import DEFINITIONS, assign, define, listed_ids
from tests.support.api import assignment_body as body
from tests.support.app import today
from tests.support.auth import bearer
from tests.support.database import statements_sent
from tests.support.problems import assert_problem, error_locs

BULK = f"{URL}/bulk"


@pytest.fixture
async def kpi(client: AsyncClient) -> dict[str, Any]:
    """A user-scope manual definition."""
    return await define(client)


async def test_bulk_creates_every_item_in_order(client: AsyncClient, kpi: dict[str, Any]) -> None:
    other = await define(client, "other_kpi")
    items = [
        body(kpi["id"], "42", target_value=10),
        {
            "definition_key": "other_kpi",
            "subject_type": "user",
            "subject_id": "42",
            "target_value": 3.25,
            "weight": 20,
            "team_id": "t1",
            "start_date": "2025-01-01",
        },
        body(kpi["id"], "agent123", target_value=0),
    ]
    response = await client.post(BULK, json={"items": items})
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    day = today().isoformat()
    assert [(a["definition_id"], a["subject_id"], a["target_value"]) for a in created] == [
        (kpi["id"], "42", 10),
        (other["id"], "42", 3.25),
        (kpi["id"], "agent123", 0),
    ]
    assert created[1]["definition_key"] == "other_kpi"
    assert (created[1]["weight"], created[1]["team_id"]) == (20, "t1")
    assert [a["start_date"] for a in created] == [day, "2025-01-01", day]
    assert created[1]["targets"] == [{"effective_from": "2025-01-01", "target_value": 3.25}]
    assert await listed_ids(client) == [a["id"] for a in created]
    for item in created:
        assert (await client.get(f"{URL}/{item['id']}")).json() == item

    audit = (await client.get("/api/kpis/audit", params={"entity_type": "assignment"})).json()
    assert sorted((e["entity_id"], e["action"]) for e in audit["items"]) == sorted(
        (str(a["id"]), "create") for a in created
    )
    assert {e["entity_id"]: e["after"] for e in audit["items"]} == {
        str(a["id"]): a for a in created
    }


async def test_one_bad_item_stores_nothing(client: AsyncClient, kpi: dict[str, Any]) -> None:
    items = [body(kpi["id"], f"user{i}") for i in range(5)]
    items[3]["subject_id"] = "bad\x00id"
    problem = assert_problem(await client.post(BULK, json={"items": items}), 422)
    assert ["body", "items", 3, "subject_id"] in error_locs(problem)
    assert await listed_ids(client) == []


async def test_service_refusals_name_each_failing_item(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    items = [body(kpi["id"], f"user{i}") for i in range(6)]
    items[1]["definition_id"] = 999
    items[2]["subject_type"] = "team"
    items[4]["end_date"] = "2000-01-01"
    problem = assert_problem(await client.post(BULK, json={"items": items}), 422)
    assert error_locs(problem) == [
        ["body", "items", 1, "definition_id"],
        ["body", "items", 2, "subject_type"],
        ["body", "items", 4, "end_date"],
    ]
    assert problem["detail"].startswith("items.1.definition_id: no such KPI definition")
    assert await listed_ids(client) == []
    assert (await client.get("/api/kpis/audit")).json()["items"][0]["entity_type"] == "definition"


async def test_duplicates_inside_the_batch_are_a_conflict(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    items = [
        body(kpi["id"], "42", start_date="2025-01-01"),
        body(kpi["id"], "43", start_date="2025-01-01"),
        body(kpi["id"], "42", start_date="2025-01-01", target_value=5),
    ]
    problem = assert_problem(await client.post(BULK, json={"items": items}), 409)
    assert error_locs(problem) == [["body", "items", 2]]
    assert "item 0" in problem["errors"][0]["msg"]
    assert await listed_ids(client) == []


async def test_conflict_with_stored_assignments(client: AsyncClient, kpi: dict[str, Any]) -> None:
    stored = await assign(client, kpi["id"], "43", start_date="2025-01-01")
    items = [
        body(kpi["id"], "42", start_date="2025-01-01"),
        body(kpi["id"], "43", start_date="2025-01-01"),
    ]
    problem = assert_problem(await client.post(BULK, json={"items": items}), 409)
    assert error_locs(problem) == [["body", "items", 1]]
    assert f"assignment {stored['id']}" in problem["detail"]
    assert await listed_ids(client) == [stored["id"]]


async def test_inactive_definition_in_a_batch(client: AsyncClient, kpi: dict[str, Any]) -> None:
    old = await define(client, "old_kpi")
    await client.delete(f"{DEFINITIONS}/{old['id']}")
    items = [body(kpi["id"], "42"), body(old["id"], "42")]
    problem = assert_problem(await client.post(BULK, json={"items": items}), 409)
    assert error_locs(problem) == [["body", "items", 1]]
    assert await listed_ids(client) == []


@pytest.mark.parametrize(
    "payload", [{"items": []}, {}, {"items": "x"}, {"items": [{}]}, {"items": [], "extra": 1}]
)
async def test_malformed_batches(
    client: AsyncClient, kpi: dict[str, Any], payload: dict[str, Any]
) -> None:
    assert_problem(await client.post(BULK, json=payload), 422)
    assert await listed_ids(client) == []


async def test_batch_size_limits(client: AsyncClient, kpi: dict[str, Any]) -> None:
    too_many = [body(kpi["id"], f"u{i}") for i in range(1001)]
    assert_problem(await client.post(BULK, json={"items": too_many}), 422)
    assert await listed_ids(client) == []
    response = await client.post(BULK, json={"items": too_many[:1000]})
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1000
    assert len(set(await listed_ids(client))) == 1000


async def test_manager_batch_outside_their_teams_is_forbidden(jwt_client: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    kpi = await define(jwt_client, headers=admin)
    manager = bearer("m1", "manager", teams=["t1"])
    items = [
        body(kpi["id"], "42", team_id="t1"),
        body(kpi["id"], "43", team_id="t2"),
        body(kpi["id"], "44"),
    ]
    problem = assert_problem(
        await jwt_client.post(BULK, json={"items": items}, headers=manager), 403
    )
    assert error_locs(problem) == [["body", "items", 1], ["body", "items", 2]]
    assert await listed_ids(jwt_client, headers=admin) == []
    response = await jwt_client.post(BULK, json={"items": items[:1]}, headers=manager)
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["assigned_by"] == "m1"
    member = bearer("42", "member")
    assert_problem(await jwt_client.post(BULK, json={"items": items[:1]}, headers=member), 403)


async def test_a_full_batch_takes_a_few_statements_and_keeps_its_order(
    client: AsyncClient, db: Database, kpi: dict[str, Any]
) -> None:
    items = [body(kpi["id"], f"u{i}", target_value=i) for i in range(1000)]
    async with statements_sent(db) as sent:
        response = await client.post(BULK, json={"items": items})
    assert response.status_code == 201, response.text
    statements = [s.split()[0] + " " + s.split()[2] for s in sent]
    assert [s for s in statements if s.startswith("INSERT")] == [
        "INSERT kpi.assignments",
        "INSERT kpi.assignment_targets",
        "INSERT kpi.audit_entries",
    ]
    assert len(statements) <= 6
    created = response.json()["items"]
    assert [(a["subject_id"], a["target_value"]) for a in created] == [
        (f"u{i}", i) for i in range(1000)
    ]
    assert all(
        a["targets"] == [{"effective_from": today().isoformat(), "target_value": i}]
        for i, a in enumerate(created)
    )
