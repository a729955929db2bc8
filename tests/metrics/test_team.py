"""GET /metrics/team: a team's members x KPIs, overall scores, ranks and team totals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import manual_kpi, record
from tests.support.auth import bearer
from tests.support.database import compilations
from tests.support.expected import dense, num, q, status_of, weighted
from tests.support.metrics import (
    FEB,
    KPIS,
    MONTHS,
    Held,
    hand_worked_team,
    held,
    ok,
    random_dataset,
    statements_as_team_grows,
    view,
)
from tests.support.problems import assert_problem

# How the data set's KPIs combine across members (the unit's default roll-up).
ROLLUPS = {"calls": "sum", "handle_time": "avg", "quality": "avg"}


async def test_hand_worked_team_view(client: AsyncClient) -> None:
    ids = await hand_worked_team(client)
    nps = await manual_kpi(client, "nps", unit="none")  # roll-up `last`
    for user, value in (("bob", 3), ("cid", 9)):
        await record(client, await held(client, nps, user, 10), "2026-02-01", value)
    team = await ok(client, "team", team_id="t1", period_kind="monthly", date=FEB)
    assert (team["team_id"], team["period_start"], team["period_end"], team["is_final"]) == (
        "t1",
        "2026-02-01",
        "2026-02-28",
        True,
    )
    assert (team["team_size"], team["ranked"]) == (4, 3)
    # cid (150 + 90) / 2 = 120; ann 113.75 (see the scorecard's hand-worked example);
    # bob (113.75 + 30) / 2 = 71.875; dee has no value.
    members = [(m["user_id"], m["overall_score"], m["rank"]) for m in team["members"]]
    assert members == [("cid", 120, 1), ("ann", 113.75, 2), ("bob", 71.875, 3), ("dee", None, None)]
    cells = {m["user_id"]: {c["definition_key"]: c for c in m["cells"]} for m in team["members"]}
    assert cells["ann"]["handle_time"] == {
        "definition_key": "handle_time",
        "assignment_id": ids["ann_handle"],
        "weight": 25,
        "value": 1.6,
        "target": 2,
        "achievement": 125,
        "score": 125,
        "status": "met",
        "pace": None,
    }
    assert cells["bob"]["nps"] | {"assignment_id": 0} == {
        "definition_key": "nps",
        "assignment_id": 0,
        "weight": 100,
        "value": 3,
        "target": 10,
        "achievement": 30,
        "score": 30,
        "status": "off_track",
        "pace": None,
    }
    # dee holds calls but recorded nothing: listed, with nulls.
    assert cells["dee"]["calls"] == {
        "definition_key": "calls",
        "assignment_id": ids["dee"],
        "weight": 100,
        "value": None,
        "target": 10,
        "achievement": None,
        "score": None,
        "status": None,
        "pace": None,
    }
    totals = {k["definition_key"]: k for k in team["kpis"]}
    assert list(totals) == ["calls", "handle_time", "nps", "quality"]
    # calls: 12 + 11.375 + 20 = 43.375 over 3 of 4 members; mean 14.458333; counts add up.
    # Achievements 120, 113.75, 200: mean 144.583333.
    assert totals["calls"] == {
        "definition_key": "calls",
        "name": "Calls",
        "unit": "count",
        "target_type": "higher_better",
        "window": None,
        "rollup": "sum",
        "members": 4,
        "measured": 3,
        "value_sum": 43.375,
        "value_mean": 14.458333,
        "value_total": 43.375,
        "achievement_mean": 144.583333,
        "met": 3,
        "at_risk": 0,
        "off_track": 0,
    }
    # Hours and percentages are averaged; `last` cannot order members, so no total.
    assert (totals["handle_time"]["rollup"], totals["handle_time"]["value_total"]) == ("avg", 1.6)
    assert (totals["quality"]["value_total"], totals["quality"]["at_risk"]) == (81, 1)
    assert totals["nps"] | {"name": ""} == {
        "definition_key": "nps",
        "name": "",
        "unit": "none",
        "target_type": "higher_better",
        "window": None,
        "rollup": "last",
        "members": 2,
        "measured": 2,
        "value_sum": 12,
        "value_mean": 6,
        "value_total": None,
        "achievement_mean": 60,
        "met": 0,
        "at_risk": 1,
        "off_track": 1,
    }


def expected_team(data: list[Held], team: str, month: str) -> dict[str, Any]:
    """The team view recomputed in plain Python from the recorded rows."""
    rows = sorted((h for h in data if h.team == team), key=lambda h: (h.key, h.user))
    users = sorted({h.user for h in rows})
    scores = {u: weighted((h.weight, h.score(month)) for h in rows if h.user == u) for u in users}
    ranks = dense(scores)
    members = [
        {
            "user_id": u,
            "overall_score": num(scores[u]),
            "rank": ranks.get(u),
            "cells": [
                {
                    "definition_key": h.key,
                    "assignment_id": h.assignment_id,
                    "weight": num(h.weight),
                    "value": num(h.values.get(month)),
                    "target": num(h.target),
                    "achievement": num(h.achievement(month)),
                    "score": num(h.score(month)),
                    "status": None
                    if h.achievement(month) is None
                    else status_of(h.achievement(month) or Decimal(0)),
                    "pace": None,
                }
                for h in rows
                if h.user == u
            ],
        }
        for u in sorted(users, key=lambda u: (u not in ranks, ranks.get(u, 0), u))
    ]
    kpis = []
    for key in sorted({h.key for h in rows}):
        column = [h for h in rows if h.key == key]
        values = [h.values[month] for h in column if month in h.values]
        achievements = [a for h in column if (a := h.achievement(month)) is not None]
        statuses = [status_of(a) for a in achievements]
        total = sum(values, Decimal(0))
        mean = q(total / len(values)) if values else None
        kpis.append(
            {
                "definition_key": key,
                "unit": KPIS[key][0],
                "target_type": KPIS[key][1],
                "window": None,
                "rollup": ROLLUPS[key],
                "members": len(column),
                "measured": len(values),
                "value_sum": num(total) if values else None,
                "value_mean": num(mean),
                "value_total": num(total if ROLLUPS[key] == "sum" and values else mean),
                "achievement_mean": num(q(sum(achievements, Decimal(0)) / len(achievements)))
                if achievements
                else None,
                "met": statuses.count("met"),
                "at_risk": statuses.count("at_risk"),
                "off_track": statuses.count("off_track"),
            }
        )
    return {"team_size": len(users), "ranked": len(ranks), "members": members, "kpis": kpis}


async def test_random_data_set_recomputed_in_plain_python(client: AsyncClient) -> None:
    data = await random_dataset(client, seed=20260237)
    for month in MONTHS:
        for team in ("t1", "t2"):
            got = await ok(client, "team", team_id=team, date=month)
            for kpi in got["kpis"]:
                del kpi["name"]
            assert {k: got[k] for k in ("team_size", "ranked", "members", "kpis")} == expected_team(
                data, team, month
            ), (team, month)


async def test_a_team_without_members(client: AsyncClient) -> None:
    await hand_worked_team(client)
    empty = await ok(client, "team", team_id="t9", date=FEB)
    assert (empty["team_size"], empty["ranked"], empty["kpis"], empty["members"]) == (0, 0, [], [])
    # Before anyone's assignment started, t1 had no members either.
    assert (await ok(client, "team", team_id="t1", date="2024-01-01"))["members"] == []


async def test_a_kpi_moved_to_another_team_mid_period(client: AsyncClient) -> None:
    a, b = await manual_kpi(client, "ka"), await manual_kpi(client, "kb")
    ann_a = await held(client, a, "ann", 10, team="t1")
    # ann's kb is recorded under t1 until 14 February, then under t2: in February it counts
    # for t2 only (the assignment in force last), while her ka keeps her in t1.
    ann_b_old = await held(client, b, "ann", 10, team="t1", end_date="2026-02-14")
    ann_b = await held(client, b, "ann", 10, team="t2", start="2026-02-15")
    bob_a = await held(client, a, "bob", 10, team="t2")
    bob_b = await held(client, b, "bob", 10, team="t1")
    for assignment, value in ((ann_a, 10), (ann_b_old, 20), (ann_b, 5), (bob_a, 8), (bob_b, 12)):
        await record(client, assignment, "2026-02-01", value)

    def grid(team: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (
                m["user_id"],
                m["overall_score"],
                m["rank"],
                [(c["definition_key"], c["assignment_id"], c["score"]) for c in m["cells"]],
            )
            for m in team["members"]
        ]

    t1 = await ok(client, "team", team_id="t1", date=FEB)
    assert grid(t1) == [
        ("bob", 120, 1, [("kb", bob_b, 120)]),
        ("ann", 100, 2, [("ka", ann_a, 100)]),
    ]
    t2 = await ok(client, "team", team_id="t2", date=FEB)
    assert grid(t2) == [("bob", 80, 1, [("ka", bob_a, 80)]), ("ann", 50, 2, [("kb", ann_b, 50)])]
    # In January kb was still under t1 for ann (nothing recorded): she was not in t2.
    january = await ok(client, "team", team_id="t2", date="2026-01-15")
    assert [m["user_id"] for m in january["members"]] == ["bob"]
    # Her scorecard ranks her within each team over the KPIs recorded under it.
    for team, score in (("t1", 100), ("t2", 50)):
        card = await ok(client, "scorecard", user_id="ann", date=FEB, team_id=team)
        assert card["team"] == {
            "team_id": team,
            "score": score,
            "rank": 2,
            "team_size": 2,
            "ranked": 2,
            "previous_rank": None,
            "rank_change": None,
        }


async def test_access(client: AsyncClient, jwt_client: AsyncClient) -> None:
    await hand_worked_team(client)
    manager = bearer("m1", "manager", teams=["t1"])
    seen = await ok(jwt_client, "team", manager, team_id="t1", date=FEB)
    assert [m["user_id"] for m in seen["members"]] == ["cid", "ann", "bob", "dee"]
    # Members, even of the team, and managers of other teams: no such team for them.
    for headers in (
        bearer("ann", "member"),
        bearer("eve", "member"),
        bearer("m2", "manager", teams=["t2"]),
    ):
        response = await view(jwt_client, "team", headers, team_id="t1", date=FEB)
        assert_problem(response, 404)
        assert "members" not in response.json()
    # Another tenant's admin, or its manager of a team named t1, sees no one of ours.
    for headers in (
        bearer("boss", "admin", tenant="acme"),
        bearer("m1", "manager", tenant="acme", teams=["t1"]),
    ):
        other = await ok(jwt_client, "team", headers, team_id="t1", date=FEB)
        assert (other["team_size"], other["members"], other["kpis"]) == (0, [], [])


async def test_bad_input_is_a_problem(client: AsyncClient) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"team_id": ""},
        {"team_id": "t1", "period_kind": "fortnightly"},
        {"team_id": "t1", "date": "yesterday"},
        {"team_id": "t1", "extra": "1"},
        {"team_id": "t" * 65},
    ]
    for params in bad:
        assert_problem(await view(client, "team", **params), 422, params)


async def test_one_statement_whatever_the_team_size(client: AsyncClient, db: Database) -> None:
    seen = await statements_as_team_grows(client, db, (2, 15), "team", team_id="t1", date=FEB)
    assert [(count, team["team_size"]) for count, team in seen] == [(1, 2), (1, 15)]


async def test_the_statement_is_compiled_once(client: AsyncClient, db: Database) -> None:
    await hand_worked_team(client)
    await ok(client, "team", team_id="t1", date=FEB)
    seen = []
    for team, day in (("t1", FEB), ("t2", "2026-01-20"), ("t9", "2025-12-01")):
        async with compilations(db) as compiled:
            await ok(client, "team", team_id=team, date=day)
        seen.append(compiled)
    assert len(seen[0]) == 1 and seen[0] == seen[1] == seen[2], seen
