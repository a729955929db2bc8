"""Shortcuts the goal tests share: assignments with recorded values, and goals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from httpx import AsyncClient, Response

from tests.support.api import assign, record

GOALS = "/api/kpis/goals"


async def given(
    client: AsyncClient,
    definition: dict[str, Any],
    user: str,
    values: Mapping[str, float | str],
    *,
    team: str | None = None,
    start: str = "2025-01-01",
    headers: dict[str, str] | None = None,
) -> int:
    """Assign the KPI to the user (target 1) and record a value per period start."""
    assignment = await assign(client, definition["id"], user, 1, start_date=start, team_id=team)
    for period_start, value in values.items():
        await record(client, assignment["id"], period_start, value, headers=headers)
    assignment_id: int = assignment["id"]
    return assignment_id


async def set_goal(
    client: AsyncClient, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(GOALS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def goal(
    client: AsyncClient, goal_id: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(f"{GOALS}/{goal_id}", headers=headers)
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


def items_of(response: Response) -> list[dict[str, Any]]:
    """The items of a list answer that must be 200."""
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
