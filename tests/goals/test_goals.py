"""Goals one at a time: create, read, list, change, delete, and the audit trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import manual_kpi
from tests.support.app import make_settings
from tests.support.goals import GOALS, goal, items_of, set_goal
from tests.support.problems import assert_problem

FIELDS = {
    "id",
    "user_id",
    "definition_id",
    "definition_key",
    "target_type",
    "rollup",
    "period_kind",
    "period_start",
    "period_end",
    "target_value",
    "current_value",
    "progress",
    "status",
    "periods_counted",
    "reason",
    "achieved_at",
    "created_by",
    "created_at",
    "updated_at",
    "is_final",
}


async def test_create_read_change_delete(client: AsyncClient, db: Database) -> None:
    calls = await manual_kpi(client, "calls", aggregation_period="daily")
    created = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="monthly",
        period_start="2026-02-14",
        target_value=40,
    )
    assert set(created) == FIELDS
    assert created["definition_id"] == calls["id"] and created["definition_key"] == "calls"
    assert (created["period_kind"], created["period_start"], created["period_end"]) == (
        "monthly",
        "2026-02-01",
        "2026-02-28",
    )
    assert created["target_value"] == 40 and created["user_id"] == "42"
    assert created["created_by"] == "local-admin"
    assert (created["target_type"], created["rollup"]) == ("higher_better", "sum")
    # Nothing measured yet: no progress, and said why, never a fake 0.
    assert (created["current_value"], created["progress"], created["status"]) == (
        None,
        None,
        "no_data",
    )
    assert created["periods_counted"] == 0 and created["reason"]
    assert created["achieved_at"] is None
    assert await goal(client, created["id"]) == created

    by_id = await set_goal(
        client,
        definition_id=calls["id"],
        user_id="42",
        period_kind="quarterly",
        period_start="2026-05-31",
        target_value=120,
    )
    assert (by_id["period_start"], by_id["period_end"]) == ("2026-04-01", "2026-06-30")
    yearly = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="yearly",
        period_start="2026-12-31",
        period_end="2026-12-31",
        target_value=500,
    )
    assert (yearly["period_start"], yearly["period_end"]) == ("2026-01-01", "2026-12-31")
    custom = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="custom",
        period_start="2026-02-10",
        period_end="2026-03-09",
        target_value=30,
    )
    assert (custom["period_start"], custom["period_end"]) == ("2026-02-10", "2026-03-09")

    changed = await client.patch(f"{GOALS}/{created['id']}", json={"target_value": 45.5})
    assert changed.status_code == 200, changed.text
    assert changed.json()["target_value"] == 45.5
    assert changed.json()["updated_at"] >= created["updated_at"]
    moved = await client.patch(f"{GOALS}/{created['id']}", json={"period_start": "2026-03-20"})
    assert (moved.json()["period_start"], moved.json()["period_end"]) == (
        "2026-03-01",
        "2026-03-31",
    )
    to_custom = await client.patch(
        f"{GOALS}/{created['id']}", json={"period_kind": "custom", "period_start": "2026-03-02"}
    )
    assert to_custom.status_code == 200, to_custom.text
    # A custom goal keeps its end unless given one.
    assert (
        to_custom.json()["period_kind"],
        to_custom.json()["period_start"],
        to_custom.json()["period_end"],
    ) == ("custom", "2026-03-02", "2026-03-31")
    back = await client.patch(f"{GOALS}/{created['id']}", json={"period_kind": "monthly"})
    assert (back.json()["period_start"], back.json()["period_end"]) == ("2026-03-01", "2026-03-31")

    deleted = await client.delete(f"{GOALS}/{custom['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == custom["id"]
    assert (await client.get(f"{GOALS}/{custom['id']}")).status_code == 404
    assert (await client.delete(f"{GOALS}/{custom['id']}")).status_code == 404
    assert (
        await client.patch(f"{GOALS}/{custom['id']}", json={"target_value": 1})
    ).status_code == 404
    assert [g["id"] for g in items_of(await client.get(GOALS))] == [
        created["id"],
        by_id["id"],
        yearly["id"],
    ]

    audit = items_of(await client.get("/api/kpis/audit", params={"entity_type": "goal"}))
    actions = sorted((e["action"], e["entity_id"]) for e in audit)
    assert actions == sorted(
        [
            ("create", str(created["id"])),
            ("create", str(by_id["id"])),
            ("create", str(yearly["id"])),
            ("create", str(custom["id"])),
            *[("update", str(created["id"]))] * 4,
            ("delete", str(custom["id"])),
        ]
    )
    delete_entry = next(e for e in audit if e["action"] == "delete")
    assert delete_entry["before"]["target_value"] == 30 and delete_entry["after"] is None
    first_update = min((e for e in audit if e["action"] == "update"), key=lambda e: e["id"])
    assert (first_update["before"]["target_value"], first_update["after"]["target_value"]) == (
        40,
        45.5,
    )


async def test_a_second_goal_for_the_same_range_conflicts(
    client: AsyncClient, db: Database
) -> None:
    await manual_kpi(client, "calls", aggregation_period="weekly")
    body: dict[str, Any] = {
        "definition_key": "calls",
        "user_id": "42",
        "period_kind": "monthly",
        "period_start": "2026-01-01",
        "target_value": 10,
    }
    first = await set_goal(client, **body)
    again = await client.post(GOALS, json={**body, "period_start": "2026-01-31"})
    assert_problem(again, 409)
    # Another user, or another month, is another goal.
    await set_goal(client, **{**body, "user_id": "43"})
    february = await set_goal(client, **{**body, "period_start": "2026-02-01"})
    clash = await client.patch(f"{GOALS}/{february['id']}", json={"period_start": "2026-01-15"})
    assert clash.status_code == 409, clash.text
    assert (await goal(client, first["id"]))["target_value"] == 10
    assert (await goal(client, february["id"]))["period_start"] == "2026-02-01"


async def test_list_filters_and_pages(client: AsyncClient, db: Database) -> None:
    calls = await manual_kpi(client, "calls", aggregation_period="daily")
    await manual_kpi(client, "revenue", aggregation_period="monthly", unit="currency")
    made: list[dict[str, Any]] = []
    for user, key, kind, start, end in [
        ("42", "calls", "monthly", "2026-01-01", None),
        ("42", "calls", "monthly", "2026-02-01", None),
        ("42", "revenue", "quarterly", "2026-01-01", None),
        ("43", "calls", "monthly", "2026-01-01", None),
        ("43", "revenue", "yearly", "2026-01-01", None),
        ("43", "calls", "custom", "2026-01-20", "2026-02-10"),
    ]:
        made.append(
            await set_goal(
                client,
                definition_key=key,
                user_id=user,
                period_kind=kind,
                period_start=start,
                period_end=end,
                target_value=1,
            )
        )
    ids = [g["id"] for g in made]

    async def ids_for(**params: Any) -> list[int]:
        return [g["id"] for g in items_of(await client.get(GOALS, params=params))]

    assert await ids_for() == ids
    assert await ids_for(user_id="43") == ids[3:]
    assert await ids_for(definition_key="revenue") == [ids[2], ids[4]]
    assert await ids_for(definition_id=calls["id"], user_id="42") == ids[:2]
    assert await ids_for(period_kind="monthly") == [ids[0], ids[1], ids[3]]
    assert await ids_for(active_on="2026-02-05") == [ids[1], ids[2], ids[4], ids[5]]
    assert await ids_for(active_on="2026-01-31", period_kind="custom") == [ids[5]]
    assert await ids_for(user_id="99") == []

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(GOALS, params=params)).json()
        pages.append([g["id"] for g in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [ids[:4], ids[4:]]


async def test_defaults_are_the_caller_and_the_current_period_in_the_time_zone(
    db: Database, database_url: str
) -> None:
    # Far east and far west of UTC, "today" is often another day: each app uses its own.
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        app = create_app(make_settings(database_url, timezone=zone), database=db)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            key = zone.split("/")[1].lower()
            await manual_kpi(c, key, aggregation_period="daily")
            today = datetime.now(ZoneInfo(zone)).date()
            created = await set_goal(c, definition_key=key, period_kind="monthly", target_value=5)
            assert created["user_id"] == "local-admin"
            assert created["period_start"] == today.replace(day=1).isoformat()
            quarter = await set_goal(c, definition_key=key, period_kind="quarterly", target_value=5)
            first_month = (today.month - 1) // 3 * 3 + 1
            assert quarter["period_start"] == date(today.year, first_month, 1).isoformat()
