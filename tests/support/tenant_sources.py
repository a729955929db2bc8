"""Two tenants' query KPIs over SQL of their own: the admins, the definitions and
assignments, a run of the week and the values it stored."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.support.api import assign, define, definition_body, wait_for_run
from tests.support.auth import bearer

WEEK = "2026-11-09"
A, B = bearer("admin-a", "admin", "tenant-a"), bearer("admin-b", "admin", "tenant-b")


def kpi(key: str, sql: str, **config: Any) -> dict[str, Any]:
    """A create body for a weekly query KPI over this SQL, named by its key."""
    return definition_body(key, name=key, calculation_type="query", config={"sql": sql, **config})


async def tenant_kpi(
    client: AsyncClient, headers: dict[str, str], key: str, sql: str, **config: Any
) -> int:
    definition_id: int = (await define(client, headers=headers, **kpi(key, sql, **config)))["id"]
    for subject in ("1", "2"):
        await assign(client, definition_id, subject, headers=headers, start_date="2026-11-01")
    return definition_id


async def run_week(client: AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/api/kpis/measurements/recalculate", headers=headers, json={"period_start": WEEK}
    )
    assert response.status_code == 202, response.text
    return await wait_for_run(client, response.json()["id"], headers=headers)


async def stored_values(client: AsyncClient, headers: dict[str, str]) -> dict[tuple[int, str], Any]:
    response = await client.get("/api/kpis/measurements", headers=headers, params={"limit": 500})
    return {
        (m["definition_id"], m["subject_id"]): m["actual_value"] for m in response.json()["items"]
    }
