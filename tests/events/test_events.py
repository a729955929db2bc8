"""Event ingestion (idempotent, per-item errors, monthly partitions) and the timeline."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import event, ingest
from tests.support.auth import bearer
from tests.support.problems import assert_problem, error_locs

T0 = datetime(2026, 9, 30, 23, 30, tzinfo=UTC)


async def _count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM kpi.events")) or 0)


async def test_a_batch_keeps_valid_items_and_reports_the_others(
    client: AsyncClient, db: Database
) -> None:
    good = [
        event("call", T0, "1", value=30, team_id="support"),
        event("email", T0 + timedelta(hours=1), "2", properties={"to": "x@y.z"}),
    ]
    bad = [
        {**event("call", T0, "1"), "user_id": "a\u0000b"},  # NUL
        {**event("call", T0, "1"), "occurred_at": "2026-09-30T10:00:00"},  # no offset
        event("call", datetime.now(UTC) + timedelta(days=30), "1"),  # far future
        {**event("call", T0, "1"), "id": "not-a-uuid"},
        event("Bad Type", T0, "1"),
        event("call", T0, "1", value=1e300),
        event("call", T0, "1", properties={"deep": "x" * 9000}),
        {**event("call", T0, "1"), "surprise": 1},
        "not an object",
    ]
    batch = [good[0], *bad, good[1]]
    response = await client.post("/api/kpis/events", json={"events": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, len(bad))
    assert sorted({e["index"] for e in body["errors"]}) == list(range(1, len(bad) + 1))
    assert await _count(db) == 2

    again = (await client.post("/api/kpis/events", json={"events": batch})).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 2, len(bad))
    assert await _count(db) == 2


async def test_repeats_inside_a_batch_are_duplicates(client: AsyncClient, db: Database) -> None:
    one = event("call", T0, "1")
    body = (await client.post("/api/kpis/events", json={"events": [one, one, one]})).json()
    assert (body["accepted"], body["duplicates"]) == (1, 2)
    assert await _count(db) == 1


async def test_partitions_are_made_per_month_as_needed(client: AsyncClient, db: Database) -> None:
    months = [
        datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 15, tzinfo=UTC),
    ]
    await ingest(client, [event("login", m, "1") for m in months])
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, count(e.*) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "LEFT JOIN kpi.events e ON e.tableoid = c.oid "
                "WHERE i.inhparent = 'kpi.events'::regclass GROUP BY c.relname"
            )
        )
        found: dict[str, int] = dict(rows.all())
    assert {k: v for k, v in found.items() if v} == {
        "events_y2025m12": 1,
        "events_y2026m01": 1,
        "events_y2026m03": 1,
    }


async def test_batch_limits(client: AsyncClient, db: Database) -> None:
    too_many = [event("call", T0, "1") for _ in range(10_001)]
    response = await client.post("/api/kpis/events", json={"events": too_many})
    assert response.status_code == 422
    assert (await client.post("/api/kpis/events", json={"events": []})).status_code == 422
    full = [event("call", T0 - timedelta(minutes=i), str(i % 50)) for i in range(10_000)]
    body = (await client.post("/api/kpis/events", json={"events": full})).json()
    assert body["accepted"] == 10_000
    assert await _count(db) == 10_000


async def test_timeline_pages_newest_first_with_filters_and_privacy(
    client: AsyncClient, jwt_client: AsyncClient, db: Database
) -> None:
    sent = [
        event(
            ("call", "email", "login")[i % 3], T0 - timedelta(minutes=7 * i), "1", team_id="support"
        )
        for i in range(25)
    ]
    sent += [event("call", T0 - timedelta(minutes=i), "2", team_id="sales") for i in range(5)]
    await ingest(client, sent)

    expected = [
        e["id"]
        for e in sorted(
            (e for e in sent if e["user_id"] == "1" and e["type"] != "login"),
            key=lambda e: (e["occurred_at"], e["id"]),
            reverse=True,
        )
    ]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"user_id": "1", "type": ["call", "email"], "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/kpis/events", params=params)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected

    member = await jwt_client.get("/api/kpis/events", headers=bearer("2", "member"))
    assert {e["user_id"] for e in member.json()["items"]} == {"2"}
    manager = await jwt_client.get(
        "/api/kpis/events", params={"limit": 500}, headers=bearer("m", "manager", teams=["sales"])
    )
    assert len(manager.json()["items"]) == 5
    other = await jwt_client.get("/api/kpis/events", headers=bearer("x", "admin", tenant="acme"))
    assert other.json()["items"] == []
    forbidden = await jwt_client.post(
        "/api/kpis/events", headers=bearer("2", "member"), json={"events": [event("call", T0, "2")]}
    )
    assert forbidden.status_code == 403
    bad_cursor = await client.get("/api/kpis/events", params={"cursor": "bm9wZQ"})
    assert bad_cursor.status_code == 422


async def test_a_cursor_carrying_no_id_text_is_refused_not_a_server_error(
    client: AsyncClient,
) -> None:
    for carried in (5, [1], True):
        raw = json.dumps({"t": T0.isoformat(), "id": carried}).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for route in ("/api/kpis/events", "/api/kpis/metrics/activities"):
            problem = assert_problem(await client.get(route, params={"cursor": cursor}), 422)
            assert error_locs(problem) == [["query", "cursor"]], (route, carried)
