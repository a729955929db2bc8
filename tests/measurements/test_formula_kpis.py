"""Formula KPIs: evaluated after the KPIs they use, per subject, checked by hand."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support import assign, create_definition, measurements, recalculate

WEEK = "2026-11-09"


async def _record(client: AsyncClient, assignment: dict[str, Any], value: float) -> None:
    response = await client.put(
        f"/api/kpis/assignments/{assignment['id']}/measurements/{WEEK}", json={"value": value})
    assert response.status_code == 200, response.text


async def test_formula_uses_this_periods_values_and_explains_missing_ones(
        client: AsyncClient, db: Database) -> None:
    resolved = await create_definition(client, key="resolved")
    hours = await create_definition(client, key="hours_worked", unit="hours")
    rate = await create_definition(client, key="resolved_per_hour", calculation_type="formula",
                                   config={"expression": "round(resolved / hours * 100, 1)",
                                           "variables": {"resolved": "resolved",
                                                         "hours": "hours_worked"}})
    users = {"1": (30, 40), "2": (10, 0), "3": (5, None)}
    for user, (r, h) in users.items():
        await _record(client, await assign(client, resolved["id"], user, 1,
                                           start_date="2026-11-01"), r)
        if h is not None:
            await _record(client, await assign(client, hours["id"], user, 1,
                                               start_date="2026-11-01"), h)
        await assign(client, rate["id"], user, 50, start_date="2026-11-01")
    run = await recalculate(client, period_start=WEEK, definition_keys=["resolved_per_hour"])
    assert run["status"] == "succeeded", run
    got = {m["subject_id"]: m for m in await measurements(client, definition_key=rate["key"])}
    assert got["1"]["actual_value"] == pytest.approx(75.0)       # round(30 / 40 * 100, 1)
    assert got["1"]["achievement"] == pytest.approx(150.0)       # 75 / 50
    assert got["2"]["actual_value"] is None
    assert "division by zero" in got["2"]["details"]["no_value_reason"]
    assert got["3"]["actual_value"] is None
    assert "hours" in got["3"]["details"]["no_value_reason"]


async def test_loops_between_formulas_are_refused(client: AsyncClient, db: Database) -> None:
    await create_definition(client, key="base")
    await create_definition(client, key="f_a", calculation_type="formula",
                            config={"expression": "b * 2", "variables": {"b": "base"}})
    f_b = await create_definition(client, key="f_b", calculation_type="formula",
                                  config={"expression": "a + 1", "variables": {"a": "f_a"}})
    response = await client.patch(f"/api/kpis/definitions/{f_b['id']}", json={
        "config": {"expression": "a + b", "variables": {"a": "f_a", "b": "f_b"}}})
    assert response.status_code == 422
    assert "loop" in response.json()["detail"] or "itself" in response.json()["detail"]
    mismatch = await client.post("/api/kpis/definitions", json={
        "key": "monthly_f", "name": "M", "unit": "count", "target_type": "higher_better",
        "aggregation_period": "monthly", "calculation_type": "formula",
        "config": {"expression": "b", "variables": {"b": "base"}}})
    assert mismatch.status_code == 422 and "period" in mismatch.json()["detail"]


async def test_a_run_computes_inputs_before_the_formula(client: AsyncClient,
                                                       db: Database) -> None:
    await create_definition(client, key="zz_source", calculation_type="event",
                            config={"event_type": "call", "aggregate": "count"})
    f = await create_definition(client, key="aa_double", calculation_type="formula",
                                config={"expression": "n * 2", "variables": {"n": "zz_source"}})
    source = (await client.get("/api/kpis/definitions/by-key/zz_source")).json()
    await assign(client, source["id"], "1", 1, start_date="2026-11-01")
    await assign(client, f["id"], "1", 1, start_date="2026-11-01")
    events = [{"id": f"00000000-0000-4000-8000-00000000000{i}", "user_id": "1", "type": "call",
               "occurred_at": f"2026-11-1{i}T12:00:00Z"} for i in range(3)]
    assert (await client.post("/api/kpis/events", json={"events": events})).json()[
        "accepted"] == 3
    run = await recalculate(client, period_start=WEEK)
    assert run["computed"] == 2
    got = {m["definition_key"]: m["actual_value"] for m in await measurements(client)}
    # 3 calls (10th, 11th, 12th): the formula, though its key sorts first, sees them
    assert got == {"zz_source": 3, "aa_double": 6}
