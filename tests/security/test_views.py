"""Every metrics view, walked: another tenant sees nothing of ours, a member nothing of another's.

`VIEWS` (test_auth.py) lists the view routes the app serves; the table below must cover
each, with parameters that show our data and a test of whether a response shows any.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient, Response

from tests.conftest import bearer
from tests.security.test_auth import ACME_ADMIN, ADMIN, VIEWS, assert_problem
from tests.support import wait_for_run

WEEK = "2026-01-05"
MONTH = {"start": "2026-01-01", "end": "2026-01-31"}
M = "/api/kpis/metrics"


def _csv_rows(response: Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


# path -> (parameters, "does this answer show any data?")
CASES: dict[str, tuple[dict[str, Any], Callable[[Response], bool]]] = {
    f"{M}/scorecard": ({"user_id": "42", "period_kind": "weekly", "date": WEEK},
                       lambda r: any(k["value"] is not None for k in r.json()["kpis"])),
    f"{M}/team": ({"team_id": "t1", "period_kind": "weekly", "date": WEEK},
                  lambda r: bool(r.json()["members"])),
    f"{M}/leaderboard": ({"definition_key": "calls", "date": WEEK},
                         lambda r: bool(r.json()["items"])),
    f"{M}/summary": ({"period_kind": "weekly", "date": WEEK},
                     lambda r: r.json()["overall"]["assignments"] > 0
                     or any(k["value"] is not None for k in r.json()["kpis"])),
    f"{M}/funnel": ({"stages": ["event:conversion", "kpi:conversions"],
                     "subject_type": "organization", **MONTH},
                    lambda r: any(s["count"] for s in r.json()["stages"])),
    f"{M}/breakdown": ({"definition_key": "conversions", "dimension": "lead_source",
                        "subject_type": "organization", **MONTH},
                       lambda r: bool(r.json()["rows"])),
    f"{M}/cohorts": ({"months": 1, "last_month": "2026-01-15"},
                     lambda r: any(c["size"] for c in r.json()["cohorts"])),
    f"{M}/timeseries": ({"definition_key": "calls", "subject_id": "42", **MONTH},
                        lambda r: any(p["value"] is not None for p in r.json()["points"])),
    f"{M}/forecast": ({"definition_key": "calls", "subject_id": "42"},
                      lambda r: r.json()["outlook"]["target"] is not None),
    f"{M}/export.csv": ({"view": "measurements"}, lambda r: bool(_csv_rows(r))),
}


def test_the_table_covers_every_view() -> None:
    assert set(CASES) == set(VIEWS), "add the new view to CASES"


@pytest.fixture
async def world(jwt_client: AsyncClient) -> None:
    """Users 42 (team t1) and 43 (t2): a manual and an event KPI, an organisation KPI, a
    signup cohort, all in January 2026."""
    c = jwt_client

    async def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await c.post(url, headers=ADMIN, json=body)
        assert response.status_code in (200, 201, 202), (url, response.text)
        return response.json()  # type: ignore[no-any-return]

    kpi = {"unit": "count", "target_type": "higher_better", "aggregation_period": "weekly"}
    calls = await post("/api/kpis/definitions", {**kpi, "key": "calls", "name": "Calls",
                                                 "calculation_type": "manual"})
    conversions = await post("/api/kpis/definitions", {
        **kpi, "key": "conversions", "name": "Conversions", "calculation_type": "event",
        "config": {"event_type": "conversion", "aggregate": "count"}})
    mrr = await post("/api/kpis/definitions", {
        "key": "mrr", "name": "MRR", "unit": "currency", "target_type": "higher_better",
        "aggregation_period": "monthly", "scope": "organization", "calculation_type": "manual"})
    for user, team in (("42", "t1"), ("43", "t2")):
        for definition in (calls, conversions):
            a = await post("/api/kpis/assignments", {
                "definition_id": definition["id"], "subject_type": "user", "subject_id": user,
                "team_id": team, "target_value": 5, "start_date": "2025-10-01"})
            if definition is calls:
                put = await c.put(f"/api/kpis/assignments/{a['id']}/measurements/{WEEK}",
                                  headers=ADMIN, json={"value": 4 if user == "42" else 6})
                assert put.status_code == 200, put.text
    org = await post("/api/kpis/assignments", {
        "definition_id": mrr["id"], "subject_type": "organization", "subject_id": "default",
        "target_value": 1000, "start_date": "2025-10-01"})
    put = await c.put(f"/api/kpis/assignments/{org['id']}/measurements/2026-01-01",
                      headers=ADMIN, json={"value": 900})
    assert put.status_code == 200, put.text
    await post("/api/kpis/events", {"events": [
        {"id": "6f1c0d7e-3a52-4c1e-9d57-000000000001", "user_id": "42", "team_id": "t1",
         "type": "conversion", "occurred_at": "2026-01-06T10:00:00Z", "value": 100,
         "properties": {"lead_source": "Referrals"}},
        {"id": "6f1c0d7e-3a52-4c1e-9d57-000000000002", "user_id": "42", "team_id": "t1",
         "type": "signup", "occurred_at": "2026-01-02T10:00:00Z"},
        {"id": "6f1c0d7e-3a52-4c1e-9d57-000000000003", "user_id": "42", "team_id": "t1",
         "type": "login", "occurred_at": "2026-01-10T10:00:00Z"},
    ]})
    run = await post("/api/kpis/measurements/recalculate",
                     {"period_start": WEEK, "definition_keys": ["conversions"]})
    await wait_for_run(c, run["id"], headers=ADMIN)


async def test_another_tenant_sees_nothing_in_any_view(jwt_client: AsyncClient,
                                                       world: None) -> None:
    for path, (params, shows) in CASES.items():
        ours = await jwt_client.get(path, params=params, headers=ADMIN)
        assert ours.status_code == 200 and shows(ours), (path, ours.text)
        theirs = await jwt_client.get(path, params=params, headers=ACME_ADMIN)
        if theirs.status_code in (404, 422):  # our KPI's key names nothing in their tenant
            assert_problem(theirs, theirs.status_code, path)
        else:
            assert theirs.status_code == 200 and not shows(theirs), (path, theirs.text)


async def test_a_member_sees_nothing_of_another_member(jwt_client: AsyncClient,
                                                       world: None) -> None:
    c, member = jwt_client, bearer("43", "member")
    for view in ("scorecard", "team", "timeseries", "forecast"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=member), 404, view)
    for view in ("summary", "funnel", "breakdown", "cohorts"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=member), 403, view)
    board = await c.get(f"{M}/leaderboard", params=CASES[f"{M}/leaderboard"][0], headers=member)
    assert board.status_code == 200, board.text
    assert [row["user_id"] for row in board.json()["items"]] == ["43"]
    assert board.json()["population"] == 2
    exported = await c.get(f"{M}/export.csv", params={"view": "measurements"}, headers=member)
    assert {row["subject_id"] for row in _csv_rows(exported)} == {"43"}
    # Through the export, the views keep their rules.
    for view in ("scorecard", "summary"):
        params, _ = CASES[f"{M}/{view}"]
        refused = await c.get(f"{M}/export.csv", params={"view": view, **params}, headers=member)
        assert refused.status_code in (403, 404), (view, refused.text)


async def test_a_manager_sees_their_team_only(jwt_client: AsyncClient, world: None) -> None:
    c, manager = jwt_client, bearer("m2", "manager", teams=["t2"])
    for view in ("scorecard", "team", "timeseries", "forecast"):
        params, _ = CASES[f"{M}/{view}"]
        assert_problem(await c.get(f"{M}/{view}", params=params, headers=manager), 404, view)
    board = await c.get(f"{M}/leaderboard", params=CASES[f"{M}/leaderboard"][0],
                        headers=manager)
    assert [row["user_id"] for row in board.json()["items"]] == ["43"]
    own_team = await c.get(f"{M}/team", params={**CASES[f"{M}/team"][0], "team_id": "t2"},
                           headers=manager)
    assert own_team.status_code == 200
    assert [m["user_id"] for m in own_team.json()["members"]] == ["43"]
