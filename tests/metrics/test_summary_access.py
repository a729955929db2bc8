"""The executive summary: who may read it, the open alerts each caller may see, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, manual_kpi, record
from tests.support.auth import bearer
from tests.support.problems import assert_problem
from tests.support.summary import URL


async def test_members_are_refused_and_other_tenants_see_nothing(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    d = await manual_kpi(c, "mrr", name="MRR", unit="currency", scope="organization", headers=admin)
    made = await assign(
        c, d["id"], None, 5, headers=admin, subject_type="organization", start_date="2026-01-01"
    )
    await record(c, made["id"], "2026-01-01", 7, headers=admin)
    member = await c.get(URL, headers=bearer("42", "member"))
    assert_problem(member, 403)
    manager = await c.get(URL, headers=bearer("m1", "manager", teams=["t1"]))
    assert manager.status_code == 200 and manager.json()["kpis"][0]["current"]["value"] == 7
    acme = (await c.get(URL, headers=bearer("boss", "admin", tenant="acme"))).json()
    assert acme["kpis"] == [] and acme["distribution"] == [] and acme["open_alerts"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"period_kind": "hourly"},
        {"date": "2026-02-30"},
        {"date": "soon"},
        {"tenant": "acme"},
        {"date": "1899-12-31"},
        {"date": "9999-12-31"},  # outside the days any metrics view takes
    ],
)
async def test_bad_input_is_a_422_problem(client: AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get(URL, params=params)
    assert_problem(response, 422)


async def test_open_alerts_are_those_the_caller_may_see(jwt_client: AsyncClient) -> None:
    c, admin = jwt_client, bearer("boss", "admin")
    d = await define(c, "calls", headers=admin)
    held = {}
    for user, team, value in (("42", "t1", 3), ("43", "t2", 5), ("44", "t1", 10)):
        made = await assign(c, d["id"], user, headers=admin, team_id=team, start_date="2026-01-05")
        held[user] = made["id"]
        await record(c, held[user], "2026-01-05", value, headers=admin)
    rule = await c.post(
        "/api/kpis/alerts/rules",
        headers=admin,
        json={
            "definition_id": d["id"],
            "name": "Calls below 80 %",
            "severity": "critical",
            "condition": {"kind": "achievement_below", "threshold": 80},
        },
    )
    assert rule.status_code == 201, rule.text
    evaluated = await c.post(
        "/api/kpis/alerts/evaluate", headers=admin, json={"period_start": "2026-01-05"}
    )
    assert evaluated.status_code == 200, evaluated.text

    def shown(body: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {
            (
                a["rule_name"],
                a["definition_key"],
                a["subject_type"],
                a["subject_id"],
                a["period_start"],
                a["period_end"],
                a["severity"],
            )
            for a in body["open_alerts"]
        }

    # 42 (30 %) and 43 (50 %) are below 80 %; 44 (100 %) is not.
    wanted = {
        ("Calls below 80 %", "calls", "user", u, "2026-01-05", "2026-01-11", "critical")
        for u in ("42", "43")
    }
    everything = (await c.get(URL, headers=admin)).json()
    assert shown(everything) == wanted
    listed = (await c.get("/api/kpis/alerts", headers=admin, params={"limit": 500})).json()
    assert {(a["id"], a["status"], a["opened_at"]) for a in listed["items"]} == {
        (a["id"], a["status"], a["opened_at"]) for a in everything["open_alerts"]
    }
    assert {a["status"] for a in everything["open_alerts"]} <= {"pending", "firing"}
    manager = (await c.get(URL, headers=bearer("m1", "manager", teams=["t1"]))).json()
    assert shown(manager) == {a for a in wanted if a[3] == "42"}
    acme = (await c.get(URL, headers=bearer("boss", "admin", tenant="acme"))).json()
    assert acme["open_alerts"] == []
