"""Team API KPIs against a real HTTP source on 127.0.0.1: per member (rolled up, one
request per member user) or from the team's own endpoint; a failing member fails its team."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.source import SourceServer, value_config

WEEK = "2026-11-09"
TEAMS = {"1": "A", "2": "A", "3": "A", "4": "B", "5": "B"}


async def _setup(client: AsyncClient, source: SourceServer, **config: Any) -> dict[str, Any]:
    csat = await define(client, key="csat", unit="percent")
    for user, team in TEAMS.items():
        await assign(client, csat["id"], user, 90, start_date="2026-10-01", team_id=team)
    d = await define(
        client,
        key="team_pipeline",
        scope="team",
        unit="currency",
        calculation_type="api",
        config=value_config(source, retries=0, timeout_s=5, **config),
    )
    for team in ("A", "B", "C"):
        await assign(client, d["id"], team, 20, subject_type="team", start_date="2026-10-01")
    return d


async def test_team_api_kpi_sums_its_members_values(
    client: AsyncClient, db: Database, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5, "4": 5, "5": "1.25", "A": 999}
    d = await _setup(client, source)
    assert d["config"]["subjects"] == "members" and d["rollup"] == "sum"
    run = await recalculate(client, period_start=WEEK)
    assert (run["status"], run["computed"], run["failed"]) == ("succeeded", 3, 0)
    # One request per member user, never one for a team id.
    assert sorted(s.path for s in state.seen) == [f"/kpi/{u}" for u in sorted(TEAMS)]
    got = {m["subject_id"]: m for m in await measurements(client)}
    # A: 12 + 7.5 (member 3's answer has no value); B: 5 + 1.25; C has no members.
    assert (got["A"]["actual_value"], got["A"]["achievement"]) == (19.5, 97.5)
    assert got["B"]["actual_value"] == 6.25
    assert got["C"]["actual_value"] is None
    assert got["C"]["details"]["no_value_reason"] == "no members in the period"
    assert got["A"]["details"]["members"] == 3
    assert got["A"]["details"]["members_with_value"] == 2
    assert got["A"]["details"]["adapter"] == "http_json"


async def test_a_failing_member_fails_its_team_only(
    client: AsyncClient, db: Database, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5, "3": 1, "4": 5}
    state.plan("5", "500")
    await _setup(client, source)
    run = await recalculate(client, period_start=WEEK)
    assert (run["status"], run["computed"], run["failed"]) == ("partial", 2, 1)
    [error] = run["errors"]
    assert error["subject_id"] == "B"
    assert error["error"] == "1 of 2 members failed (5: the source answered 500 (1 attempts))"
    got = {m["subject_id"]: m["actual_value"] for m in await measurements(client)}
    # B is not stored from member 4 alone: a partial sum would be silently wrong.
    assert got == {"A": 20.5, "C": None}


async def test_team_api_kpi_from_the_teams_own_endpoint(
    client: AsyncClient, db: Database, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"A": 40, "B": "12.5", "1": 1}
    d = await _setup(client, source, subjects="own")
    assert d["config"]["subjects"] == "own"
    run = await recalculate(client, period_start=WEEK)
    assert (run["status"], run["computed"]) == ("succeeded", 3)
    assert sorted(s.path for s in state.seen) == ["/kpi/A", "/kpi/B", "/kpi/C"]
    got = {m["subject_id"]: m["actual_value"] for m in await measurements(client)}
    assert got == {"A": 40, "B": 12.5, "C": None}
