"""Team KPIs over members are set-based too: one source statement for every member of every
due team, and a statement count that does not grow with the number of members."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign_in_bulk, assignment_body, define
from tests.support.database import create_support_cases, recalculated_counting_statements

WEEK = "2026-11-09"


async def _statements_for(
    client: AsyncClient, db: Database, database_url: str, members: int
) -> tuple[Counter[str], list[str]]:
    start = datetime(2026, 11, 9, 9, tzinfo=UTC)
    await create_support_cases(
        db, [(u, "resolved", start, start + timedelta(hours=u)) for u in range(1, members + 1)]
    )
    d = await define(
        client,
        key=f"team_resolved_{members}",
        scope="team",
        calculation_type="query",
        unit="hours",
        config={"query_key": "avg_resolution_time"},
    )
    # Members spread over three teams; each user's team comes from a user assignment.
    csat = await define(client, key=f"csat_{members}", unit="percent")
    items = [
        assignment_body(
            csat["id"], str(u), target_value=90, team_id="ABC"[u % 3], start_date="2026-11-01"
        )
        for u in range(1, members + 1)
    ]
    items += [
        assignment_body(d["id"], team, target_value=5, subject_type="team", start_date="2026-11-01")
        for team in "ABC"
    ]
    await assign_in_bulk(client, items)
    run, sent = await recalculated_counting_statements(
        client, db, database_url, period_start=WEEK, definition_keys=[d["key"]]
    )
    assert run["computed"] == 3, run
    return (
        Counter(statement.split()[0].upper() for statement in sent),
        [statement for statement in sent if "support_cases" in statement],
    )


async def test_team_statement_count_does_not_depend_on_the_number_of_members(
    client: AsyncClient, db: Database, database_url: str
) -> None:
    few, few_source = await _statements_for(client, db, database_url, 3)
    many, many_source = await _statements_for(client, db, database_url, 300)
    assert few == many, (few, many)
    assert len(few_source) == len(many_source) == 1  # every member of every team at once
    # With the write lock of the definition (derivation) and the packs following their sources.
    assert sum(few.values()) < 27
