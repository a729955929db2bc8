"""Assignments through HTTP: create, read, list, change, effective-dated targets, end, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import (
    ASSIGNMENTS as URL,
)
from tests.support.api import (
    DEFINITIONS,
    assign,
    define,
    instant,
    listed_ids,
)
from tests.support.api import (
    assignment_body as body,
)
from tests.support.app import today
from tests.support.problems import assert_problem, error_locs


@pytest.fixture
async def kpi(client: AsyncClient) -> dict[str, Any]:
    """A user-scope manual definition."""
    return await define(client)


async def test_create_with_defaults(client: AsyncClient, kpi: dict[str, Any]) -> None:
    created = await assign(client, kpi["id"], "agent123", target_value=25.5)
    day = today().isoformat()
    assert created["definition_id"] == kpi["id"]
    assert created["definition_key"] == "cases_resolved"
    assert (created["subject_type"], created["subject_id"]) == ("user", "agent123")
    assert created["team_id"] is None
    assert created["target_value"] == 25.5
    assert created["weight"] == 100
    assert created["baseline_value"] is None
    assert (created["start_date"], created["end_date"]) == (day, None)
    assert created["is_active"] is True
    assert created["assigned_by"] == "local-admin"
    assert created["targets"] == [{"effective_from": day, "target_value": 25.5}]
    assert (await client.get(f"{URL}/{created['id']}")).json() == created


async def test_create_by_definition_key_with_every_field(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    response = await client.post(
        URL,
        json={
            "definition_key": "cases_resolved",
            "subject_type": "user",
            "subject_id": "42",
            "team_id": "support",
            "target_value": 40,
            "weight": 37.5,
            "baseline_value": 5,
            "start_date": "2025-01-06",
            "end_date": "2025-12-28",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["definition_id"] == kpi["id"]
    assert (created["team_id"], created["weight"], created["baseline_value"]) == (
        "support",
        37.5,
        5,
    )
    assert (created["start_date"], created["end_date"]) == ("2025-01-06", "2025-12-28")
    assert created["is_active"] is (today().isoformat() <= "2025-12-28")
    assert created["targets"] == [{"effective_from": "2025-01-06", "target_value": 40}]


@pytest.mark.parametrize(
    ("reference", "loc"),
    [
        ({"definition_id": 999}, ["body", "definition_id"]),
        ({"definition_key": "no_such_kpi"}, ["body", "definition_key"]),
    ],
)
async def test_unknown_definition_is_a_field_error(
    client: AsyncClient, kpi: dict[str, Any], reference: dict[str, Any], loc: list[str]
) -> None:
    payload = {"subject_type": "user", "subject_id": "42", "target_value": 1} | reference
    assert loc in error_locs(assert_problem(await client.post(URL, json=payload), 422))
    assert await listed_ids(client) == []


@pytest.mark.parametrize("reference", [{}, {"definition_id": 1, "definition_key": "x"}])
async def test_exactly_one_definition_reference(
    client: AsyncClient, kpi: dict[str, Any], reference: dict[str, Any]
) -> None:
    payload = {"subject_type": "user", "subject_id": "42", "target_value": 1} | reference
    assert_problem(await client.post(URL, json=payload), 422)
    assert await listed_ids(client) == []


async def test_inactive_definition_is_a_conflict(client: AsyncClient, kpi: dict[str, Any]) -> None:
    await client.delete(f"{DEFINITIONS}/{kpi['id']}")
    problem = assert_problem(await client.post(URL, json=body(kpi["id"])), 409)
    assert "inactive" in problem["detail"]
    assert await listed_ids(client) == []


async def test_subject_type_must_match_the_scope(client: AsyncClient, kpi: dict[str, Any]) -> None:
    team_kpi = await define(client, "team_output", scope="team")
    cases = [(kpi["id"], "team"), (team_kpi["id"], "user"), (kpi["id"], "organization")]
    for definition_id, subject_type in cases:
        response = await client.post(URL, json=body(definition_id, subject_type=subject_type))
        assert ["body", "subject_type"] in error_locs(assert_problem(response, 422))
    assert await listed_ids(client) == []
    created = await assign(client, team_kpi["id"], "support", subject_type="team")
    assert (created["subject_type"], created["subject_id"]) == ("team", "support")


async def test_organization_subject_is_the_tenant(client: AsyncClient) -> None:
    org_kpi = await define(client, "revenue", scope="organization", unit="currency")
    created = await assign(
        client, org_kpi["id"], None, subject_type="organization", target_value=1_000_000
    )
    assert (created["subject_type"], created["subject_id"]) == ("organization", "default")
    response = await client.post(URL, json=body(org_kpi["id"], "acme", subject_type="organization"))
    assert ["body", "subject_id"] in error_locs(assert_problem(response, 422))


async def test_user_subject_needs_an_id(client: AsyncClient, kpi: dict[str, Any]) -> None:
    response = await client.post(URL, json=body(kpi["id"], None))
    assert ["body", "subject_id"] in error_locs(assert_problem(response, 422))


async def test_end_before_start_is_refused(client: AsyncClient, kpi: dict[str, Any]) -> None:
    response = await client.post(
        URL, json=body(kpi["id"], start_date="2025-03-10", end_date="2025-03-09")
    )
    assert ["body", "end_date"] in error_locs(assert_problem(response, 422))
    yesterday = (today() - timedelta(days=1)).isoformat()
    response = await client.post(URL, json=body(kpi["id"], end_date=yesterday))
    assert ["body", "end_date"] in error_locs(assert_problem(response, 422))
    assert await listed_ids(client) == []
    same_day = await assign(client, kpi["id"], start_date="2025-03-10", end_date="2025-03-10")
    assert same_day["end_date"] == "2025-03-10"


async def test_same_definition_subject_and_start_is_a_conflict(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    first = await assign(client, kpi["id"], "42", start_date="2025-01-01")
    problem = assert_problem(
        await client.post(
            URL, json=body(kpi["id"], "42", start_date="2025-01-01", target_value=99)
        ),
        409,
    )
    assert problem["detail"] == (
        f"Assignment {first['id']} already gives this KPI to user '42' from 2025-01-01"
    )
    assert await listed_ids(client) == [first["id"]]
    assert (await client.get(f"{URL}/{first['id']}")).json() == first
    # Another start date, subject or definition is a different assignment.
    await assign(client, kpi["id"], "42", start_date="2025-02-01")
    await assign(client, kpi["id"], "43", start_date="2025-01-01")
    other = await define(client, "other_kpi")
    await assign(client, other["id"], "42", start_date="2025-01-01")
    assert len(await listed_ids(client)) == 4


async def test_list_filters(client: AsyncClient, kpi: dict[str, Any]) -> None:
    other = await define(client, "other_kpi")
    team_kpi = await define(client, "team_output", scope="team")
    a = await assign(
        client, kpi["id"], "42", team_id="t1", start_date="2025-01-01", end_date="2025-01-31"
    )
    b = await assign(client, kpi["id"], "43", team_id="t2", start_date="2025-01-15")
    c = await assign(client, other["id"], "42", start_date="2025-02-01")
    d = await assign(
        client, team_kpi["id"], "t1", subject_type="team", team_id="t1", start_date="2024-12-01"
    )

    assert await listed_ids(client) == [a["id"], b["id"], c["id"], d["id"]]
    assert await listed_ids(client, user_id="42") == [a["id"], c["id"]]
    assert await listed_ids(client, subject_type="team") == [d["id"]]
    assert await listed_ids(client, subject_id="t1") == [d["id"]]
    assert await listed_ids(client, team_id="t1") == [a["id"], d["id"]]
    assert await listed_ids(client, definition_id=kpi["id"]) == [a["id"], b["id"]]
    assert await listed_ids(client, active_on="2025-01-31") == [a["id"], b["id"], d["id"]]
    assert await listed_ids(client, active_on="2025-02-01") == [b["id"], c["id"], d["id"]]
    assert await listed_ids(client, active_on="2024-12-31") == [d["id"]]
    assert await listed_ids(client, user_id="42", definition_id=other["id"]) == [c["id"]]
    assert await listed_ids(client, user_id="nobody") == []


async def test_pages_cover_every_assignment_exactly_once(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    created = [(await assign(client, kpi["id"], f"user{i}"))["id"] for i in range(7)]
    seen: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(URL, params=params)).json()
        sizes.append(len(page["items"]))
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert sorted(seen) == sorted(created) and len(set(seen)) == 7


async def test_target_change_is_effective_dated(client: AsyncClient, kpi: dict[str, Any]) -> None:
    created = await assign(client, kpi["id"], start_date="2025-01-01", target_value=10)
    url = f"{URL}/{created['id']}"
    day = today().isoformat()

    changed = await client.patch(url, json={"target_value": 12})
    assert changed.status_code == 200, changed.text
    assert changed.json()["target_value"] == 12
    assert changed.json()["targets"] == [
        {"effective_from": "2025-01-01", "target_value": 10},
        {"effective_from": day, "target_value": 12},
    ]

    # A change dated in the past sits between; the target in force today stays 12.
    past = (
        await client.patch(url, json={"target_value": 11, "target_effective_from": "2025-06-01"})
    ).json()
    assert past["target_value"] == 12
    assert [t["target_value"] for t in past["targets"]] == [10, 11, 12]

    # A change dated in the future is recorded but not yet in force.
    future_day = (today() + timedelta(days=30)).isoformat()
    future = (
        await client.patch(url, json={"target_value": 20, "target_effective_from": future_day})
    ).json()
    assert future["target_value"] == 12
    assert future["targets"][-1] == {"effective_from": future_day, "target_value": 20}

    # The same date again replaces that date's target; the others stay.
    replaced = (
        await client.patch(url, json={"target_value": 9.5, "target_effective_from": "2025-01-01"})
    ).json()
    assert replaced["targets"] == [
        {"effective_from": "2025-01-01", "target_value": 9.5},
        {"effective_from": "2025-06-01", "target_value": 11},
        {"effective_from": day, "target_value": 12},
        {"effective_from": future_day, "target_value": 20},
    ]
    assert (await client.get(url)).json() == replaced


async def test_target_change_before_the_start_is_refused(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    created = await assign(client, kpi["id"], start_date="2025-01-01")
    url = f"{URL}/{created['id']}"
    response = await client.patch(
        url, json={"target_value": 5, "target_effective_from": "2024-12-31"}
    )
    assert ["body", "target_effective_from"] in error_locs(assert_problem(response, 422))
    response = await client.patch(url, json={"target_effective_from": "2025-02-01"})
    assert_problem(response, 422)
    assert (await client.get(url)).json() == created


async def test_future_assignment_shows_its_first_target(
    client: AsyncClient, kpi: dict[str, Any]
) -> None:
    start = (today() + timedelta(days=10)).isoformat()
    created = await assign(client, kpi["id"], start_date=start, target_value=7)
    assert (created["target_value"], created["is_active"]) == (7, False)
    # Without a date, a new target applies from the start, not from before it.
    changed = (await client.patch(f"{URL}/{created['id']}", json={"target_value": 8})).json()
    assert changed["targets"] == [{"effective_from": start, "target_value": 8}]
    assert changed["target_value"] == 8


async def test_update_other_fields(client: AsyncClient, kpi: dict[str, Any]) -> None:
    created = await assign(
        client, kpi["id"], team_id="t1", baseline_value=3, start_date="2025-01-01"
    )
    url = f"{URL}/{created['id']}"
    response = await client.patch(
        url, json={"weight": 40, "baseline_value": None, "end_date": "2025-06-30", "team_id": "t2"}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (
        updated["weight"],
        updated["baseline_value"],
        updated["end_date"],
        updated["team_id"],
    ) == (40, None, "2025-06-30", "t2")
    assert updated["is_active"] is False
    assert updated["targets"] == created["targets"]
    assert instant(updated["updated_at"]) > instant(created["updated_at"])
    reopened = (await client.patch(url, json={"end_date": None, "team_id": None})).json()
    assert (reopened["end_date"], reopened["team_id"], reopened["is_active"]) == (None, None, True)


@pytest.mark.parametrize(
    "change",
    [
        {"weight": None},
        {"end_date": "2024-12-31"},
        {"weight": 101},
        {"start_date": "2025-02-01"},
        {"subject_id": "43"},
        {"definition_id": 2},
    ],
)
async def test_bad_updates_change_nothing(
    client: AsyncClient, kpi: dict[str, Any], change: dict[str, Any]
) -> None:
    created = await assign(client, kpi["id"], start_date="2025-01-01")
    url = f"{URL}/{created['id']}"
    assert_problem(await client.patch(url, json=change), 422)
    assert (await client.get(url)).json() == created


async def test_end(client: AsyncClient, kpi: dict[str, Any]) -> None:
    first = await assign(client, kpi["id"], "42", start_date="2025-01-01")
    ended = await client.post(f"{URL}/{first['id']}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["end_date"] == today().isoformat()
    assert ended.json()["is_active"] is True  # the end date is the last day in force

    second = await assign(client, kpi["id"], "43", start_date="2025-01-01")
    dated = (await client.post(f"{URL}/{second['id']}/end", json={"end_date": "2025-03-31"})).json()
    assert (dated["end_date"], dated["is_active"]) == ("2025-03-31", False)
    assert await listed_ids(client, active_on="2025-04-01") == [first["id"]]

    response = await client.post(f"{URL}/{second['id']}/end", json={"end_date": "2024-12-31"})
    assert ["body", "end_date"] in error_locs(assert_problem(response, 422))
    assert_problem(await client.post(f"{URL}/{second['id']}/end", json={"when": "x"}), 422)
    assert_problem(await client.post(f"{URL}/999/end"), 404)
    assert (await client.get(f"{URL}/{second['id']}")).json() == dated


async def test_every_mutation_is_audited(client: AsyncClient, kpi: dict[str, Any]) -> None:
    created = await assign(client, kpi["id"], start_date="2025-01-01", target_value=10)
    url = f"{URL}/{created['id']}"
    updated = (await client.patch(url, json={"target_value": 15, "weight": 50})).json()
    ended = (await client.post(f"{url}/end", json={"end_date": "2030-01-01"})).json()

    response = await client.get("/api/kpis/audit", params={"entity_type": "assignment"})
    entries = list(reversed(response.json()["items"]))
    assert [(e["action"], e["entity_id"]) for e in entries] == [
        ("create", str(created["id"])),
        ("update", str(created["id"])),
        ("end", str(created["id"])),
    ]
    assert (entries[0]["before"], entries[0]["after"]) == (None, created)
    assert (entries[1]["before"], entries[1]["after"]) == (created, updated)
    assert entries[1]["before"]["target_value"] == 10
    assert entries[1]["after"]["target_value"] == 15
    assert (entries[2]["before"], entries[2]["after"]) == (updated, ended)
    assert {(e["actor"], e["actor_role"]) for e in entries} == {("local-admin", "admin")}
