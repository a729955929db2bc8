"""Who sees and changes which assignments: admins, managers of teams, members, other tenants."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.access import can_manage
from kpi_service.core.auth import Principal, Role
from tests.support.api import ASSIGNMENTS as URL
from tests.support.api import assign, define, listed_ids
from tests.support.api import assignment_body as body
from tests.support.auth import ADMIN, bearer
from tests.support.problems import assert_problem

MANAGER = bearer("m1", "manager", teams=["t1"])
MEMBER = bearer("42", "member")
OTHER_TENANT = bearer("boss", "admin", tenant="acme")


@pytest.fixture
async def world(jwt_client: AsyncClient) -> dict[str, dict[str, Any]]:
    """Assignments across two teams, a manager's own, and team subjects, made by an admin."""
    kpi = await define(jwt_client, headers=ADMIN)
    team_kpi = await define(jwt_client, "team_output", scope="team", headers=ADMIN)

    async def make(
        subject_id: str,
        team_id: str | None,
        team: bool = False,
        start: str = "2025-01-01",
        end: str | None = None,
    ) -> dict[str, Any]:
        if team:
            return await assign(
                jwt_client,
                team_kpi["id"],
                subject_id,
                headers=ADMIN,
                subject_type="team",
                team_id=team_id,
                start_date=start,
            )
        return await assign(
            jwt_client,
            kpi["id"],
            subject_id,
            headers=ADMIN,
            team_id=team_id,
            start_date=start,
            end_date=end,
        )

    return {
        "kpi": kpi,
        "team_kpi": team_kpi,
        "u42_t1": await make("42", "t1"),
        "u43_t2": await make("43", "t2"),
        "m1_own": await make("m1", None, end="2025-06-30"),
        "m1_in_t2": await make("m1", "t2", start="2025-07-01"),
        "team_t1": await make("t1", None, team=True),
        "team_t2": await make("t2", None, team=True),
    }


def ids(world: dict[str, dict[str, Any]], *names: str) -> list[int]:
    """The ids of the named assignments, in id order."""
    return sorted(world[name]["id"] for name in names)


