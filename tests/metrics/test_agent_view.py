"""GET /metrics/agent (seed 003 section A): every `kpis` and `trends` field of each agent worked
out here in plain Python from the leads inserted, over windows of local days in New York;
dense ranks with ties; who may see whom; the pack missing; bad days."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.api import ASSIGNMENTS, DEFINITIONS, assign, listed
from tests.support.app import app_client
from tests.support.auth import ACME_ADMIN, ADMIN, bearer
from tests.support.database import snapshot
from tests.support.expected import achieved, capped, change_of, dense, num, q, weighted
from tests.support.export import export, parsed
from tests.support.packs import AGENT_VIEW, install_agents, lead, mean, source_table, within
from tests.support.problems import assert_problem, error_locs

ZONE = ZoneInfo("America/New_York")
D = timedelta(days=1)
NORTH = ("a1", "a2", "a3", "a4", "a5")  # a2 and a3 have the same leads; a5 has none
TEAMS = {**dict.fromkeys(NORTH, "north"), "b1": "south"}
# The pack's scored KPIs (docs/packs.md): field, target, weight, direction.
SCORED = (
    ("conversion_rate", Decimal(30), Decimal(40), "higher_better"),
    ("satisfaction_score", Decimal("4.5"), Decimal(35), "higher_better"),
    ("response_time_hours", Decimal(2), Decimal(25), "lower_better"),
)
TRENDS = {
    "leads": "leads_handled",
    "conversion": "conversion_rate",
    "revenue": "total_revenue",
    "response": "response_time_hours",
    "satisfaction": "satisfaction_score",
}


def average(values: Sequence[Decimal]) -> Decimal:
    """The mean of values known to be there."""
    found = mean(values)
    assert found is not None
    return found


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZONE)


def leads_around(today: date) -> list[tuple[Any, ...]]:
    """Leads of the 30-day window ending today (W) and the 30 days before it (P), some on the
    windows' edges."""
    w = today - 29 * D  # W's first day
    p = w - 30 * D  # P's first day
    second, hour = timedelta(seconds=1), timedelta(hours=1)
    rows = [
        lead(
            "a1",
            midnight(w),
            contacted=midnight(w + D),
            converted=midnight(w + 3 * D),
            disposition="converted",
            response="1.00",
            rating=5,
            revenue="1000.00",
        ),
        lead(
            "a1",
            midnight(today - 10 * D),
            contacted=midnight(today - 9 * D),
            disposition="lost",
            response="3.00",
            rating=4,
        ),
        lead("a1", midnight(today) + 20 * hour),
        lead("a1", midnight(today - 6 * D)),  # the first instant of the last 7 days
        lead("a1", midnight(today - 6 * D) - second),
        lead(
            "a1",
            midnight(p + 2 * D),
            contacted=midnight(p + 3 * D),
            converted=midnight(p + 4 * D),
            disposition="converted",
            response="2.00",
            rating=3,
            revenue="500.00",
        ),
        # P's last instant, contacted in W.
        lead(
            "a1",
            midnight(w) - second,
            contacted=midnight(w) + hour,
            disposition="lost",
            response="4.00",
            rating=2,
        ),
        # Before P.
        lead("a1", midnight(p) - second, contacted=midnight(p) - second, response="9", rating=1),
        lead(
            "a4",
            midnight(today - 2 * D),
            contacted=midnight(today - D),
            disposition="lost",
            response="6.00",
            rating=2,
        ),
        lead(
            "a4",
            midnight(today - 45 * D),
            contacted=midnight(today - 44 * D),
            converted=midnight(today - 43 * D),
            disposition="converted",
            response="1.00",
            rating=5,
            revenue="200.00",
        ),
        lead(
            "b1",
            midnight(today - D),
            contacted=midnight(today - D),
            converted=midnight(today),
            disposition="converted",
            response="0.25",
            rating=5,
            revenue="5000.00",
        ),
    ]
    for agent in ("a2", "a3"):  # the same leads: a tie
        rows += [
            lead(
                agent,
                midnight(today - 5 * D) + 9 * hour,
                contacted=midnight(today - 4 * D),
                converted=midnight(today - 3 * D),
                disposition="converted",
                response="1.50",
                rating=5,
                revenue="300.50",
            ),
            lead(
                agent,
                midnight(today - 20 * D),
                contacted=midnight(today - 19 * D),
                disposition="lost",
                response="2.50",
                rating=4,
            ),
            lead(
                agent,
                midnight(today - 40 * D),
                contacted=midnight(today - 40 * D) + hour,
                disposition="lost",
                response="0.50",
                rating=5,
            ),
        ]
    return rows


