"""Shortcuts the goal tests share: manual KPIs with recorded values, and goals."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from httpx import AsyncClient, Response

from tests.support.api import assign, create_definition

GOALS = "/api/kpis/goals"
SIX_PLACES = Decimal("0.000001")


async def manual_kpi(client: AsyncClient, key: str, *, period: str = "monthly",
                     **fields: Any) -> dict[str, Any]:
    """A manual user KPI of that period."""
    return await create_definition(client, key=key, aggregation_period=period, **fields)


async def given(client: AsyncClient, definition: dict[str, Any], user: str,
                values: dict[str, float | str], *, team: str | None = None,
                start: str = "2025-01-01", headers: dict[str, str] | None = None) -> int:
    """Assign the KPI to the user (target 1) and record a value per period start."""
    assignment = await assign(client, definition["id"], user, 1, start_date=start,
                              team_id=team)
    for period_start, value in values.items():
        await record(client, assignment["id"], period_start, value, headers=headers)
    assignment_id: int = assignment["id"]
    return assignment_id


async def record(client: AsyncClient, assignment_id: int, period_start: str,
                 value: float | str, headers: dict[str, str] | None = None) -> None:
    response = await client.put(
        f"/api/kpis/assignments/{assignment_id}/measurements/{period_start}",
        json={"value": value}, headers=headers)
    assert response.status_code == 200, response.text


async def set_goal(client: AsyncClient, headers: dict[str, str] | None = None,
                   **body: Any) -> dict[str, Any]:
    response = await client.post(GOALS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def goal(client: AsyncClient, goal_id: int,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.get(f"{GOALS}/{goal_id}", headers=headers)
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


def listed(response: Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def six(value: Decimal) -> Decimal:
    """Rounded to six places, half to even, as stored values are."""
    return value.quantize(SIX_PLACES, rounding=ROUND_HALF_EVEN)


def expected_progress(actual: Decimal, target: Decimal, target_type: str) -> Decimal:
    """DESIGN.md section 4's achievement, written out again (non-negative targets)."""
    hundred = Decimal(100)
    if target_type == "higher_better":
        return hundred if target == 0 and actual >= 0 else (
            Decimal(0) if target == 0 else actual / target * hundred)
    if target_type == "lower_better":
        if target == 0:
            return hundred if actual <= 0 else Decimal(0)
        return hundred if actual <= 0 else target / actual * hundred
    if target == 0:
        return hundred if actual == 0 else Decimal(0)
    return max(Decimal(0), hundred - abs(actual - target) / abs(target) * hundred)


def expected_status(progress: Decimal, warning: Decimal = Decimal(80)) -> str:
    if progress >= 100:
        return "met"
    return "at_risk" if progress >= warning else "off_track"
