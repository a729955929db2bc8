"""Assignments tracked without a target: created without one (alone or in bulk), a target
left out from a date and set again from a later one, and the seed's routes unchanged."""

from __future__ import annotations

from httpx import AsyncClient

from tests.support.api import ASSIGNMENTS, assign, define, retarget
from tests.support.api import assignment_body as body
from tests.support.app import today
from tests.support.problems import assert_problem, error_locs


async def test_created_without_a_target(client: AsyncClient) -> None:
    kpi = await define(client)
    omitted = await assign(client, kpi["id"], "41", None, start_date="2025-01-01")
    explicit = await client.post(
        ASSIGNMENTS, json={**body(kpi["id"], "42", start_date="2025-01-01"), "target_value": None}
    )
    assert explicit.status_code == 201, explicit.text
    for created in (omitted, explicit.json()):
        assert created["target_value"] is None
        assert created["targets"] == [{"effective_from": "2025-01-01", "target_value": None}]
        read = (await client.get(f"{ASSIGNMENTS}/{created['id']}")).json()
        assert read == created


async def test_bulk_mixes_targets_and_none(client: AsyncClient) -> None:
    kpi = await define(client)
    items = [
        body(kpi["id"], "41", target_value=7, start_date="2025-01-01"),
        body(kpi["id"], "42", target_value=None, start_date="2025-01-01"),
        {**body(kpi["id"], "43", start_date="2025-01-01"), "target_value": None},
    ]
    response = await client.post(f"{ASSIGNMENTS}/bulk", json={"items": items})
    assert response.status_code == 201, response.text
    assert [i["target_value"] for i in response.json()["items"]] == [7, None, None]


async def test_target_left_out_from_a_date_and_set_again(client: AsyncClient) -> None:
    kpi = await define(client)
    created = await assign(client, kpi["id"], "42", 10, start_date="2025-01-01")
    cleared = await retarget(client, created["id"], None, "2025-03-01")
    assert cleared["target_value"] is None  # today is after March 2025
    again = await retarget(client, created["id"], 12, "2025-06-01")
    assert again["target_value"] == 12
    assert again["targets"] == [
        {"effective_from": "2025-01-01", "target_value": 10},
        {"effective_from": "2025-03-01", "target_value": None},
        {"effective_from": "2025-06-01", "target_value": 12},
    ]
    # A later one dated today leaves the target out from today on.
    now = await retarget(client, created["id"], None, today().isoformat())
    assert now["target_value"] is None
    audit = await client.get("/api/kpis/audit", params={"entity_type": "assignment"})
    assert audit.status_code == 200, audit.text
    updates = [e for e in audit.json()["items"] if e["action"] == "update"]
    assert {(e["before"]["target_value"], e["after"]["target_value"]) for e in updates} == {
        (10, None),
        (None, 12),
        (12, None),
    }


async def test_a_date_still_needs_a_target_or_null(client: AsyncClient) -> None:
    kpi = await define(client)
    created = await assign(client, kpi["id"], "42", 10, start_date="2025-01-01")
    url = f"{ASSIGNMENTS}/{created['id']}"
    response = await client.patch(url, json={"target_effective_from": "2025-03-01"})
    assert_problem(response, 422)
    # A target left out may not take effect before the assignment starts either.
    response = await client.patch(
        url, json={"target_value": None, "target_effective_from": "2024-12-31"}
    )
    assert ["body", "target_effective_from"] in error_locs(assert_problem(response, 422))
    assert (await client.get(url)).json() == created


async def test_seed_routes_keep_their_contract(client: AsyncClient) -> None:
    kpi = await define(client, aggregation_period="monthly")
    url = "/kpis/users/42/kpis/assign"
    # The seed's assign route still requires a target, as the seed does.
    for sent in ({}, {"target_value": None}):
        response = await client.post(url, json={"kpi_definition_id": kpi["id"], **sent})
        assert response.status_code == 422, (sent, response.text)
        assert "target_value" in response.json()["error"], response.text
    # A native assignment without one reads as null on the seed's user route, never 0.
    await assign(client, kpi["id"], "42", None, start_date="2025-01-01")
    [listed] = (await client.get("/kpis/users/42")).json()["kpis"]
    assert listed["target_value"] is None