def figures(
    rows: Sequence[tuple[Any, ...]], agent: str, span: tuple[datetime, datetime]
) -> dict[str, Decimal | None]:
    """The agent's figures over the span, as docs/packs.md defines the pack's KPIs."""
    mine = [r for r in rows if r[0] == agent]
    created = [r for r in mine if within(r[1], span)]
    contacted = [r for r in mine if within(r[2], span)]
    responses = [r[5] for r in contacted if r[5] is not None]
    ratings = [Decimal(r[6]) for r in contacted if r[6] is not None]
    converted = sum(1 for r in created if r[4] == "converted")
    return {
        "leads_handled": Decimal(len(created)),
        "conversion_rate": q(Decimal(100) * converted / len(created)) if created else None,
        "total_revenue": sum(
            (r[7] for r in mine if within(r[3], span) and r[7] is not None), Decimal(0)
        ),
        "response_time_hours": q(average(responses)) if responses else None,
        "satisfaction_score": q(average(ratings)) if ratings else None,
        "satisfaction_count": Decimal(len(ratings)),
    }


def score_of(values: dict[str, Decimal | None], caps: dict[str, Decimal]) -> Decimal | None:
    """sum(weight x min(achievement, cap)) / sum(weight) over the pack's scored KPIs."""
    pairs: list[tuple[Decimal, Decimal | None]] = []
    for field, target, weight, direction in SCORED:
        value = values[field]
        cap = caps.get(field, Decimal(150))
        pairs.append(
            (weight, None if value is None else capped(achieved(value, target, direction), cap))
        )
    return weighted(pairs)


def change(now: Decimal | None, before: Decimal | None) -> Decimal | None:
    return None if now is None else change_of(now, before)


def expected_view(
    rows: Sequence[tuple[Any, ...]],
    agent: str,
    today: date,
    days: int = 30,
    caps: dict[str, Decimal] | None = None,
) -> dict[str, Any]:
    """The whole answer for the agent, worked out from the rows."""
    start = today - (days - 1) * D
    before_start = start - days * D
    team = [a for a, t in TEAMS.items() if t == TEAMS[agent]]
    now = {a: figures(rows, a, (midnight(start), midnight(today + D))) for a in team}
    before = {a: figures(rows, a, (midnight(before_start), midnight(start))) for a in team}
    rank = dense({a: score_of(now[a], caps or {}) for a in team}).get(agent)
    was = dense({a: score_of(before[a], caps or {}) for a in team}).get(agent)
    week = (midnight(today - 6 * D), midnight(today + D))
    this_week = sum(1 for r in rows if r[0] == agent and within(r[1], week))
    mine, earlier = now[agent], before[agent]
    return {
        "agent_id": agent,
        "date_range": str(days),
        "window": {"start": start.isoformat(), "end": today.isoformat()},
        "previous_window": {"start": before_start.isoformat(), "end": (start - D).isoformat()},
        "kpis": {
            **{field: num(value) for field, value in mine.items()},
            "leads_this_week": this_week,
            "team_ranking": rank,
            "total_agents": len(team),
        },
        "trends": {
            **{trend: num(change(mine[field], earlier[field])) for trend, field in TRENDS.items()},
            "ranking": None if rank is None or was is None else was - rank,
        },
    }


