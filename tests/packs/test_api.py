"""/packs over HTTP: admins list, read and install; managers and members are refused; a
tenant sees only its own installs; an unknown pack or a bad body is a problem."""

from __future__ import annotations

import pytest
from httpx import AsyncClient

from kpi_service.packs.registry import PACKS
from tests.support.auth import bearer
from tests.support.packs import PACKS as ROUTE
from tests.support.packs import install
from tests.support.problems import assert_problem, error_locs

ADMIN = bearer("boss", "admin")
OTHER_ADMIN = bearer("boss", "admin", tenant="acme")


async def test_an_admin_lists_the_packs_with_the_tenants_installed_versions(
    jwt_client: AsyncClient,
) -> None:
    await install(jwt_client, "crm", headers=ADMIN)
    ours = (await jwt_client.get(ROUTE, headers=ADMIN)).json()
    assert [(p["name"], p["version"]) for p in ours] == [(p.name, p.version) for p in PACKS.all()]
    assert {p["name"]: p["installed_version"] for p in ours} == {
        "agent": None,
        "crm": 1,
        "revenue": None,
        "saas": None,
        "support": None,
    }
    theirs = (await jwt_client.get(ROUTE, headers=OTHER_ADMIN)).json()
    assert {p["installed_version"] for p in theirs} == {None}
    shown = (await jwt_client.get(f"{ROUTE}/crm", headers=OTHER_ADMIN)).json()
    assert shown["installed_version"] is None


async def test_a_pack_shows_its_kpis_assignments_alerts_and_tables(client: AsyncClient) -> None:
    shown = (await client.get(f"{ROUTE}/agent")).json()
    pack = PACKS.get("agent")
    assert pack is not None
    assert [d["key"] for d in shown["definitions"]] == pack.keys
    assert {a["key"]: a["weight"] for a in shown["user_assignments"] if a["weight"]} == {
        "agent_conversion_rate": 40,
        "agent_satisfaction": 35,
        "agent_response_time": 25,
    }
    assert [a["key"] for a in shown["organisation_assignments"]] == [
        "agent_org_leads",
        "agent_org_revenue",
        "agent_org_conversion_rate",
        "agent_org_response_time",
        "agent_org_satisfaction",
    ]
    assert [t["name"] for t in shown["alert_templates"]] == [t["name"] for t in pack.alerts]
    [leads] = shown["reads"]
    assert (leads["kind"], leads["name"], leads["dated_by"]) == ("table", "leads", "created_at")
    assert "satisfaction_rating" in leads["columns"]
    assert leads["user_column"] == "assigned_agent_id"
    # The organisation's stocks of the crm pack are tracked without a target.
    crm = (await client.get(f"{ROUTE}/crm")).json()["organisation_assignments"]
    assert {a["target_value"] for a in crm if a["key"].startswith("crm_org_stage_")} == {None}
    # Seed 003's timeline items, as the seed names them.
    assert [(a["event_type"], a["type"], a["title"], a["filter"]) for a in shown["activities"]] == [
        ("call", "call", "Call Made", "calls"),
        ("email", "email", "Email Sent", "emails"),
        ("conversion", "conversion", "Lead Converted", "conversions"),
        ("meeting", "meeting", "Meeting Scheduled", None),
        ("assignment", "assignment", "Lead Assigned", None),
    ]


@pytest.mark.parametrize(
    "who",
    [bearer("m1", "manager", teams=["t1"]), bearer("42", "member")],
    ids=["manager", "member"],
)
async def test_managers_and_members_are_refused(
    jwt_client: AsyncClient, who: dict[str, str]
) -> None:
    for method, url in (
        ("GET", ROUTE),
        ("GET", f"{ROUTE}/support"),
        ("POST", f"{ROUTE}/support/install"),
    ):
        response = await jwt_client.request(method, url, headers=who, json={})
        assert_problem(response, 403)
    listed = (await jwt_client.get(ROUTE, headers=ADMIN)).json()
    assert {p["installed_version"] for p in listed} == {None}


async def test_an_unknown_pack_or_a_bad_body_is_a_problem(client: AsyncClient) -> None:
    assert_problem(await client.get(f"{ROUTE}/billing"), 404)
    assert_problem(await client.post(f"{ROUTE}/billing/install", json={}), 404)
    bad = await client.post(f"{ROUTE}/crm/install", json={"start_date": "2026-02-30"})
    assert_problem(bad, 422)
    assert "start_date" in bad.text
    bad = await client.post(f"{ROUTE}/crm/install", json={"users": [{"team_id": "t1"}]})
    assert_problem(bad, 422)
    assert "user_id" in bad.text
    bad = await client.post(f"{ROUTE}/crm/install", json={"follow_sources": "maybe"})
    assert error_locs(assert_problem(bad, 422)) == [["body", "follow_sources"]]
    # The saas pack has no user KPIs: nothing to follow.
    bad = await client.post(f"{ROUTE}/saas/install", json={"follow_sources": True})
    assert error_locs(assert_problem(bad, 422)) == [["body", "follow_sources"]]
    assert "no user KPIs read from source tables" in bad.text
    assert {p["installed_version"] for p in (await client.get(ROUTE)).json()} == {None}


async def test_users_named_twice_or_for_a_pack_without_user_kpis_are_refused(
    client: AsyncClient,
) -> None:
    twice = {"users": [{"user_id": "1"}, {"user_id": "1", "team_id": "t1"}]}
    problem = assert_problem(await client.post(f"{ROUTE}/support/install", json=twice), 422)
    assert error_locs(problem) == [["body", "users"]], problem
    assert "named twice" in problem["detail"]
    # saas measures the organisation only: users given to it are refused, not ignored.
    problem = assert_problem(
        await client.post(f"{ROUTE}/saas/install", json={"users": [{"user_id": "1"}]}), 422
    )
    assert error_locs(problem) == [["body", "users"]], problem
    listed = (await client.get(ROUTE)).json()
    assert {p["installed_version"] for p in listed} == {None}  # nothing was installed
