"""The seed BFF's routes, replayed as its curl calls, checked against hand counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.api import define
from tests.support.app import make_settings
from tests.support.auth import bearer
from tests.support.database import create_support_cases


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


CASES = [
    (1, "resolved", at(11, 9, 8), at(11, 9, 12)),  # Monday, 4 h
    (1, "resolved", at(11, 15, 22), at(11, 15, 23, 59, 59)),  # Sunday night, ~2 h
    (1, "resolved", at(11, 14, 10), at(11, 15, 10)),  # Sunday, 24 h
    (1, "resolved", at(11, 16, 0), at(11, 16, 0, 30)),  # next Monday: excluded
    (2, "resolved", at(11, 10, 0), at(11, 10, 5)),  # someone else
]


async def _seed_definitions(client: AsyncClient) -> None:
    await define(
        client,
        key="avg_resolution_time",
        name="Average Resolution Time",
        unit="hours",
        target_type="lower_better",
        calculation_type="query",
        category="customer_support",
        config={"query_key": "avg_resolution_time"},
    )
    await define(
        client,
        key="cases_resolved",
        name="Cases Resolved",
        calculation_type="query",
        category="customer_support",
        config={"query_key": "cases_resolved_count"},
    )
    await define(
        client,
        key="quality_review",
        name="Quality Review",
        unit="percent",
        category="customer_support",
    )


async def test_the_seed_curl_flow(client: AsyncClient, db: Database) -> None:
    await create_support_cases(db, CASES)
    await _seed_definitions(client)

    definitions = (await client.get("/kpis/definitions")).json()["definitions"]
    assert [d["name"] for d in definitions] == [
        "Average Resolution Time",
        "Cases Resolved",
        "Quality Review",
    ]
    assert definitions[0]["id"] == 1 and definitions[0]["calculation_type"] == "query"

    # 1. Assign KPI to user (the seed's curl, byte for byte)
    assigned = await client.post(
        "/kpis/users/1/kpis/assign", json={"kpi_definition_id": 1, "target_value": 3, "weight": 100}
    )
    assert assigned.status_code == 201
    assert assigned.json() == {"success": True, "user_kpi_id": 1}

    # 2. Calculate a Monday-Sunday week
    calculated = await client.post(
        "/kpis/calculate/1", json={"period_start": "2026-11-09", "period_end": "2026-11-15"}
    )
    assert calculated.status_code == 200, calculated.text
    body = calculated.json()
    assert body["success"] is True and isinstance(body["measurement_id"], int)
    m = body["measurement"]
    hours = [4, 2 - 1 / 3600, 24]  # Monday, Sunday night (22:00 to 23:59:59), Sunday
    assert m["actual_value"] == pytest.approx(sum(hours) / 3, abs=1e-6)
    assert m["target_value"] == 3
    assert m["achievement_percentage"] == pytest.approx(3 / (sum(hours) / 3) * 100, abs=1e-4)
    assert (m["period_start"], m["period_end"], m["user_kpi_id"]) == ("2026-11-09", "2026-11-15", 1)
    assert m["metadata"]["kpi_name"] == "Average Resolution Time"

    # 3. View user KPIs
    view = await client.get("/kpis/users/1")
    assert view.status_code == 200
    data = view.json()
    assert data["user_id"] == 1
    [kpi] = data["kpis"]
    assert kpi["id"] == 1 and kpi["kpi_definition_id"] == 1 and kpi["target_value"] == 3
    assert kpi["weight"] == 100 and kpi["unit"] == "hours"
    latest = kpi["latest_measurement"]
    assert latest["actual_value"] == pytest.approx(m["actual_value"])
    assert latest["achievement_percentage"] == pytest.approx(m["achievement_percentage"])
    assert (latest["period_start"], latest["period_end"]) == ("2026-11-09", "2026-11-15")


async def test_the_readme_flow_supersedes_the_kpi_the_user_already_has(
    client: AsyncClient, db: Database
) -> None:
    """As on the demo: user 1 already has KPI 1, computed for a past week; the README's assign
    call supersedes it from today, and the week keeps showing the value it had."""
    await create_support_cases(db, CASES)
    await _seed_definitions(client)
    held = await client.post(
        "/kpis/users/1/kpis/assign",
        json={"kpi_definition_id": 1, "target_value": 4, "weight": 100, "start_date": "2026-11-02"},
    )
    held_id = held.json()["user_kpi_id"]
    week = {"period_start": "2026-11-09", "period_end": "2026-11-15"}
    assert (await client.post(f"/kpis/calculate/{held_id}", json=week)).status_code == 200

    assigned = await client.post(
        "/kpis/users/1/kpis/assign", json={"kpi_definition_id": 1, "target_value": 3, "weight": 100}
    )
    assert assigned.status_code == 201, assigned.text
    new_id = assigned.json()["user_kpi_id"]
    assert assigned.json() == {"success": True, "user_kpi_id": new_id} and new_id != held_id

    today = datetime.now(UTC).date()
    old = (await client.get(f"/api/kpis/assignments/{held_id}")).json()
    assert old["end_date"] == (today - timedelta(days=1)).isoformat()
    new = (await client.get(f"/api/kpis/assignments/{new_id}")).json()
    assert (new["start_date"], new["end_date"]) == (today.isoformat(), None)
    # The seed's view lists the KPIs in force: the new one alone.
    assert [k["id"] for k in (await client.get("/kpis/users/1")).json()["kpis"]] == [new_id]

    # The README then calculates the new assignment for that week too; the scorecard of the
    # week still shows the assignment in force then, with its value and its target.
    assert (await client.post(f"/kpis/calculate/{new_id}", json=week)).status_code == 200
    card = await client.get(
        "/api/kpis/metrics/scorecard",
        params={"user_id": "1", "period_kind": "weekly", "date": "2026-11-09"},
    )
    [row] = card.json()["kpis"]
    hours = (4 + (2 - 1 / 3600) + 24) / 3
    assert (row["assignment_id"], row["target"]) == (held_id, 4)
    assert row["value"] == pytest.approx(hours, abs=1e-6)
    assert row["achievement"] == pytest.approx(4 / hours * 100, abs=1e-4)

    # A start before both is refused, naming the first of them.
    refused = await client.post(
        "/kpis/users/1/kpis/assign",
        json={"kpi_definition_id": 1, "target_value": 3, "start_date": "2026-10-01"},
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "error": (
            f"Assignment {held_id} gives this KPI to user '1' from 2026-11-02 to "
            f"{old['end_date']}, overlapping these dates; only an assignment that started earlier "
            "is superseded: end or change it first (2 problems in all)"
        )
    }


async def test_calculate_takes_exactly_the_range_given(client: AsyncClient, db: Database) -> None:
    await create_support_cases(db, CASES)
    await _seed_definitions(client)
    await client.post(
        "/kpis/users/1/kpis/assign",
        json={"kpi_definition_id": 2, "target_value": 2, "weight": 50, "start_date": "2026-11-01"},
    )
    # Wednesday to Tuesday, like the seed's own example: the Sunday cases and next Monday's
    wed_tue = (
        await client.post(
            "/kpis/calculate/1", json={"period_start": "2026-11-11", "period_end": "2026-11-17"}
        )
    ).json()
    assert wed_tue["measurement"]["actual_value"] == 3
    assert wed_tue["measurement"]["achievement_percentage"] == pytest.approx(150.0)
    week = (
        await client.post(
            "/kpis/calculate/1", json={"period_start": "2026-11-09", "period_end": "2026-11-15"}
        )
    ).json()
    assert week["measurement"]["actual_value"] == 3
    assert week["measurement_id"] != wed_tue["measurement_id"]
    native = (await client.get(f"/api/kpis/measurements/{wed_tue['measurement_id']}")).json()
    assert native["aligned"] is False
    aligned = (await client.get(f"/api/kpis/measurements/{week['measurement_id']}")).json()
    assert aligned["aligned"] is True


async def test_seed_errors_are_error_objects(client: AsyncClient, db: Database) -> None:
    await _seed_definitions(client)
    cases = [
        (
            "post",
            "/kpis/calculate/42",
            {"period_start": "2026-11-09", "period_end": "2026-11-15"},
            404,
        ),
        ("post", "/kpis/users/1/kpis/assign", {"kpi_definition_id": 99, "target_value": 3}, 422),
        ("post", "/kpis/users/1/kpis/assign", {"target_value": 3}, 422),
        ("post", "/kpis/users/1/kpis/assign", {"kpi_definition_id": 1, "target_value": "x"}, 422),
    ]
    for method, url, body, status in cases:
        response = await getattr(client, method)(url, json=body)
        assert response.status_code == status, (url, response.text)
        assert set(response.json()) == {"error"}, response.text
    manual = await client.post(
        "/kpis/users/1/kpis/assign", json={"kpi_definition_id": 3, "target_value": 90}
    )
    uid = manual.json()["user_kpi_id"]
    refused = await client.post(
        f"/kpis/calculate/{uid}", json={"period_start": "2026-11-09", "period_end": "2026-11-15"}
    )
    assert refused.status_code == 409
    assert refused.json() == {"error": "Manual KPIs cannot be auto-calculated"}
    backwards = await client.post(
        f"/kpis/calculate/{uid}", json={"period_start": "2026-11-15", "period_end": "2026-11-09"}
    )
    assert backwards.status_code == 422 and "error" in backwards.json()
    dup = await client.post(
        "/kpis/users/1/kpis/assign", json={"kpi_definition_id": 3, "target_value": 90}
    )
    assert dup.status_code == 409 and "error" in dup.json()


async def test_legacy_routes_need_identity_unless_trusted(db: Database, database_url: str) -> None:
    strict = create_app(make_settings(database_url, auth_mode=AuthMode.JWT), database=db)
    async with AsyncClient(transport=ASGITransport(app=strict), base_url="http://t") as c:
        response = await c.get("/kpis/definitions")
        assert response.status_code == 401 and "error" in response.json()
        ok = await c.get("/kpis/definitions", headers=bearer("1", "member"))
        assert ok.status_code == 200
    trusted = create_app(
        make_settings(database_url, auth_mode=AuthMode.JWT, legacy_trust_network=True), database=db
    )
    async with AsyncClient(transport=ASGITransport(app=trusted), base_url="http://t") as c:
        assert (await c.get("/kpis/definitions")).status_code == 200
        assert (await c.get("/api/kpis/definitions")).status_code == 401
    off = create_app(make_settings(database_url, legacy_routes=False), database=db)
    async with AsyncClient(transport=ASGITransport(app=off), base_url="http://t") as c:
        assert (await c.get("/kpis/definitions")).status_code == 404
