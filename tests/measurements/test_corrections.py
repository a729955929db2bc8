"""Corrections of closed periods: a manual value restated with a reason, periods reopened by
an admin, and restatement runs that re-derive manual KPIs' figures from the stored values."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.auth import bearer
from tests.support.problems import assert_problem

OCT, NOV = "2026-10-01", "2026-11-01"


async def _closed_csat(client: AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A monthly manual KPI (target 90) of user 7 in team support, October recorded as 72
    and November as 81, both months then closed."""
    d = await define(client, key="csat", unit="percent", aggregation_period="monthly")
    a = await assign(client, d["id"], "7", 90, start_date="2026-01-01", team_id="support")
    for month, value in ((OCT, 72), (NOV, 81)):
        put = await client.put(
            f"/api/kpis/assignments/{a['id']}/measurements/{month}", json={"value": value}
        )
        assert put.status_code == 200, put.text
    closed = await client.post(
        "/api/kpis/periods/close",
        json={"period_start": OCT, "period_end": "2026-11-30", "reason": "month-end close"},
    )
    assert closed.status_code == 200, closed.text
    assert len(closed.json()["closed"]) == 2
    return d, a


async def _revisions(client: AsyncClient, measurement_id: int) -> list[dict[str, Any]]:
    body = (await client.get(f"/api/kpis/measurements/{measurement_id}/revisions")).json()
    # A list, or a page of one once revisions page like every list.
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


