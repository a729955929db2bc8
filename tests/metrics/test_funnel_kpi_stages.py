"""GET /metrics/funnel with KPI stages (seed 004's contacts, one query KPI per stage),
members' values combined by the rollup, KPI and event stages mixed; by hand."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, recalculate, record
from tests.support.funnel import URL, expected_stages, served

WEEKS = [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
REACHED = ("contacted", "meeting_set", "proposal_sent", "negotiation", "closed_won", "closed_lost")
TEAM_OF = {"a1": "t1", "a2": "t1", "a3": "t2"}
STAGE_SQL = {
    "contacts_new": "TRUE",
    "contacts_reached": "funnel_stage <> 'needs_outreach'",
    "contacts_meeting": "funnel_stage IN ('meeting_set', 'proposal_sent', 'negotiation', "
    "'closed_won')",
    "contacts_won": "funnel_stage = 'closed_won'",
}


def in_stage(key: str, stage: str) -> bool:
    return {
        "contacts_new": True,
        "contacts_reached": stage != "needs_outreach",
        "contacts_meeting": stage in ("meeting_set", "proposal_sent", "negotiation", "closed_won"),
        "contacts_won": stage == "closed_won",
    }[key]


@pytest.fixture
async def contacts(db: Database) -> AsyncIterator[list[tuple[str, str, datetime]]]:
    """A seed-004-shaped contacts table in the source (= test) database, random rows."""
    rng = random.Random(4)
    stages = ["needs_outreach", *REACHED, "blocked"]
    rows = [
        (
            rng.choice(["a1", "a2", "a3"]),
            rng.choice(stages),
            datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=rng.randint(-3000, 30_000)),
        )
        for _ in range(300)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS public.activity_contacts"))
        await conn.execute(
            text(
                "CREATE TABLE public.activity_contacts (id serial PRIMARY KEY, owner_id text, "
                "funnel_stage text NOT NULL, created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO public.activity_contacts (owner_id, funnel_stage, created_at) "
                "VALUES (:o, :s, :c)"
            ),
            [{"o": o, "s": s, "c": c} for o, s, c in rows],
        )
    yield rows
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.activity_contacts"))


async def _contact_kpis(client: AsyncClient) -> None:
    for key, condition in STAGE_SQL.items():
        sql = (
            "SELECT owner_id AS subject_id, count(*) AS value FROM activity_contacts "
            f"WHERE {condition} AND owner_id = ANY(:subject_ids) "
            "AND created_at >= :period_start AND created_at < :period_end GROUP BY owner_id"
        )
        d = await define(client, key=key, calculation_type="query", config={"sql": sql})
        for user, team in TEAM_OF.items():
            await assign(client, d["id"], user, 10, team_id=team, start_date="2026-01-01")


async def test_kpi_stages_from_contacts_match_a_plain_python_count(
    client: AsyncClient, contacts: list[tuple[str, str, datetime]]
) -> None:
    await _contact_kpis(client)
    run = await recalculate(
        client, period_start=WEEKS[0].isoformat(), period_end=WEEKS[-1].isoformat()
    )
    assert run["status"] == "succeeded", run
    # Two whole weeks and the first day of the third: only the whole weeks count (sum).
    start, end = WEEKS[0], WEEKS[2]
    low, high = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)
    # A team's or the organisation's value of a user KPI: its members' values added up.
    for subject_type, subject_id, owners in (
        ("user", "a1", {"a1"}),
        ("user", "a2", {"a2"}),
        ("user", "a3", {"a3"}),
        ("team", "t1", {"a1", "a2"}),
        ("team", "t2", {"a3"}),
        ("team", "t3", set()),
        ("organization", None, {"a1", "a2", "a3"}),
    ):
        params = {
            "stages": [f"kpi:{k}" for k in STAGE_SQL],
            "subject_type": subject_type,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        if subject_id:
            params["subject_id"] = subject_id
        body = (await client.get(URL, params=params)).json()
        wanted = [
            Decimal(
                sum(
                    1
                    for o, s, c in contacts
                    if o in owners and low <= c < high and in_stage(key, s)
                )
            )
            if owners
            else None
            for key in STAGE_SQL
        ]
        assert served(body) == expected_stages(wanted), (subject_type, subject_id)
        assert [s["kind"] for s in body["stages"]] == ["kpi"] * 4


async def test_members_values_combine_per_period_by_the_rollup(client: AsyncClient) -> None:
    rate = await define(client, key="contact_rate", unit="percent")  # avg
    values = {
        ("u1", "2026-03-02"): 50,
        ("u2", "2026-03-02"): 70,
        ("u1", "2026-03-09"): 90,
        ("u3", "2026-03-09"): 10,
    }
    held = {
        u: (
            await assign(
                client,
                rate["id"],
                u,
                80,
                team_id="t1" if u != "u3" else "t2",
                start_date="2026-01-05",
            )
        )["id"]
        for u in ("u1", "u2", "u3")
    }
    for (user, week), value in values.items():
        put = await client.put(
            f"/api/kpis/assignments/{held[user]}/measurements/{week}", json={"value": value}
        )
        assert put.status_code == 200, put.text
    ask = {"stages": ["kpi:contact_rate"], "start": "2026-03-02", "end": "2026-03-15"}
    team = await client.get(URL, params={**ask, "subject_type": "team", "subject_id": "t1"})
    # t1: week 1 avg(50, 70) = 60, week 2 avg(90) = 90; over the weeks avg(60, 90) = 75.
    assert team.json()["stages"][0]["count"] == 75
    org = (await client.get(URL, params={**ask, "subject_type": "organization"})).json()
    # Everyone: week 1 avg(50, 70) = 60, week 2 avg(90, 10) = 50; avg(60, 50) = 55.
    assert org["stages"][0]["count"] == 55


async def test_kpi_and_event_stages_mix_and_a_kpi_without_value_is_null(
    client: AsyncClient,
) -> None:
    d = await define(client, key="leads_assigned", aggregation_period="daily")
    quiet = await define(client, key="quiet_kpi", aggregation_period="daily")
    a = await assign(client, d["id"], "42", 5, start_date="2026-01-01")
    await assign(client, quiet["id"], "42", 5, start_date="2026-01-01")
    for day, value in (
        ("2026-02-02", 6),
        ("2026-02-03", 4),
        ("2026-02-05", 2.5),
        ("2026-02-07", 100),
    ):  # the 7th is outside the range
        await record(client, a["id"], day, value)
    await ingest(client, [event("call", f"2026-02-0{d}T12:00:00Z") for d in (2, 3, 4, 6, 7)])
    body = (
        await client.get(
            URL,
            params={
                "stages": ["kpi:leads_assigned", "event:call", "kpi:quiet_kpi", "event:call_back"],
                "subject_type": "user",
                "subject_id": "42",
                "start": "2026-02-02",
                "end": "2026-02-06",
            },
        )
    ).json()
    # 6 + 4 + 2.5 = 12.5 leads; 4 calls (32 %); quiet has no value; 0 call-backs.
    assert served(body) == [
        (12.5, None, 100.0),
        (4, 32.0, 32.0),
        (None, None, None),
        (0, None, 0.0),
    ]
