"""The scorecard view: who may read whose card, bad input, and the statements a card takes."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import manual_kpi, record
from tests.support.auth import bearer
from tests.support.database import compilations
from tests.support.metrics import (
    FEB,
    hand_worked_team,
    held,
    ok,
    statements_as_team_grows,
    view,
)
from tests.support.problems import assert_problem


def strings(tree: Any) -> set[str]:
    """Every string (keys and values) in a JSON document."""
    if isinstance(tree, dict):
        return set(tree).union(*(strings(v) for v in tree.values()))
    if isinstance(tree, list):
        return set().union(*(strings(v) for v in tree))
    return {tree} if isinstance(tree, str) else set()


async def test_access(client: AsyncClient, jwt_client: AsyncClient) -> None:
    await hand_worked_team(client)
    other = await manual_kpi(client, "other_team_kpi")
    ann_t2 = await held(client, other, "ann", 10, team="t2")
    await record(client, ann_t2, "2026-02-01", 5)
    member = bearer("ann", "member")
    own = await ok(jwt_client, "scorecard", member, date=FEB)
    assert own["user_id"] == "ann" and own["team"]["rank"] == 2
    assert own["team"]["team_size"] == 4 and len(own["kpis"]) == 4
    # Rank and size only: nobody else's id or score appears anywhere in the answer.
    assert strings(own) & {"bob", "cid", "dee", "eve"} == set()
    assert set(own["team"]) == {
        "team_id",
        "score",
        "rank",
        "team_size",
        "ranked",
        "previous_rank",
        "rank_change",
    }
    for who in ("bob", "eve", "nobody"):
        response = await view(jwt_client, "scorecard", member, user_id=who, date=FEB)
        assert_problem(response, 404, who)
        assert set(response.json()) == {"type", "title", "status", "detail", "instance"}
    # A manager of t1 reads t1's members, and only what is recorded under t1.
    manager = bearer("m1", "manager", teams=["t1"])
    seen = await ok(jwt_client, "scorecard", manager, user_id="ann", date=FEB)
    assert [k["definition_key"] for k in seen["kpis"]] == ["calls", "handle_time", "quality"]
    assert seen["teams"] == ["t1"] and seen["overall_score"] == 113.75
    assert_problem(await view(jwt_client, "scorecard", manager, user_id="eve", date=FEB), 404)
    other_manager = bearer("m3", "manager", teams=["t3"])
    assert_problem(await view(jwt_client, "scorecard", other_manager, user_id="ann"), 404)
    # Another tenant's admin finds nothing of ours.
    acme = await ok(
        jwt_client, "scorecard", bearer("boss", "admin", tenant="acme"), user_id="ann", date=FEB
    )
    assert (acme["kpis"], acme["team"], acme["teams"], acme["overall_score"]) == (
        [],
        None,
        [],
        None,
    )


async def test_bad_input_is_a_problem(client: AsyncClient) -> None:
    refused: list[dict[str, Any]] = [
        {"period_kind": "hourly"},
        {"date": "2026-13-01"},
        {"date": "1800-01-01"},
        {"date": "3000-01-01"},
        {"user_id": "x" * 65},
        {"team_id": ""},
        {"unknown": "1"},
        {"user_id": "a\x00b"},
    ]
    for params in refused:
        assert_problem(await view(client, "scorecard", **params), 422, params)


async def test_statements_do_not_grow_with_the_team(client: AsyncClient, db: Database) -> None:
    seen = await statements_as_team_grows(client, db, (2, 12), "scorecard", user_id="u00", date=FEB)
    counts = [count for count, _ in seen]
    assert counts[0] == counts[1] <= 4, counts
    assert [card["team"]["team_size"] for _, card in seen] == [2, 12]


async def test_statements_are_compiled_once(client: AsyncClient, db: Database) -> None:
    await hand_worked_team(client)
    await ok(client, "scorecard", user_id="ann", date=FEB)
    seen = []
    asked: list[dict[str, Any]] = [
        {"user_id": "bob", "date": FEB},
        {"user_id": "eve", "date": "2026-01-20"},
        {"user_id": "cid", "date": "2026-02-01", "team_id": "t1"},
    ]
    for params in asked:
        async with compilations(db) as compiled:
            await ok(client, "scorecard", **params)
        seen.append(compiled)
    # Other users, periods and teams reuse the statements compiled once (a statement without
    # a cache key, such as one holding a VALUES list, would be compiled for every request).
    assert len(seen[0]) == 2 and seen[0] == seen[1] == seen[2], seen