async def _audit(client: AsyncClient, entity_type: str) -> list[dict[str, Any]]:
    response = await client.get("/api/kpis/audit", params={"entity_type": entity_type})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_closed_manual_value_is_restated_only_with_a_reason(
    client: AsyncClient, db: Database
) -> None:
    _, a = await _closed_csat(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/{OCT}"

    for body in ({"value": 85}, {"value": 85, "reason": "   "}):
        refused = await client.put(url, json=body)
        assert_problem(refused, 409)
        assert "closed" in refused.json()["detail"] and "`reason`" in refused.json()["detail"]
    [before] = await measurements(client, period_from=OCT, period_to=OCT)
    assert (before["actual_value"], before["revision"]) == (72, 1)

    restated = await client.put(url, json={"value": 85, "reason": "survey recount"})
    assert restated.status_code == 200, restated.text
    m = restated.json()
    assert (m["actual_value"], m["target_value"], m["revision"]) == (85, 90, 2)
    assert m["achievement"] == pytest.approx(85 / 90 * 100, abs=1e-4)
    assert m["status"] == "at_risk"  # 94.4 % is under 100 and over the warning line of 80
    [rev] = await _revisions(client, m["id"])
    assert (rev["revision"], rev["actual_value"], rev["changed_by"]) == (1, 72, "local-admin")
    assert rev["achievement"] == pytest.approx(72 / 90 * 100, abs=1e-4)
    assert rev["change_reason"] == "restated: survey recount"

    [entry] = [
        e for e in await _audit(client, "measurement") if e["action"] == "measurement.restate"
    ]
    assert entry["entity_id"] == str(m["id"]) and entry["actor"] == "local-admin"
    assert (entry["before"]["actual_value"], entry["after"]["actual_value"]) == (72, 85)
    assert entry["after"]["reason"] == "survey recount"

    # The period stays closed: the next change needs a reason again.
    assert (await client.put(url, json={"value": 86})).status_code == 409


async def test_an_admin_reopens_a_closed_period_and_values_are_recorded_freely_again(
    client: AsyncClient, db: Database
) -> None:
    _, a = await _closed_csat(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/{OCT}"
    without_reason = await client.post("/api/kpis/periods/reopen", json={"period_start": OCT})
    assert without_reason.status_code == 422

    reopened = await client.post(
        "/api/kpis/periods/reopen",
        json={"period_start": OCT, "definition_keys": ["csat"], "reason": "late survey results"},
    )
    assert reopened.status_code == 200, reopened.text
    body = reopened.json()
    assert body["not_closed"] == 0
    [period] = body["reopened"]
    assert (period["definition_key"], period["period_start"], period["period_end"]) == (
        "csat",
        OCT,
        "2026-10-31",
    )
    assert (period["closed_by"], period["reason"]) == ("local-admin", "month-end close")

    again = await client.post(
        "/api/kpis/periods/reopen", json={"period_start": OCT, "reason": "twice"}
    )
    assert_problem(again, 404)

    put = await client.put(url, json={"value": 88})
    assert put.status_code == 200, put.text
    assert (put.json()["actual_value"], put.json()["revision"]) == (88, 2)
    [rev] = await _revisions(client, put.json()["id"])
    assert (rev["actual_value"], rev["change_reason"]) == (72, "manual entry")
    # November was not reopened.
    nov = await client.put(
        f"/api/kpis/assignments/{a['id']}/measurements/{NOV}", json={"value": 70}
    )
    assert nov.status_code == 409

    [entry] = [e for e in await _audit(client, "periods") if e["action"] == "periods.reopen"]
    assert entry["actor"] == "local-admin" and entry["entity_id"] == f"{OCT}..{OCT}"
    assert entry["after"] == {"reopened": 1, "reason": "late survey results"}
    assert [c["period_start"] for c in entry["before"]["closed"]] == [OCT]

    # A period reopened is closed again like any other.
    closed = await client.post("/api/kpis/periods/close", json={"period_start": OCT})
    assert [c["period_start"] for c in closed.json()["closed"]] == [OCT]


async def test_only_admins_reopen(
    jwt_client: AsyncClient, client: AsyncClient, db: Database
) -> None:
    _, a = await _closed_csat(client)
    body = {"period_start": OCT, "reason": "mine to reopen"}
    for headers in (bearer("m1", "manager", teams=["support"]), bearer("7", "member")):
        response = await jwt_client.post("/api/kpis/periods/reopen", json=body, headers=headers)
        assert_problem(response, 403)
    refused = await jwt_client.post(
        "/api/kpis/periods/reopen", json=body, headers=bearer("boss", "admin", tenant="acme")
    )
    assert refused.status_code == 404
    # October is still closed.
    put = await client.put(f"/api/kpis/assignments/{a['id']}/measurements/{OCT}", json={"value": 1})
    assert put.status_code == 409
    assert [e for e in await _audit(client, "periods") if e["action"] == "periods.reopen"] == []


async def test_a_restatement_run_re_derives_closed_manual_figures_from_the_stored_value(
    client: AsyncClient, db: Database
) -> None:
    d, a = await _closed_csat(client)
    # A target of 120 from September, written past the API so that nothing but the run
    # re-derives: October and November were judged against 90.
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO kpi.assignment_targets (tenant_id, assignment_id, effective_from, "
                "target_value, set_by) VALUES ('default', :a, '2026-09-01', 120, 'ops')"
            ),
            {"a": a["id"]},
        )

    run = await recalculate(
        client,
        period_start=OCT,
        period_end="2026-11-30",
        definition_keys=["csat"],
        restate=True,
        reason="new target",
    )
    assert run["status"] == "succeeded" and run["failed"] == 0

    got = {m["period_start"]: m for m in await measurements(client)}
    warning = d["warning_threshold"]
    for month, value, previous in ((OCT, 72, None), (NOV, 81, 72)):
        m = got[month]
        achievement = value / 120 * 100  # 60 and 67.5: both off track
        assert (m["actual_value"], m["source"], m["previous_value"]) == (value, "manual", previous)
        assert m["target_value"] == 120
        assert m["achievement"] == pytest.approx(achievement, abs=1e-4)
        assert m["score"] == pytest.approx(min(achievement, d["score_cap"]), abs=1e-4)
        assert m["status"] == (
            "met" if achievement >= 100 else "at_risk" if achievement >= warning else "off_track"
        )
        [revision] = await _revisions(client, m["id"])
        # The value itself is untouched; its earlier figures against 90 are kept.
        assert (revision["revision"], revision["actual_value"]) == (1, value)
        assert revision["achievement"] == pytest.approx(value / 90 * 100, abs=1e-4)
        assert revision["change_reason"] == f"restated by run {run['id']}: new target"
    assert (run["computed"], run["unchanged"]) == (2, 0)
