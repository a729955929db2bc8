"""Only admins read the SQL text of query KPIs; managers and members see the definition
without it, flagged `sql_hidden`, on every route that returns definitions."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import DEFINITIONS as URL
from tests.support.api import assign, define
from tests.support.auth import bearer

# A distinctive text, to look for anywhere in an answer.
SQL = (
    "SELECT u AS subject_id, 7 AS value /* secret_source_table */ "
    "FROM unnest(CAST(:subject_ids AS text[])) AS u"
)
ADMIN = bearer("1", "admin")
READERS = {"manager": bearer("2", "manager", teams=["support"]), "member": bearer("3", "member")}


async def _define(client: AsyncClient) -> dict[str, dict[str, Any]]:
    made = {}
    for key, config in [
        ("handwritten", {"sql": SQL}),
        ("builtin", {"query_key": "cases_resolved_count"}),
    ]:
        made[key] = await define(
            client, key, headers=ADMIN, calculation_type="query", config=config
        )
    assert made["handwritten"]["config"] == {"sql": SQL}
    assert made["handwritten"]["sql_hidden"] is False
    # The member's own assignment in the manager's team: the legacy user view embeds it.
    await assign(
        client,
        made["handwritten"]["id"],
        "3",
        5,
        headers=ADMIN,
        team_id="support",
        weight=50,
        start_date="2026-01-05",
    )
    return made


async def _reads(
    client: AsyncClient, headers: dict[str, str], made: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Every answer that carries the hand-written definition, by route."""
    definition = made["handwritten"]
    answers = {
        "list": await client.get(URL, headers=headers),
        "get": await client.get(f"{URL}/{definition['id']}", headers=headers),
        "by-key": await client.get(f"{URL}/by-key/handwritten", headers=headers),
        "legacy list": await client.get("/kpis/definitions", headers=headers),
        "legacy user": await client.get("/kpis/users/3", headers=headers),
    }
    for route, response in answers.items():
        assert response.status_code == 200, (route, response.text)
    listed = {d["key"]: d for d in answers["list"].json()["items"]}
    legacy = {d["key"]: d for d in answers["legacy list"].json()["definitions"]}
    [user_kpi] = answers["legacy user"].json()["kpis"]
    assert "config" not in user_kpi  # the seed's user view embeds no config at all
    return {
        "list": listed["handwritten"],
        "get": answers["get"].json(),
        "by-key": answers["by-key"].json(),
        "legacy": legacy["handwritten"],
        "builtin": listed["builtin"],
        "builtin legacy": legacy["builtin"],
        "texts": [r.text for r in answers.values()],
    }


@pytest.mark.parametrize("role", sorted(READERS))
async def test_managers_and_members_get_no_sql_text(jwt_client: AsyncClient, role: str) -> None:
    made = await _define(jwt_client)
    seen = await _reads(jwt_client, READERS[role], made)
    for route in ("list", "get", "by-key"):
        assert seen[route]["config"] == {}, route
        assert seen[route]["sql_hidden"] is True, route
        # Everything but the SQL text is as the admin saved it.
        expected = {**made["handwritten"], "config": {}, "sql_hidden": True}
        assert seen[route] == expected, route
    assert seen["legacy"]["config"] == {}
    assert seen["legacy"]["sql_hidden"] is True
    assert all("secret_source_table" not in text for text in seen["texts"])
    # A built-in query is code of the service, not an admin's text: it stays visible.
    assert seen["builtin"]["config"] == {"query_key": "cases_resolved_count"}
    assert seen["builtin"]["sql_hidden"] is False
    assert "sql_hidden" not in seen["builtin legacy"]
    # Nor can they reach the SQL through the audit log, which is the admins'.
    audit = await jwt_client.get("/api/kpis/audit", headers=READERS[role])
    assert audit.status_code == 403


async def test_admins_read_the_sql_text_everywhere(jwt_client: AsyncClient) -> None:
    made = await _define(jwt_client)
    seen = await _reads(jwt_client, ADMIN, made)
    for route in ("list", "get", "by-key"):
        assert seen[route] == made["handwritten"], route
        assert seen[route]["config"]["sql"] == SQL
    assert seen["legacy"]["config"] == {"sql": SQL}
    assert "sql_hidden" not in seen["legacy"]  # the seed's shape, unchanged for admins
    audit = await jwt_client.get(
        "/api/kpis/audit", headers=ADMIN, params={"entity_type": "definition"}
    )
    assert audit.status_code == 200
    created = [e for e in audit.json()["items"] if e["entity_id"] == str(made["handwritten"]["id"])]
    assert created[0]["after"]["config"]["sql"] == SQL
    assert created[0]["after"] == made["handwritten"]  # as the admin read it