async def test_admin_sees_everything(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    assert await listed_ids(jwt_client, headers=ADMIN) == ids(
        world, "u42_t1", "u43_t2", "m1_own", "m1_in_t2", "team_t1", "team_t2"
    )


async def test_member_sees_only_their_own(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    assert await listed_ids(jwt_client, headers=MEMBER) == ids(world, "u42_t1")
    assert await listed_ids(jwt_client, headers=MEMBER, user_id="43") == []
    assert await listed_ids(jwt_client, headers=MEMBER, team_id="t2") == []
    own = await jwt_client.get(f"{URL}/{world['u42_t1']['id']}", headers=MEMBER)
    assert own.json() == world["u42_t1"]
    for name in ("u43_t2", "m1_own", "team_t1"):
        assert_problem(await jwt_client.get(f"{URL}/{world[name]['id']}", headers=MEMBER), 404)
        assert_problem(
            await jwt_client.patch(
                f"{URL}/{world[name]['id']}", json={"weight": 1}, headers=MEMBER
            ),
            404,
        )


async def test_member_cannot_change_anything(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    own = world["u42_t1"]
    assert_problem(
        await jwt_client.patch(f"{URL}/{own['id']}", json={"weight": 1}, headers=MEMBER), 403
    )
    assert_problem(await jwt_client.post(f"{URL}/{own['id']}/end", headers=MEMBER), 403)
    assert_problem(
        await jwt_client.post(
            URL, json=body(world["kpi"]["id"], "42", start_date="2025-01-01"), headers=MEMBER
        ),
        403,
    )
    assert (await jwt_client.get(f"{URL}/{own['id']}", headers=ADMIN)).json() == own
    assert len(await listed_ids(jwt_client, headers=ADMIN)) == 6


async def test_manager_sees_their_teams_and_their_own(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    assert await listed_ids(jwt_client, headers=MANAGER) == ids(
        world, "u42_t1", "m1_own", "m1_in_t2", "team_t1"
    )
    for name in ("u43_t2", "team_t2"):
        url = f"{URL}/{world[name]['id']}"
        assert_problem(await jwt_client.get(url, headers=MANAGER), 404)
        assert_problem(await jwt_client.patch(url, json={"weight": 1}, headers=MANAGER), 404)
        assert_problem(await jwt_client.post(f"{url}/end", headers=MANAGER), 404)


async def test_manager_changes_their_teams_only(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    for name in ("u42_t1", "team_t1"):
        response = await jwt_client.patch(
            f"{URL}/{world[name]['id']}", json={"weight": 30, "target_value": 11}, headers=MANAGER
        )
        assert response.status_code == 200, response.text
        assert (response.json()["weight"], response.json()["target_value"]) == (30, 11)
    ended = await jwt_client.post(f"{URL}/{world['u42_t1']['id']}/end", headers=MANAGER)
    assert ended.status_code == 200, ended.text
    # Their own assignments are visible but not theirs to change.
    for name in ("m1_own", "m1_in_t2"):
        url = f"{URL}/{world[name]['id']}"
        assert_problem(await jwt_client.patch(url, json={"weight": 1}, headers=MANAGER), 403)
        assert (await jwt_client.get(url, headers=ADMIN)).json() == world[name]
    # Moving an assignment out of their teams is not theirs to do either.
    moved = await jwt_client.patch(
        f"{URL}/{world['u42_t1']['id']}", json={"team_id": "t2"}, headers=MANAGER
    )
    assert_problem(moved, 403)
    assert (await jwt_client.get(f"{URL}/{world['u42_t1']['id']}", headers=ADMIN)).json()[
        "team_id"
    ] == "t1"


async def test_manager_assigns_within_their_teams(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    kpi, team_kpi = world["kpi"]["id"], world["team_kpi"]["id"]
    created = await assign(jwt_client, kpi, "77", headers=MANAGER, team_id="t1")
    assert created["assigned_by"] == "m1"
    team = await assign(
        jwt_client, team_kpi, "t1", headers=MANAGER, subject_type="team", start_date="2026-01-01"
    )
    assert team["subject_id"] == "t1"
    for refused in (
        body(kpi, "77", team_id="t2", start_date="2025-01-01"),
        body(kpi, "78"),
        body(kpi, "m1", start_date="2025-01-01"),
        body(team_kpi, "t2", subject_type="team", start_date="2025-01-01"),
    ):
        assert_problem(await jwt_client.post(URL, json=refused, headers=MANAGER), 403)
    assert len(await listed_ids(jwt_client, headers=ADMIN)) == 8


async def test_another_tenant_sees_nothing(
    jwt_client: AsyncClient, world: dict[str, dict[str, Any]]
) -> None:
    assert await listed_ids(jwt_client, headers=OTHER_TENANT) == []
    url = f"{URL}/{world['u42_t1']['id']}"
    assert_problem(await jwt_client.get(url, headers=OTHER_TENANT), 404)
    assert_problem(await jwt_client.patch(url, json={"weight": 1}, headers=OTHER_TENANT), 404)
    assert_problem(await jwt_client.post(f"{url}/end", headers=OTHER_TENANT), 404)
    # Another tenant's definition is unknown here, by id or by key.
    response = await jwt_client.post(URL, json=body(world["kpi"]["id"], "42"), headers=OTHER_TENANT)
    assert_problem(response, 422)
    response = await jwt_client.post(
        URL,
        json={
            "definition_key": "cases_resolved",
            "subject_type": "user",
            "subject_id": "42",
            "target_value": 1,
        },
        headers=OTHER_TENANT,
    )
    assert_problem(response, 422)
    assert (await jwt_client.get(url, headers=ADMIN)).json() == world["u42_t1"]


ADMIN_P = Principal("default", "boss", Role.ADMIN)
MANAGER_P = Principal("default", "m1", Role.MANAGER, frozenset({"t1", "t3"}))
MEMBER_P = Principal("default", "42", Role.MEMBER)


@pytest.mark.parametrize(
    ("principal", "subject_type", "subject_id", "team_id", "allowed"),
    [
        (ADMIN_P, "user", "42", None, True),
        (ADMIN_P, "organization", "default", None, True),
        (MANAGER_P, "user", "42", "t1", True),
        (MANAGER_P, "user", "42", "t3", True),
        (MANAGER_P, "user", "42", "t2", False),
        (MANAGER_P, "user", "42", None, False),
        (MANAGER_P, "user", "m1", None, False),
        (MANAGER_P, "team", "t1", None, True),
        (MANAGER_P, "team", "t2", "t1", True),
        (MANAGER_P, "team", "t2", None, False),
        (MANAGER_P, "organization", "default", None, False),
        (MANAGER_P, "organization", "default", "t1", False),
        (MEMBER_P, "user", "42", None, False),
        (MEMBER_P, "user", "42", "t1", False),
    ],
)
def test_can_manage(
    principal: Principal, subject_type: str, subject_id: str, team_id: str | None, allowed: bool
) -> None:
    assert can_manage(principal, subject_type, subject_id, team_id) is allowed
