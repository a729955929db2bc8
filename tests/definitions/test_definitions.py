"""KPI definitions through HTTP: CRUD, filters, pages, versions, config checks, roles, audit."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import define, instant
from tests.support.api import definition_body as body
from tests.support.auth import bearer
from tests.support.problems import assert_problem, error_locs


async def test_create_returns_the_stored_definition_with_defaults(client: AsyncClient) -> None:
    created = await define(client, description="Closed tickets", category="support")

    assert created["id"] >= 1
    assert created["key"] == "cases_resolved"
    assert created["name"] == "Cases resolved"
    assert created["description"] == "Closed tickets"
    assert created["category"] == "support"
    assert created["scope"] == "user"
    assert created["config"] == {}
    assert created["rollup"] == "sum"
    assert created["warning_threshold"] == 80
    assert created["score_cap"] == 150
    assert created["is_active"] is True
    assert created["version"] == 1
    assert created["created_by"] == "local-admin"
    assert created["created_at"] and created["updated_at"]

    by_id = await client.get(f"{URL}/{created['id']}")
    by_key = await client.get(f"{URL}/by-key/cases_resolved")
    assert by_id.status_code == by_key.status_code == 200
    assert by_id.json() == by_key.json() == created


@pytest.mark.parametrize(
    ("unit", "rollup"),
    [
        ("count", "sum"),
        ("currency", "sum"),
        ("percent", "avg"),
        ("hours", "avg"),
        ("minutes", "avg"),
        ("days", "avg"),
        ("none", "last"),
    ],
)
async def test_rollup_defaults_from_the_unit(client: AsyncClient, unit: str, rollup: str) -> None:
    assert (await define(client, unit=unit))["rollup"] == rollup


async def test_explicit_settings_are_kept(client: AsyncClient) -> None:
    created = await define(
        client,
        unit="percent",
        rollup="max",
        warning_threshold=90.5,
        score_cap=200,
        scope="team",
        is_active=False,
    )
    assert (created["unit"], created["rollup"], created["scope"]) == ("percent", "max", "team")
    assert created["warning_threshold"] == 90.5
    assert created["score_cap"] == 200
    assert created["is_active"] is False


async def test_duplicate_key_is_a_conflict_and_stores_nothing(client: AsyncClient) -> None:
    first = await define(client)
    problem = assert_problem(await client.post(URL, json=body(name="Other")), 409)
    assert "cases_resolved" in problem["detail"]
    listed = (await client.get(URL)).json()["items"]
    assert [d["id"] for d in listed] == [first["id"]]
    assert listed[0]["name"] == "Cases resolved"


async def test_unknown_ids_and_keys_are_404(client: AsyncClient) -> None:
    assert_problem(await client.get(f"{URL}/12345"), 404)
    assert_problem(await client.get(f"{URL}/by-key/nothing_here"), 404)
    assert_problem(await client.patch(f"{URL}/12345", json={"name": "x"}), 404)
    assert_problem(await client.delete(f"{URL}/12345"), 404)


async def test_list_filters(client: AsyncClient) -> None:
    sales = await define(client, "deals", category="sales")
    support = await define(client, "tickets", category="support")
    query = await define(
        client,
        "resolution",
        category="support",
        calculation_type="query",
        config={"query_key": "avg_resolution_time"},
        unit="hours",
        target_type="lower_better",
    )
    inactive = await define(client, "old", category="sales", is_active=False)

    async def ids(**params: Any) -> list[int]:
        response = await client.get(URL, params=params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]

    assert await ids() == [sales["id"], support["id"], query["id"], inactive["id"]]
    assert await ids(category="support") == [support["id"], query["id"]]
    assert await ids(calculation_type="query") == [query["id"]]
    assert await ids(calculation_type="manual", category="sales") == [sales["id"], inactive["id"]]
    assert await ids(is_active="false") == [inactive["id"]]
    assert await ids(is_active="true", category="sales") == [sales["id"]]
    assert await ids(category="nothing") == []


async def test_pages_cover_every_definition_exactly_once(client: AsyncClient) -> None:
    created = {(await define(client, f"kpi_{i}"))["id"] for i in range(7)}
    seen: list[int] = []
    sizes: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(URL, params=params)).json()
        sizes.append(len(page["items"]))
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert sorted(seen) == sorted(created) and len(seen) == 7


async def test_malformed_cursor_is_422(client: AsyncClient) -> None:
    problem = assert_problem(await client.get(URL, params={"cursor": "not-a-cursor"}), 422)
    assert ["query", "cursor"] in error_locs(problem)


@pytest.mark.parametrize(
    "change",
    [
        {"key": "renamed"},
        {"aggregation_period": "monthly"},
        {"scope": "team"},
        {"version": 7},
        {"created_by": "someone"},
    ],
)
async def test_immutable_fields_are_refused(client: AsyncClient, change: dict[str, Any]) -> None:
    created = await define(client)
    problem = assert_problem(await client.patch(f"{URL}/{created['id']}", json=change), 422)
    assert ["body", next(iter(change))] in error_locs(problem)
    assert (await client.get(f"{URL}/{created['id']}")).json() == created


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "unit",
        "target_type",
        "calculation_type",
        "config",
        "rollup",
        "warning_threshold",
        "score_cap",
        "is_active",
    ],
)
async def test_required_fields_cannot_be_nulled(client: AsyncClient, field: str) -> None:
    created = await define(client)
    problem = assert_problem(await client.patch(f"{URL}/{created['id']}", json={field: None}), 422)
    assert ["body", field] in error_locs(problem)
    assert (await client.get(f"{URL}/{created['id']}")).json() == created


async def test_descriptive_changes_keep_the_version(client: AsyncClient) -> None:
    created = await define(client, description="old", category="support")
    response = await client.patch(
        f"{URL}/{created['id']}",
        json={
            "name": "Resolved cases",
            "description": None,
            "category": "service",
            "is_active": False,
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Resolved cases"
    assert updated["description"] is None
    assert updated["category"] == "service"
    assert updated["is_active"] is False
    assert updated["version"] == 1
    assert instant(updated["updated_at"]) > instant(created["updated_at"])
    assert updated["created_at"] == created["created_at"]


@pytest.mark.parametrize(
    "change",
    [
        {"target_type": "lower_better"},
        {"unit": "hours"},
        {"rollup": "max"},
        {"warning_threshold": 70},
        {"score_cap": 120},
        {"calculation_type": "query", "config": {"query_key": "cases_resolved_count"}},
    ],
)
async def test_calculation_changes_raise_the_version(
    client: AsyncClient, change: dict[str, Any]
) -> None:
    created = await define(client)
    response = await client.patch(f"{URL}/{created['id']}", json=change)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    for name, value in change.items():
        assert updated[name] == value
    # Sending the same values again changes nothing that matters: no new version.
    again = (await client.patch(f"{URL}/{created['id']}", json=change)).json()
    assert again["version"] == 2


async def test_query_config_change_raises_the_version(client: AsyncClient) -> None:
    created = await define(
        client, calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    response = await client.patch(
        f"{URL}/{created['id']}", json={"config": {"query_key": "avg_resolution_time"}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["config"] == {"query_key": "avg_resolution_time"}
    assert response.json()["version"] == 2


async def test_changing_the_type_to_manual_clears_the_config(client: AsyncClient) -> None:
    created = await define(
        client, calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    updated = (
        await client.patch(f"{URL}/{created['id']}", json={"calculation_type": "manual"})
    ).json()
    assert (updated["calculation_type"], updated["config"], updated["version"]) == ("manual", {}, 2)


async def test_deactivate_keeps_the_definition(client: AsyncClient) -> None:
    created = await define(client)
    response = await client.delete(f"{URL}/{created['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert response.json()["version"] == 1
    fetched = (await client.get(f"{URL}/{created['id']}")).json()
    assert fetched["is_active"] is False
    assert [
        d["id"] for d in (await client.get(URL, params={"is_active": False})).json()["items"]
    ] == [created["id"]]


async def test_roles_admin_writes_everyone_reads(jwt_client: AsyncClient) -> None:
    admin = bearer("boss", "admin")
    created = (await jwt_client.post(URL, json=body(), headers=admin)).json()
    assert created["created_by"] == "boss"
    for who in (bearer("m1", "manager", teams=["t1"]), bearer("u1", "member")):
        assert (await jwt_client.get(URL, headers=who)).json()["items"] == [created]
        assert (await jwt_client.get(f"{URL}/{created['id']}", headers=who)).json() == created
        assert_problem(await jwt_client.post(URL, json=body("other"), headers=who), 403)
        assert_problem(
            await jwt_client.patch(f"{URL}/{created['id']}", json={"name": "x"}, headers=who), 403
        )
        assert_problem(await jwt_client.delete(f"{URL}/{created['id']}", headers=who), 403)
    assert (await jwt_client.get(f"{URL}/{created['id']}", headers=admin)).json() == created
    assert len((await jwt_client.get(URL, headers=admin)).json()["items"]) == 1


async def test_another_tenant_sees_nothing(jwt_client: AsyncClient) -> None:
    created = (await jwt_client.post(URL, json=body(), headers=bearer("a", "admin"))).json()
    other = bearer("a", "admin", tenant="acme")
    assert (await jwt_client.get(URL, headers=other)).json()["items"] == []
    assert_problem(await jwt_client.get(f"{URL}/{created['id']}", headers=other), 404)
    assert_problem(await jwt_client.get(f"{URL}/by-key/cases_resolved", headers=other), 404)
    assert_problem(
        await jwt_client.patch(f"{URL}/{created['id']}", json={"name": "x"}, headers=other), 404
    )
    assert_problem(await jwt_client.delete(f"{URL}/{created['id']}", headers=other), 404)
    # The same key is free in another tenant.
    theirs = await jwt_client.post(URL, json=body(), headers=other)
    assert theirs.status_code == 201
    mine = await jwt_client.get(f"{URL}/{created['id']}", headers=bearer("a", "admin"))
    assert mine.json() == created


async def test_every_mutation_is_audited(client: AsyncClient) -> None:
    created = await define(client)
    updated = (await client.patch(f"{URL}/{created['id']}", json={"score_cap": 120})).json()
    deactivated = (await client.delete(f"{URL}/{created['id']}")).json()

    response = await client.get("/api/kpis/audit", params={"entity_type": "definition"})
    entries = list(reversed(response.json()["items"]))
    assert [(e["action"], e["entity_id"]) for e in entries] == [
        ("create", str(created["id"])),
        ("update", str(created["id"])),
        ("deactivate", str(created["id"])),
    ]
    assert entries[0]["before"] is None and entries[0]["after"]["key"] == "cases_resolved"
    assert (entries[1]["before"]["score_cap"], entries[1]["after"]["score_cap"]) == (150, 120)
    assert (entries[1]["before"]["version"], entries[1]["after"]["version"]) == (1, 2)
    assert entries[1]["after"] == updated
    assert (entries[2]["before"]["is_active"], entries[2]["after"]["is_active"]) == (True, False)
    assert entries[2]["after"] == deactivated
    assert {e["actor"] for e in entries} == {"local-admin"}
