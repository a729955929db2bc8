"""GET /metrics/breakdown of a query KPI by one of its columns, recomputed in plain Python
from a leads table in the source database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define
from tests.support.breakdown import URL, rows_of, six

AGENTS = {"a1": "north", "a2": "north", "a3": "south", "a4": "south", "a5": None, "a6": "east"}
TEAM_OF = {"a1": "t1", "a2": "t1", "a3": "t1", "a4": "t2", "a5": "t2", "a6": "t2"}
SQL = (
    "SELECT l.agent_id AS subject_id, count(*) AS value, a.region FROM activity_leads l "
    "JOIN activity_agents a ON a.id = l.agent_id WHERE l.agent_id = ANY(:subject_ids) "
    "AND l.created_at >= :period_start AND l.created_at < :period_end "
    "GROUP BY l.agent_id, a.region"
)


@pytest.fixture
async def leads_table(db: Database) -> AsyncIterator[list[tuple[str, datetime]]]:
    """Seed 003's leads with the agent's region in a second table."""
    rng = random.Random(35)
    # a6 has no lead in the range: no row, so not counted.
    rows = [
        (
            rng.choice(["a1", "a2", "a3", "a4", "a5"]),
            datetime(2026, 3, 23, tzinfo=UTC) + timedelta(minutes=rng.randint(-5000, 25_000)),
        )
        for _ in range(200)
    ]
    async with db.engine.begin() as conn:
        for name in ("activity_leads", "activity_agents"):
            await conn.execute(text(f"DROP TABLE IF EXISTS public.{name}"))
        await conn.execute(
            text("CREATE TABLE public.activity_agents (id text PRIMARY KEY, region text)")
        )
        await conn.execute(
            text(
                "CREATE TABLE public.activity_leads (id serial PRIMARY KEY, "
                "agent_id text, created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(
            text("INSERT INTO public.activity_agents VALUES (:i, :r)"),
            [{"i": i, "r": r} for i, r in AGENTS.items()],
        )
        await conn.execute(
            text("INSERT INTO public.activity_leads (agent_id, created_at) VALUES (:a, :c)"),
            [{"a": a, "c": c} for a, c in rows],
        )
    yield rows
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.activity_leads, public.activity_agents"))


async def test_a_query_kpi_by_a_column_matches_a_plain_python_count(
    client: AsyncClient, leads_table: list[tuple[str, datetime]]
) -> None:
    for key, rollup in (("leads_per_agent", "sum"), ("leads_avg", "avg")):
        d = await define(
            client, key=key, calculation_type="query", rollup=rollup, config={"sql": SQL}
        )
        for agent in AGENTS:
            await assign(
                client, d["id"], agent, 10, team_id=TEAM_OF[agent], start_date="2026-01-01"
            )
    low, high = datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC)
    per_agent = {a: sum(1 for x, c in leads_table if x == a and low <= c < high) for a in AGENTS}
    for subject_type, subject_id, agents in (
        ("organization", None, list(AGENTS)),
        ("team", "t1", ["a1", "a2", "a3"]),
        ("team", "t2", ["a4", "a5", "a6"]),
        ("user", "a3", ["a3"]),
    ):
        for key, rollup in (("leads_per_agent", "sum"), ("leads_avg", "avg")):
            params = {
                "definition_key": key,
                "dimension": "region",
                "subject_type": subject_type,
                "start": "2026-03-23",
                "end": "2026-04-05",
            }
            if subject_id:
                params["subject_id"] = subject_id
            response = await client.get(URL, params=params)
            assert response.status_code == 200, response.text
            wanted = {}
            for region in {AGENTS[a] for a in agents if per_agent[a]}:
                counts = [
                    Decimal(per_agent[a]) for a in agents if AGENTS[a] == region and per_agent[a]
                ]
                total = sum(counts, Decimal(0))
                value = total if rollup == "sum" else total / len(counts)
                wanted[region] = (len(counts), six(value), six(total), None, None, None)
            assert rows_of(response.json()) == wanted, (subject_type, subject_id, key)


async def test_a_query_kpi_cannot_be_split_by_a_column_it_lacks(
    client: AsyncClient, leads_table: list[tuple[str, datetime]]
) -> None:
    await define(client, key="leads_per_agent", calculation_type="query", config={"sql": SQL})
    await define(
        client,
        key="resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    base = {"start": "2026-03-23", "end": "2026-04-05"}
    for params, word in (
        ({"definition_key": "leads_per_agent", "dimension": "country"}, "country"),
        ({"definition_key": "resolved", "dimension": "status"}, "built-in"),
        (
            {
                "definition_key": "leads_per_agent",
                "dimension": "region",
                "convert_type": "conversion",
            },
            "event KPIs",
        ),
    ):
        response = await client.get(URL, params={**base, **params})
        assert response.status_code == 422, response.text
        assert word in response.json()["detail"]
