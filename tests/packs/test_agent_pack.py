"""The agent pack on a fresh tenant: seed 003's leads as its contract describes them, computed
for a closed month and week: the organisation's KPIs have the values of all the leads with no
agent assigned, with the agents found in the rows every KPI has its value, and the ranking
weights are the seed's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.packs.agent import AGENT
from tests.support.api import listed, recalculate
from tests.support.packs import (
    MONTH,
    MONTH_START,
    WEEK,
    WEEK_START,
    install,
    mean,
    percent,
    source_table,
    stored_as,
    stored_by_key,
    within,
)

D = timedelta(days=1)
NOV = datetime(2026, 11, 2, 10, tzinfo=UTC)
OCT = datetime(2026, 10, 26, 10, tzinfo=UTC)
# assigned_agent_id, created_at, contacted_at, converted_at, disposition,
# response_time_hours, satisfaction_rating, revenue
Lead = tuple[
    str, datetime, datetime | None, datetime | None, str, Decimal | None, int | None, Decimal | None
]
LEADS: list[Lead] = [
    ("7", NOV, NOV + D, NOV + 5 * D, "converted", Decimal("1.50"), 5, Decimal("1200.00")),
    ("7", NOV + 8 * D, NOV + 8 * D, None, "lost", Decimal("0.25"), 3, None),
    ("7", NOV + 9 * D, None, None, "new", None, None, None),
    (
        "7",
        NOV + 12 * D,
        NOV + 13 * D,
        NOV + 20 * D,
        "converted",
        Decimal("2.00"),
        None,
        Decimal("800.50"),
    ),
    # Created in October, contacted and converted in November.
    ("7", OCT, NOV, NOV + 3 * D, "converted", Decimal("4.00"), 4, Decimal("300.00")),
    ("8", NOV + 7 * D, NOV + 7 * D, None, "contacted", Decimal("3.00"), 2, None),
    (
        "8",
        NOV + 10 * D,
        NOV + 11 * D,
        NOV + 14 * D,
        "converted",
        Decimal("1.00"),
        5,
        Decimal("99.99"),
    ),
    ("8", NOV + 20 * D, NOV + 21 * D, None, "interested", Decimal("0.50"), None, None),
    # Agent 9: one October lead, converted in November; no lead created in November.
    ("9", OCT + D, OCT + 2 * D, NOV + D, "converted", Decimal("6.00"), 1, Decimal("50.00")),
]
SEED_WEIGHTS = {"agent_conversion_rate": 40, "agent_satisfaction": 35, "agent_response_time": 25}
# Each organisation KPI and the user KPI whose figure it is over every lead.
ORGANISATION = {
    "agent_org_leads": "agent_leads_handled",
    "agent_org_revenue": "agent_revenue",
    "agent_org_conversion_rate": "agent_conversion_rate",
    "agent_org_response_time": "agent_response_time",
    "agent_org_satisfaction": "agent_satisfaction",
}


def figures(leads: list[Lead]) -> dict[tuple[str, str], Decimal | None]:
    """Each user KPI's figure for the month (and the leads of the week) over these leads."""
    created = [lead for lead in leads if within(lead[1], MONTH)]
    contacted = [lead for lead in leads if within(lead[2], MONTH)]
    rated = [lead[6] for lead in contacted if lead[6] is not None]
    return {
        ("agent_leads_handled", MONTH_START): Decimal(len(created)),
        ("agent_leads_this_week", WEEK_START): Decimal(
            sum(1 for lead in leads if within(lead[1], WEEK))
        ),
        ("agent_conversion_rate", MONTH_START): percent(
            sum(1 for lead in created if lead[4] == "converted"), len(created)
        ),
        ("agent_revenue", MONTH_START): sum(
            (lead[7] for lead in leads if within(lead[3], MONTH) and lead[7] is not None),
            Decimal(0),
        ),
        ("agent_response_time", MONTH_START): mean(
            [lead[5] for lead in contacted if lead[5] is not None]
        ),
        ("agent_satisfaction", MONTH_START): mean([Decimal(r) for r in rated]),
        ("agent_satisfaction_count", MONTH_START): Decimal(len(rated)),
    }


def organisation_values() -> dict[tuple[str, str, str], Decimal | None]:
    everyone = figures(LEADS)
    return {
        (org, "default", MONTH_START): stored_as(everyone[(user, MONTH_START)])
        for org, user in ORGANISATION.items()
    }


async def test_the_organisation_kpis_have_the_values_of_all_rows_without_users(
    client: AsyncClient, db: Database
) -> None:
    assert set(ORGANISATION) == {a.key for a in AGENT.organisation}
    report = await install(client, "agent", {"start_date": "2026-10-01", "follow_sources": False})
    assert {a["subject_type"] for a in report["assignments_created"]} == {"organization"}
    await source_table(db, "leads", LEADS)

    run = await recalculate(client, period_start=MONTH_START)
    assert run["status"] == "succeeded", run
    assert await stored_by_key(client) == organisation_values()


async def test_with_the_users_of_the_rows_every_kpi_has_the_value_of_its_rows(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "leads", LEADS)
    await install(client, "agent", {"start_date": "2026-10-01"})
    # A day of the week that is also in the month: both periods are computed.
    run = await recalculate(client, period_start="2026-11-11")
    assert run["status"] == "succeeded", run

    want = organisation_values()
    for agent in sorted({lead[0] for lead in LEADS}):
        mine = figures([lead for lead in LEADS if lead[0] == agent])
        want |= {(key, agent, period): stored_as(value) for (key, period), value in mine.items()}
    assert await stored_by_key(client) == want


async def test_the_agents_are_ranked_with_the_seeds_weights(client: AsyncClient) -> None:
    await install(client, "agent", {"users": [{"user_id": "7", "team_id": "sales"}]})
    keys = {d["id"]: d["key"] for d in await listed(client, "/api/kpis/definitions")}
    weights = {
        keys[a["definition_id"]]: a["weight"]
        for a in await listed(client, "/api/kpis/assignments", subject_type="user")
    }
    assert {k: w for k, w in weights.items() if w} == SEED_WEIGHTS
