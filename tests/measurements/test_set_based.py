"""Calculation is set-based: the statements per (KPI, period) do not grow with subjects."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign_in_bulk, assignment_body, define
from tests.support.database import create_support_cases, recalculated_counting_statements

WEEK = "2026-11-09"


async def _statements_for(
    client: AsyncClient, db: Database, database_url: str, users: int
) -> Counter[str]:
    start = datetime(2026, 11, 9, 9, tzinfo=UTC)
    await create_support_cases(
        db, [(u, "resolved", start, start + timedelta(hours=u)) for u in range(1, users + 1)]
    )
    d = await define(
        client,
        key=f"resolved_{users}",
        calculation_type="query",
        config={"query_key": "avg_resolution_time"},
    )
    items = [
        assignment_body(d["id"], str(u), target_value=5, start_date="2026-11-01")
        for u in range(1, users + 1)
    ]
    await assign_in_bulk(client, items)
    run, sent = await recalculated_counting_statements(
        client, db, database_url, period_start=WEEK, definition_keys=[d["key"]]
    )
    assert run["computed"] == users, run
    return Counter(statement.split()[0].upper() for statement in sent)


async def test_statement_count_does_not_depend_on_the_number_of_subjects(
    client: AsyncClient, db: Database, database_url: str
) -> None:
    few = await _statements_for(client, db, database_url, 3)
    many = await _statements_for(client, db, database_url, 300)
    assert few == many, (few, many)
    assert sum(few.values()) < 26  # with the packs following their sources (one per run)
