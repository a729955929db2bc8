"""Formulas over the subject's team's and the organisation's values: a user's share of team
revenue, and stickiness (DAU / MAU) as an organisation formula; checked by hand."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, measurements, recalculate, record
from tests.support.formulas import percent, share_of_team_revenue

WEEK = "2026-11-09"
DAY = datetime(2026, 11, 10, tzinfo=UTC)


async def test_a_users_share_of_its_teams_revenue(client: AsyncClient, db: Database) -> None:
    share = await share_of_team_revenue(client)
    ids = {d["key"]: d["id"] for d in (await client.get("/api/kpis/definitions")).json()["items"]}
    # user -> (team of its revenue assignment, team of its share assignment, revenue)
    users = {
        "u1": ("T1", "T1", Decimal("1200.50")),
        "u2": ("T1", "T1", Decimal("799.50")),
        "u3": ("T9", "T2", Decimal("333")),  # the formula's assignment names the team read
        "u4": (None, None, Decimal("100")),
    }
    teams = {"T1": Decimal("2000"), "T2": Decimal("999"), "T9": Decimal("1")}
    for user, (revenue_team, share_team, revenue) in users.items():
        a = await assign(
            client, ids["revenue"], user, start_date="2026-11-01", team_id=revenue_team
        )
        await record(client, a["id"], WEEK, revenue)
        await assign(client, share["id"], user, 25, start_date="2026-11-01", team_id=share_team)
    for team, value in teams.items():
        a = await assign(
            client, ids["revenue_team"], team, subject_type="team", start_date="2026-11-01"
        )
        await record(client, a["id"], WEEK, value)
    run = await recalculate(client, period_start=WEEK, definition_keys=["share"])
    assert run["status"] == "succeeded", run
    got = {m["subject_id"]: m for m in await measurements(client, definition_key="share")}
    for user, (_, share_team, revenue) in users.items():
        if share_team is None:
            continue
        team = share_team
        assert got[user]["actual_value"] == percent(revenue, teams[team]), user
        assert got[user]["details"]["team_id"] == team
        inputs = {name: Decimal(v) for name, v in got[user]["details"]["inputs"].items()}
        assert inputs == {"mine": revenue, "team": teams[team]}
    # 1200.50 of 2000 is 60.03 %, against a target of 25 %
    assert got["u1"]["achievement"] == float(Decimal("60.03") / 25 * 100)
    assert got["u4"]["actual_value"] is None
    assert got["u4"]["details"]["team_id"] is None
    assert got["u4"]["details"]["no_value_reason"] == "no value for team (revenue_team)"


async def test_a_user_formula_reads_the_organisations_value(
    client: AsyncClient, db: Database
) -> None:
    calls = await define(client, "calls")
    total = await define(client, "calls_org", scope="organization")
    of_all = await define(
        client,
        "calls_share",
        unit="percent",
        calculation_type="formula",
        config={
            "expression": "round(mine / everyone * 100, 2)",
            "variables": {
                "mine": "calls",
                "everyone": {"kpi": "calls_org", "scope": "organization"},
            },
        },
    )
    org = await assign(
        client, total["id"], None, subject_type="organization", start_date="2026-11-01"
    )
    await record(client, org["id"], WEEK, 40)
    mine = {"7": 12, "8": 3}
    for user, value in mine.items():
        a = await assign(client, calls["id"], user, start_date="2026-11-01")
        await record(client, a["id"], WEEK, value)
        await assign(client, of_all["id"], user, start_date="2026-11-01")
    run = await recalculate(client, period_start=WEEK, definition_keys=["calls_share"])
    assert run["status"] == "succeeded", run
    got = {
        m["subject_id"]: m["actual_value"]
        for m in await measurements(client, definition_key="calls_share")
    }
    assert got == {user: percent(value, 40) for user, value in mine.items()}


def _events(rng: random.Random, kind: str, users: list[str], day: datetime) -> list[dict[str, Any]]:
    """Zero to three events of a kind per user at random times of the day."""
    return [
        event(
            id=uuid.UUID(int=rng.getrandbits(128)),
            user_id=user,
            event_type=kind,
            occurred_at=day + timedelta(seconds=rng.randrange(86400)),
        )
        for user in users
        for _ in range(rng.randint(0, 3))
    ]


async def test_stickiness_is_an_organisation_formula_over_two_event_kpis(
    client: AsyncClient, db: Database
) -> None:
    """DAU / MAU: `mau` stands in for a 30-day window (windows are defined elsewhere) as a
    daily KPI of its own event type; what is checked is the organisation formula."""
    rng = random.Random(14)
    people = [f"p{i}" for i in range(30)]
    opened = _events(rng, "open", people[:12], DAY)
    month = _events(rng, "month_active", people, DAY)
    later = _events(rng, "open", people, DAY + timedelta(days=1))  # the next day: not counted
    await ingest(client, opened + month + later)
    daily: dict[str, Any] = {
        "aggregation_period": "daily",
        "scope": "organization",
        "calculation_type": "event",
    }
    for key, kind in (("dau", "open"), ("mau", "month_active")):
        config = {"event_type": kind, "aggregate": "distinct_users"}
        await define(client, key, **daily, config=config)
    sticky = await define(
        client,
        "stickiness",
        unit="percent",
        aggregation_period="daily",
        scope="organization",
        calculation_type="formula",
        config={
            "expression": "round(dau / mau * 100, 2)",
            "variables": {"dau": "dau", "mau": "mau"},
        },
    )
    for d in (await client.get("/api/kpis/definitions")).json()["items"]:
        await assign(
            client, d["id"], None, 20, subject_type="organization", start_date="2026-11-01"
        )
    run = await recalculate(client, period_start=DAY.date().isoformat())
    assert run["status"] == "succeeded", run
    dau = len({e["user_id"] for e in opened})
    mau = len({e["user_id"] for e in month})
    got = {m["definition_key"]: m for m in await measurements(client, period_from="2026-11-10")}
    assert got["dau"]["actual_value"] == dau and got["mau"]["actual_value"] == mau
    assert got[sticky["key"]]["actual_value"] == percent(dau, mau)
    assert got[sticky["key"]]["period_start"] == got[sticky["key"]]["period_end"] == "2026-11-10"