@pytest.fixture
async def c(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    async with app_client(db, database_url, timezone=ZONE.key, auth_mode=AuthMode.JWT) as client:
        yield client


@pytest.fixture
async def agents(c: AsyncClient, db: Database) -> tuple[date, list[tuple[Any, ...]]]:
    """The leads in the source and the pack installed for the agents; today and the rows."""
    today = datetime.now(ZONE).date()
    rows = leads_around(today)
    await source_table(db, "leads", rows)
    await install_agents(c, TEAMS, today - 90 * D, headers=ADMIN)
    return today, rows


async def view(c: AsyncClient, headers: dict[str, str] = ADMIN, **params: Any) -> dict[str, Any]:
    response = await c.get(AGENT_VIEW, params=params, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_every_field_of_each_agent_is_worked_out_from_the_leads(
    c: AsyncClient, db: Database, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    today, rows = agents
    before = await snapshot(db)
    answers = {agent: await view(c, user_id=agent) for agent in TEAMS}
    assert await snapshot(db) == before  # nothing is stored
    for agent, answer in answers.items():
        assert answer == expected_view(rows, agent, today), agent
    ranks = {agent: answers[agent]["kpis"]["team_ranking"] for agent in TEAMS}
    # a2 and a3 tie first, a1 is second, a4 third (dense: not fourth); a5 has no score.
    assert ranks == {"a1": 2, "a2": 1, "a3": 1, "a4": 3, "a5": None, "b1": 1}
    assert [answers[a]["trends"]["ranking"] for a in ("a1", "a2", "a4")] == [0, 2, -2]
    assert answers["a1"]["kpis"]["leads_this_week"] == 2
    assert answers["a5"]["trends"]["conversion"] is None


async def test_a_window_of_seven_days(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    today, rows = agents
    for agent in ("a1", "a4"):
        assert await view(c, user_id=agent, days=7) == expected_view(rows, agent, today, 7)


async def test_an_admins_edit_of_a_pack_kpi_counts(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    today, rows = agents
    [conversion] = [
        d for d in await listed(c, DEFINITIONS, ADMIN) if d["key"] == "agent_conversion_rate"
    ]
    changed = await c.patch(
        f"{DEFINITIONS}/{conversion['id']}", json={"score_cap": 100}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    caps = {"conversion_rate": Decimal(100)}
    for agent in NORTH:
        assert await view(c, user_id=agent) == expected_view(rows, agent, today, caps=caps)


async def test_the_caller_is_the_default_and_members_see_only_themselves(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    today, rows = agents
    member = bearer("a4", "member")
    assert await view(c, member) == expected_view(rows, "a4", today)
    for other in ("a1", "b1", "nobody"):
        assert_problem(await c.get(AGENT_VIEW, params={"user_id": other}, headers=member), 404)


async def test_managers_see_the_agents_of_their_teams(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    north, south = (
        bearer("m1", "manager", teams=["north"]),
        bearer("m2", "manager", teams=["south"]),
    )
    assert (await view(c, north, user_id="a1"))["kpis"]["total_agents"] == len(NORTH)
    assert (await view(c, south, user_id="b1"))["kpis"]["total_agents"] == 1
    assert_problem(await c.get(AGENT_VIEW, params={"user_id": "b1"}, headers=north), 404)
    assert_problem(await c.get(AGENT_VIEW, params={"user_id": "a1"}, headers=south), 404)


async def test_the_pack_not_installed_is_a_conflict(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    problem = assert_problem(
        await c.get(AGENT_VIEW, params={"user_id": "a1"}, headers=ACME_ADMIN), 409
    )
    assert "kpi-service packs install agent" in problem["detail"]
    # Deactivating one of the pack's KPIs takes it away too.
    [week] = [d for d in await listed(c, DEFINITIONS, ADMIN) if d["key"] == "agent_leads_this_week"]
    assert (await c.delete(f"{DEFINITIONS}/{week['id']}", headers=ADMIN)).status_code == 200
    problem = assert_problem(await c.get(AGENT_VIEW, params={"user_id": "a1"}, headers=ADMIN), 409)
    assert "agent_leads_this_week" in problem["detail"]


async def test_a_source_without_the_leads_table_is_a_conflict(
    c: AsyncClient, db: Database, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.leads"))
    problem = assert_problem(await c.get(AGENT_VIEW, params={"user_id": "a1"}, headers=ADMIN), 409)
    assert "could not be computed" in problem["detail"], problem
    assert "does not exist on the source" in problem["detail"], problem


async def test_a_user_without_agent_kpis_and_bad_days_are_refused(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    assert_problem(await c.get(AGENT_VIEW, params={"user_id": "nobody"}, headers=ADMIN), 404)
    for days in (0, 367, "month"):
        response = await c.get(AGENT_VIEW, params={"user_id": "a1", "days": days}, headers=ADMIN)
        assert error_locs(assert_problem(response, 422, days)) == [["query", "days"]]


async def test_the_view_exports_as_one_row(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    today, rows = agents
    [row] = parsed(await export(c, ADMIN, view="agent", user_id="a4"))
    want = expected_view(rows, "a4", today)
    assert row["agent_id"] == "a4" and row["window_start"] == want["window"]["start"]
    assert row["kpis_team_ranking"] == str(want["kpis"]["team_ranking"])
    assert row["trends_ranking"] == str(want["trends"]["ranking"])


async def test_the_team_is_the_one_most_of_the_agents_kpis_are_recorded_under(
    c: AsyncClient, agents: tuple[date, list[tuple[Any, ...]]]
) -> None:
    # As the scorecard picks it: b1 moves one unweighted KPI to north mid-window, the other
    # six (and that KPI's earlier assignment) stay recorded under south. The latest
    # assignment to start is north's; the team is still south.
    today, rows = agents
    [kpi] = [d for d in await listed(c, DEFINITIONS, ADMIN) if d["key"] == "agent_leads_handled"]
    [held] = await listed(c, ASSIGNMENTS, ADMIN, subject_id="b1", definition_id=kpi["id"])
    ended = await c.post(
        f"{ASSIGNMENTS}/{held['id']}/end",
        json={"end_date": (today - 11 * D).isoformat()},
        headers=ADMIN,
    )
    assert ended.status_code == 200, ended.text
    await assign(
        c,
        kpi["id"],
        "b1",
        40,
        weight=0,
        team_id="north",
        start_date=(today - 10 * D).isoformat(),
        headers=ADMIN,
    )
    assert await view(c, user_id="b1") == expected_view(rows, "b1", today)
