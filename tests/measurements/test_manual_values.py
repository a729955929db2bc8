"""Manual values: recorded by hand, effective targets, revisions, access and refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements
from tests.support.auth import bearer
from tests.support.problems import assert_problem


async def _manual(client: AsyncClient, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    d = await define(client, key="csat", unit="percent", aggregation_period="monthly", **fields)
    a = await assign(client, d["id"], "7", 90, start_date="2026-01-01", team_id="support")
    return d, a


async def test_record_then_correct_keeps_the_first_value_as_a_revision(
    client: AsyncClient, db: Database
) -> None:
    _, a = await _manual(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/2026-10-01"
    first = await client.put(url, json={"value": 72, "comment": "survey of October"})
    assert first.status_code == 200, first.text
    m = first.json()
    assert (m["period_start"], m["period_end"]) == ("2026-10-01", "2026-10-31")
    assert m["source"] == "manual" and m["actual_value"] == 72 and m["target_value"] == 90
    assert m["achievement"] == pytest.approx(80.0) and m["status"] == "at_risk"  # 72 / 90
    assert m["comment"] == "survey of October" and m["revision"] == 1

    second = (await client.put(url, json={"value": 99})).json()
    assert second["id"] == m["id"] and second["revision"] == 2
    assert second["achievement"] == pytest.approx(110.0) and second["status"] == "met"
    revisions = (await client.get(f"/api/kpis/measurements/{m['id']}/revisions")).json()["items"]
    assert [(r["revision"], r["actual_value"], r["comment"]) for r in revisions] == [
        (1, 72, "survey of October")
    ]
    assert revisions[0]["change_reason"] == "manual entry"

    nov = (
        await client.put(
            f"/api/kpis/assignments/{a['id']}/measurements/2026-11-01", json={"value": 45}
        )
    ).json()
    assert nov["previous_value"] == 99 and nov["trend"] == "declining"
    assert nov["change_pct"] == pytest.approx((45 - 99) / 99 * 100, abs=1e-4)
    assert nov["is_final"] is (date(2026, 11, 30) < datetime.now(UTC).date())


async def test_refusals_change_nothing(client: AsyncClient, db: Database) -> None:
    _, a = await _manual(client)
    query = await define(
        client,
        key="resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    qa = await assign(client, query["id"], "7", 5, start_date="2026-01-01")
    base = f"/api/kpis/assignments/{a['id']}/measurements"
    cases = [
        (f"/api/kpis/assignments/{qa['id']}/measurements/2026-10-05", {"value": 3}, 409),
        (f"{base}/2026-10-02", {"value": 3}, 422),  # not the first day of a month
        (f"{base}/2025-12-01", {"value": 3}, 422),  # before the assignment starts
        (f"{base}/2026-10-01", {"value": "NaN"}, 422),
        (f"{base}/2026-10-01", {"value": 1e300}, 422),
        (f"{base}/2026-10-01", {"value": 3, "extra": 1}, 422),
        (f"{base}/2026-10-01", {"value": 3, "comment": "a\u0000b"}, 422),
        (f"{base}/2026-13-01", {"value": 3}, 422),
        ("/api/kpis/assignments/99999999999999999999/measurements/2026-10-01", {"value": 3}, 422),
        ("/api/kpis/assignments/999999/measurements/2026-10-01", {"value": 3}, 404),
    ]
    for url, body, status in cases:
        response = await client.put(url, json=body)
        assert_problem(response, status, (url, body))
    bad_json = await client.put(
        f"{base}/2026-10-01", content=b'{"value": NaN', headers={"content-type": "application/json"}
    )
    assert bad_json.status_code in (400, 422)
    assert await measurements(client) == []


async def test_roles_for_recording(
    jwt_client: AsyncClient, client: AsyncClient, db: Database
) -> None:
    _, a = await _manual(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/2026-10-01"
    member = await jwt_client.put(url, json={"value": 1}, headers=bearer("7", "member"))
    assert member.status_code == 403
    stranger = await jwt_client.put(url, json={"value": 1}, headers=bearer("8", "member"))
    assert stranger.status_code == 404
    other_team = await jwt_client.put(
        url, json={"value": 1}, headers=bearer("m2", "manager", teams=["sales"])
    )
    assert other_team.status_code == 404
    other_tenant = await jwt_client.put(
        url, json={"value": 1}, headers=bearer("boss", "admin", tenant="acme")
    )
    assert other_tenant.status_code == 404
    manager = await jwt_client.put(
        url, json={"value": 81}, headers=bearer("m1", "manager", teams=["support"])
    )
    assert manager.status_code == 200 and manager.json()["recorded_by"] == "m1"
    seen = await jwt_client.get("/api/kpis/measurements", headers=bearer("7", "member"))
    assert [m["actual_value"] for m in seen.json()["items"]] == [81]
    hidden = await jwt_client.get("/api/kpis/measurements", headers=bearer("8", "member"))
    assert hidden.json()["items"] == []
    mid = manager.json()["id"]
    assert (
        await jwt_client.get(f"/api/kpis/measurements/{mid}", headers=bearer("8", "member"))
    ).status_code == 404
    audit = (await client.get("/api/kpis/audit", params={"entity_type": "measurement"})).json()
    assert [e["actor"] for e in audit["items"]] == ["m1"]


async def test_listing_pages_through_everything(client: AsyncClient, db: Database) -> None:
    _, a = await _manual(client)
    for month in range(1, 8):
        response = await client.put(
            f"/api/kpis/assignments/{a['id']}/measurements/2026-{month:02d}-01",
            json={"value": month},
        )
        assert response.status_code == 200
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/kpis/measurements", params=params)).json()
        seen += [m["actual_value"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    bad = await client.get("/api/kpis/measurements", params={"cursor": "garbage"})
    assert bad.status_code == 422
    window = await measurements(client, period_from="2026-03-15", period_to="2026-05-01")
    assert [m["actual_value"] for m in window] == [3, 4, 5]


async def test_an_omitted_comment_keeps_the_stored_one(client: AsyncClient, db: Database) -> None:
    _, a = await _manual(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/2026-10-01"
    await client.put(url, json={"value": 70, "comment": "first survey"})
    changed = (await client.put(url, json={"value": 75})).json()
    assert (changed["actual_value"], changed["comment"], changed["revision"]) == (
        75,
        "first survey",
        2,
    )
    same = (await client.put(url, json={"value": 75})).json()
    assert same["revision"] == 2  # nothing changed, nothing rewritten
    recommented = (await client.put(url, json={"value": 75, "comment": "corrected"})).json()
    assert (recommented["comment"], recommented["revision"]) == ("corrected", 3)


async def test_revisions_are_a_page_like_every_list(client: AsyncClient, db: Database) -> None:
    _, a = await _manual(client)
    url = f"/api/kpis/assignments/{a['id']}/measurements/2026-10-01"
    recorded = [70, 71, 72, 73, 74]
    for value in recorded:
        m = (await client.put(url, json={"value": value})).json()
    revisions = f"/api/kpis/measurements/{m['id']}/revisions"
    # Four earlier states, newest first: revision 4 held 73, ..., revision 1 held 70.
    expected = [(n, recorded[n - 1]) for n in range(len(recorded) - 1, 0, -1)]
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(revisions, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        seen += [(r["revision"], r["actual_value"]) for r in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (expected, 2)
    for bad in ({"cursor": "bogus"}, {"limit": 0}, {"limit": 501}):
        response = await client.get(revisions, params=bad)
        assert_problem(response, 422, bad)
