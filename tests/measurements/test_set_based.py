"""Calculation is set-based: the statements per (KPI, period) do not grow with subjects."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from httpx import AsyncClient
from sqlalchemy import event

from kpi_service.core.database import Database
from tests.conftest import plain_dsn
from tests.support import FINISHED, create_definition, create_support_cases

WEEK = "2026-11-09"


async def _statements_for(client: AsyncClient, db: Database, database_url: str,
                          users: int) -> Counter[str]:
    start = datetime(2026, 11, 9, 9, tzinfo=UTC)
    await create_support_cases(db, [(u, "resolved", start, start + timedelta(hours=u))
                                    for u in range(1, users + 1)])
    d = await create_definition(client, key=f"resolved_{users}", calculation_type="query",
                                config={"query_key": "avg_resolution_time"})
    items = [{"definition_id": d["id"], "subject_type": "user", "subject_id": str(u),
              "target_value": 5, "start_date": "2026-11-01"} for u in range(1, users + 1)]
    assert (await client.post("/api/kpis/assignments/bulk", json={"items": items})).status_code \
        == 201
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen[statement.split()[0].upper()] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        response = await client.post("/api/kpis/measurements/recalculate", json={
            "period_start": WEEK, "definition_keys": [d["key"]]})
        assert response.status_code == 202, response.text
        # Waited for on a connection of its own, so the polling is not counted.
        run = await _finished(database_url, response.json()["id"])
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert run["computed"] == users, run
    return seen


async def _finished(url: str, run_id: int) -> dict[str, Any]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        for _ in range(1200):
            row = await conn.fetchrow("SELECT status, computed FROM kpi.calculation_runs "
                                      "WHERE id = $1", run_id)
            if row is not None and row["status"] in FINISHED:
                return dict(row)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"run {run_id} did not finish")


async def test_statement_count_does_not_depend_on_the_number_of_subjects(
        client: AsyncClient, db: Database, database_url: str) -> None:
    few = await _statements_for(client, db, database_url, 3)
    many = await _statements_for(client, db, database_url, 300)
    assert few == many, (few, many)
    assert sum(few.values()) < 25
