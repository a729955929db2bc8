"""Formula values follow their inputs: a team's, the organisation's or the subject's own value
that changes (a manual entry, a run) recomputes the stored values of the formulas reading it,
down the chain, in the same transaction; closed periods stay frozen until restated."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, measurements, recalculate, record
from tests.support.formulas import percent, share_of_team_revenue

WEEK = "2026-11-09"
START = "2026-11-01"


async def _by_key(client: AsyncClient) -> dict[str, int]:
    return {d["key"]: d["id"] for d in (await client.get("/api/kpis/definitions")).json()["items"]}


async def _stored(client: AsyncClient, key: str) -> dict[str, dict[str, Any]]:
    return {m["subject_id"]: m for m in await measurements(client, definition_key=key)}


async def _shares_of(
    client: AsyncClient, users: dict[str, tuple[str, int]], teams: dict[str, int] | None
) -> dict[str, int]:
    """Assign revenue (recorded), share and share_band to the users in their teams, and
    `revenue_team` to the teams (recorded when `teams` are given); the team assignment ids."""
    ids = await _by_key(client)
    for user, (team, revenue) in users.items():
        a = await assign(client, ids["revenue"], user, start_date=START, team_id=team)
        await record(client, a["id"], WEEK, revenue)
        for key in ("share", "share_band"):
            await assign(client, ids[key], user, 20, start_date=START, team_id=team)
    assigned = {}
    for team in sorted({team for team, _ in users.values()}):
        a = await assign(client, ids["revenue_team"], team, subject_type="team", start_date=START)
        assigned[team] = a["id"]
        if teams is not None:
            await record(client, a["id"], WEEK, teams[team])
    return assigned


async def _band(client: AsyncClient) -> None:
    """A formula over the share formula: its tens, rounded half up."""
    config = {"expression": "round(s / 10)", "variables": {"s": "share"}}
    await define(client, "share_band", calculation_type="formula", config=config)


def _expected(users: dict[str, tuple[str, int]], teams: dict[str, int]) -> dict[str, float]:
    return {user: percent(revenue, teams[team]) for user, (team, revenue) in users.items()}


def _bands(shares: dict[str, float]) -> dict[str, float]:
    return {
        user: float((Decimal(str(s)) / 10).quantize(Decimal(1), ROUND_HALF_UP))
        for user, s in shares.items()
    }


def _values(stored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {user: m["actual_value"] for user, m in stored.items()}


async def test_a_changed_team_value_recomputes_its_members_shares_down_the_chain(
    client: AsyncClient, db: Database
) -> None:
    await share_of_team_revenue(client)
    await _band(client)
    users = {"u1": ("T1", 600), "u2": ("T1", 450), "u3": ("T2", 250)}
    teams = {"T1": 2000, "T2": 1000}
    team_ids = await _shares_of(client, users, teams)
    assert (await recalculate(client, period_start=WEEK))["status"] == "succeeded"
    assert _values(await _stored(client, "share")) == _expected(users, teams)
    before = await _stored(client, "share")

    teams["T1"] = 1600
    await record(client, team_ids["T1"], WEEK, teams["T1"])

    shares = await _stored(client, "share")
    assert _values(shares) == _expected(users, teams)  # u1 37.5, u2 28.13, u3 25
    assert _values(await _stored(client, "share_band")) == _bands(_expected(users, teams))
    assert shares["u3"]["revision"] == before["u3"]["revision"]  # T2's share did not move
    assert shares["u1"]["revision"] == before["u1"]["revision"] + 1
    revisions = await client.get(f"/api/kpis/measurements/{shares['u1']['id']}/revisions")
    reasons = [r["change_reason"] for r in revisions.json()["items"]]
    assert reasons == ["recomputed: revenue_team changed (manual entry)"]


async def test_a_run_of_the_team_input_alone_carries_the_shares_with_it(
    client: AsyncClient, db: Database
) -> None:
    await share_of_team_revenue(
        client, calculation_type="event", config={"event_type": "sale", "aggregate": "sum"}
    )
    await _band(client)
    users = {"u1": ("T1", 300), "u2": ("T2", 90)}
    await _shares_of(client, users, None)
    sales: list[dict[str, Any]] = []

    async def sell(team: str, value: int) -> None:
        sale = event(
            "sale",
            f"2026-11-1{len(sales) % 5}T09:00:00Z",
            "someone",
            team_id=team,
            value=value,
            id=f"00000000-0000-4000-8000-{len(sales):012d}",
        )
        await ingest(client, [sale])
        sales.append(sale)

    for team, value in (("T1", 1000), ("T1", 200), ("T2", 300)):
        await sell(team, value)
    assert (await recalculate(client, period_start=WEEK))["status"] == "succeeded"
    await sell("T1", 300)
    run = await recalculate(client, period_start=WEEK, definition_keys=["revenue_team"])
    assert run["status"] == "succeeded", run
    teams = {team: sum(s["value"] for s in sales if s["team_id"] == team) for team in ("T1", "T2")}
    assert _values(await _stored(client, "revenue_team")) == teams
    shares = await _stored(client, "share")
    assert _values(shares) == _expected(users, teams)  # u1: 300 of 1500 = 20 %
    assert _values(await _stored(client, "share_band")) == _bands(_expected(users, teams))
    assert shares["u1"]["run_id"] == run["id"]
    # A full run computes each formula row once: its own later step does, not its inputs'.
    await sell("T2", 60)
    full = await recalculate(client, period_start=WEEK)
    assert (full["computed"] + full["unchanged"], full["skipped"]) == (6, 2), full
    teams["T2"] += 60
    assert _values(await _stored(client, "share")) == _expected(users, teams)


async def test_an_organisation_value_moves_every_users_formula(
    client: AsyncClient, db: Database
) -> None:
    calls = await define(client, "calls")
    total = await define(client, "calls_org", scope="organization")
    everyone = {"kpi": "calls_org", "scope": "organization"}
    config = {"expression": "mine * 100 / all", "variables": {"mine": "calls", "all": everyone}}
    share = await define(client, "calls_share", calculation_type="formula", config=config)
    org = await assign(client, total["id"], None, subject_type="organization", start_date=START)
    await record(client, org["id"], WEEK, 50)
    mine = {"7": 10, "8": 4}
    for user, value in mine.items():
        a = await assign(client, calls["id"], user, start_date=START)
        await record(client, a["id"], WEEK, value)
        await assign(client, share["id"], user, start_date=START)
    assert (await recalculate(client, period_start=WEEK))["status"] == "succeeded"
    await record(client, org["id"], WEEK, 40)
    assert _values(await _stored(client, "calls_share")) == {
        user: value * 100 / 40 for user, value in mine.items()
    }
    # the user's own input moves only that user's formula
    await record(client, (await _assignment(client, calls["id"], "8")), WEEK, 6)
    assert _values(await _stored(client, "calls_share")) == {"7": 25.0, "8": 15.0}


async def _assignment(client: AsyncClient, definition_id: int, subject_id: str) -> int:
    response = await client.get(
        "/api/kpis/assignments", params={"definition_id": definition_id, "subject_id": subject_id}
    )
    assert response.status_code == 200, response.text
    found: int = response.json()["items"][0]["id"]
    return found


async def test_a_closed_formula_period_stays_frozen_until_restated(
    client: AsyncClient, db: Database
) -> None:
    await share_of_team_revenue(client)
    await _band(client)
    users = {"u1": ("T1", 500)}
    teams = {"T1": 1000}
    team_ids = await _shares_of(client, users, teams)
    assert (await recalculate(client, period_start=WEEK))["status"] == "succeeded"
    closed = await client.post(
        "/api/kpis/periods/close",
        json={"period_start": WEEK, "definition_keys": ["share", "share_band"], "reason": "close"},
    )
    assert closed.status_code == 200, closed.text
    await record(client, team_ids["T1"], WEEK, 800)
    assert _values(await _stored(client, "share")) == {"u1": 50.0}
    restated = await recalculate(
        client, period_start=WEEK, definition_keys=["share"], restate=True, reason="T1 corrected"
    )
    assert restated["status"] == "succeeded", restated
    assert _values(await _stored(client, "share")) == {"u1": 62.5}  # 500 of 800
    # the band is closed too, and follows the restated share within the restatement
    assert _values(await _stored(client, "share_band")) == {"u1": 6.0}
