"""GET /metrics/leaderboard: users ranked by one KPI's uncapped achievement, with ties,
percentiles and rank changes; a member sees only their own row."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import manual_kpi, record
from tests.support.auth import bearer
from tests.support.database import compilations
from tests.support.expected import achieved, competition, num, q
from tests.support.metrics import (
    FEB,
    KPIS,
    MONTHS,
    Held,
    held,
    ok,
    random_dataset,
    statements_as_team_grows,
    view,
)
from tests.support.problems import assert_problem

ROW = ("user_id", "team_id", "rank", "percentile", "previous_rank", "rank_change")


async def calls_board(client: AsyncClient) -> dict[str, Any]:
    """Seven users on `calls` (target 10): values of January and February 2026."""
    calls = await manual_kpi(client, "calls")
    users = {
        "ann": ("t1", 10, 12),
        "bob": ("t1", 5, 12),
        "cid": ("t1", 20, 15),
        "gus": ("t1", None, 25),
        "dee": ("t2", 9, 8),
        "eve": ("t2", None, 5),
        "fay": ("t2", 3, None),
    }
    for user, (team, january, february) in users.items():
        assignment = await held(client, calls, user, 10, team=team)
        for month, value in (("2026-01-01", january), ("2026-02-01", february)):
            if value is not None:
                await record(client, assignment, month, value)
    return calls


def rows(board: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(item[f] for f in ROW) for item in board["items"]]


async def test_hand_worked_leaderboard(client: AsyncClient) -> None:
    await calls_board(client)
    board = await ok(client, "leaderboard", definition_key="calls", date=FEB)
    assert (
        board["definition_key"],
        board["period_kind"],
        board["period_start"],
        board["period_end"],
        board["team_id"],
    ) == ("calls", "monthly", "2026-02-01", "2026-02-28", None)
    # February achievements (uncapped: the cap is for weighted scores only): gus 250, cid
    # 150, ann and bob 120, dee 80, eve 50, fay none. Competition ranks 1, 2, 3, 3, 5, 6;
    # percentile = others strictly below / 5.
    # January: cid 200, ann 100, dee 90, bob 50, fay 30 (gus and eve unmeasured).
    assert (board["population"], board["ranked"]) == (7, 6)
    assert rows(board) == [
        ("gus", "t1", 1, 100, None, None),
        ("cid", "t1", 2, 80, 1, -1),
        ("ann", "t1", 3, 40, 2, -1),
        ("bob", "t1", 3, 40, 4, 1),
        ("dee", "t2", 5, 20, 3, -2),
        ("eve", "t2", 6, 0, None, None),
        ("fay", "t2", None, None, 5, None),
    ]
    gus = board["items"][0]
    assert (gus["value"], gus["target"], gus["achievement"], gus["score"], gus["status"]) == (
        25,
        10,
        250,
        150,
        "met",
    )
    fay = board["items"][-1]
    assert (fay["value"], fay["target"], fay["achievement"], fay["status"]) == (
        None,
        10,
        None,
        None,
    )

    t2 = await ok(client, "leaderboard", definition_key="calls", date=FEB, team_id="t2")
    assert (t2["team_id"], t2["population"], t2["ranked"]) == ("t2", 3, 2)
    assert rows(t2) == [
        ("dee", "t2", 1, 100, 1, 0),
        ("eve", "t2", 2, 0, None, None),
        ("fay", "t2", None, None, 2, None),
    ]


async def test_the_assignment_in_force_last_ranks(client: AsyncClient) -> None:
    calls = await manual_kpi(client, "calls")
    # ann moves from t1 (target 10) to t2 (target 20) on 15 February; both are measured.
    old = await held(client, calls, "ann", 10, team="t1", end_date="2026-02-14")
    new = await held(client, calls, "ann", 20, team="t2", start="2026-02-15")
    bob = await held(client, calls, "bob", 10, team="t1")
    await held(client, calls, "cid", 10, team="t2")
    for assignment, month, value in (
        (old, "2026-01-01", 10),
        (old, "2026-02-01", 30),
        (new, "2026-02-01", 10),
        (bob, "2026-01-01", 5),
        (bob, "2026-02-01", 8),
    ):
        await record(client, assignment, month, value)
    # February: bob 80, ann 10 / 20 = 50 (her new assignment; the old one's 150 is not
    # hers any more), cid unmeasured. January: ann 100 (t1), bob 50.
    board = await ok(client, "leaderboard", definition_key="calls", date=FEB)
    assert (board["population"], board["ranked"]) == (3, 2)
    assert rows(board) == [
        ("bob", "t1", 1, 100, 2, 1),
        ("ann", "t2", 2, 0, 1, -1),
        ("cid", "t2", None, None, None, None),
    ]
    ann = board["items"][1]
    assert (ann["value"], ann["target"], ann["achievement"], ann["score"]) == (10, 20, 50, 50)
    assert board["items"][2]["target"] == 10
    # Among t2, ann was not ranked in January (she was in t1); among t1, bob was second.
    t2 = await ok(client, "leaderboard", definition_key="calls", date=FEB, team_id="t2")
    assert (t2["population"], t2["ranked"], rows(t2)) == (
        2,
        1,
        [("ann", "t2", 1, None, None, None), ("cid", "t2", None, None, None, None)],
    )
    t1 = await ok(client, "leaderboard", definition_key="calls", date=FEB, team_id="t1")
    assert (t1["population"], rows(t1)) == (1, [("bob", "t1", 1, None, 2, 1)])


async def test_pages(client: AsyncClient) -> None:
    await calls_board(client)
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        page = await ok(
            client, "leaderboard", definition_key="calls", date=FEB, limit=2, cursor=cursor
        )
        seen += [item["user_id"] for item in page["items"]]
        assert page["population"] == 7
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["gus", "cid", "ann", "bob", "dee", "eve", "fay"]
    assert cursor is None
    response = await view(client, "leaderboard", definition_key="calls", cursor="bogus")
    assert_problem(response, 422)
    # A cursor past every row, beyond what a 32-bit offset holds, is an empty last page.
    far = base64.urlsafe_b64encode(json.dumps({"after": 2**40}).encode()).decode()
    beyond = await ok(client, "leaderboard", definition_key="calls", date=FEB, cursor=far)
    assert (beyond["items"], beyond["next_cursor"]) == ([], None)


async def test_access(client: AsyncClient, jwt_client: AsyncClient) -> None:
    await calls_board(client)

    async def board(headers: dict[str, str], **params: Any) -> dict[str, Any]:
        return await ok(
            jwt_client, "leaderboard", headers, definition_key="calls", date=FEB, **params
        )

    # A member: their own row and the population's size, nothing of the others.
    ann = await board(bearer("ann", "member"))
    assert (ann["population"], ann["ranked"], rows(ann)) == (7, 6, [("ann", "t1", 3, 40, 2, -1)])
    assert ann["next_cursor"] is None
    fay = await board(bearer("fay", "member"))
    assert rows(fay) == [("fay", "t2", None, None, 5, None)]
    stranger = await board(bearer("zoe", "member"))
    assert (stranger["population"], stranger["items"]) == (7, [])
    # Within their own team: gus and cid above ann and bob (tied): nobody below ann.
    in_team = await board(bearer("ann", "member"), team_id="t1")
    assert (in_team["population"], rows(in_team)) == (4, [("ann", "t1", 3, 0, 2, -1)])
    assert_problem(
        await view(
            jwt_client, "leaderboard", bearer("ann", "member"), definition_key="calls", team_id="t2"
        ),
        404,
    )
    # A manager ranks the members of the teams they manage.
    t1 = await board(bearer("m1", "manager", teams=["t1"]))
    assert [r[:3] for r in rows(t1)] == [
        ("gus", "t1", 1),
        ("cid", "t1", 2),
        ("ann", "t1", 3),
        ("bob", "t1", 3),
    ]
    assert t1["population"] == 4
    both = await board(bearer("m9", "manager", teams=["t1", "t2"]))
    assert both["population"] == 7 and len(both["items"]) == 7
    assert_problem(
        await view(
            jwt_client,
            "leaderboard",
            bearer("m1", "manager", teams=["t1"]),
            definition_key="calls",
            team_id="t2",
        ),
        404,
    )
    # Another tenant does not know the KPI at all.
    assert_problem(
        await view(
            jwt_client,
            "leaderboard",
            bearer("boss", "admin", tenant="acme"),
            definition_key="calls",
        ),
        404,
    )


def expected_board(
    data: list[Held], key: str, month: str, team: str | None = None
) -> dict[str, Any]:
    """The leaderboard recomputed in plain Python from the recorded rows."""
    held_rows = [h for h in data if h.key == key and team in (None, h.team)]
    # Ranked by uncapped achievement; the capped score is only shown.
    scores = {h.user: h.score(month) for h in held_rows}
    achievements = {h.user: h.achievement(month) for h in held_rows}
    before = MONTHS[MONTHS.index(month) - 1] if MONTHS.index(month) else None
    ranks = competition(achievements)
    previous = competition({h.user: h.achievement(before) for h in held_rows}) if before else {}
    ranked = [a for a in achievements.values() if a is not None]
    items = []
    for h in sorted(held_rows, key=lambda h: (h.user not in ranks, ranks.get(h.user, 0), h.user)):
        rank, score, mine = ranks.get(h.user), scores[h.user], achievements[h.user]
        below = sum(1 for a in ranked if mine is not None and a < mine)
        items.append(
            {
                "user_id": h.user,
                "team_id": h.team,
                "rank": rank,
                "percentile": None
                if rank is None or len(ranked) == 1
                else num(q(Decimal(below) / (len(ranked) - 1) * 100)),
                "previous_rank": previous.get(h.user),
                "rank_change": None
                if rank is None or h.user not in previous
                else previous[h.user] - rank,
                "value": num(h.values.get(month)),
                "target": num(h.target),
                "achievement": num(h.achievement(month)),
                "score": num(score),
                "pace": None,
            }
        )
    return {"population": len(held_rows), "ranked": len(ranked), "items": items}


async def test_random_data_set_recomputed_in_plain_python(client: AsyncClient) -> None:
    data = await random_dataset(client, seed=20260253)
    for key in KPIS:
        for month in MONTHS:
            for team in (None, "t1"):
                got = await ok(
                    client, "leaderboard", definition_key=key, date=month, team_id=team, limit=500
                )
                for item in got["items"]:
                    del item["status"]
                assert {k: got[k] for k in ("population", "ranked", "items")} == expected_board(
                    data, key, month, team
                ), (key, month, team)


async def test_periods_are_the_kpis_own(client: AsyncClient) -> None:
    weekly = await manual_kpi(client, "weekly_calls", aggregation_period="weekly")
    await record(client, await held(client, weekly, "ann", 10), "2026-02-09", 5)
    board = await ok(client, "leaderboard", definition_key="weekly_calls", date=FEB)
    assert (board["period_kind"], board["period_start"], board["period_end"]) == (
        "weekly",
        "2026-02-09",
        "2026-02-15",
    )
    # Alone in the ranking: rank 1, nobody to compare with, hence no percentile.
    assert rows(board) == [("ann", "t1", 1, None, None, None)]
    latest = await ok(client, "leaderboard", definition_key="weekly_calls")
    assert latest["is_final"] is True and latest["items"][0]["value"] is None


async def test_refusals(client: AsyncClient) -> None:
    await calls_board(client)
    assert_problem(await view(client, "leaderboard", definition_key="nope"), 404)
    team_kpi = await manual_kpi(client, "team_calls", scope="team")
    assert team_kpi["scope"] == "team"
    assert_problem(await view(client, "leaderboard", definition_key="team_calls"), 422)
    gone = await manual_kpi(client, "gone")
    assert (await client.delete(f"/api/kpis/definitions/{gone['id']}")).status_code < 300
    assert_problem(await view(client, "leaderboard", definition_key="gone"), 409)
    for params in (
        {},
        {"definition_key": "Calls"},
        {"definition_key": "calls", "limit": 0},
        {"definition_key": "calls", "limit": 501},
        {"definition_key": "calls", "date": "2026-02-30"},
        {"definition_key": "calls", "period_kind": "monthly"},
    ):
        assert_problem(await view(client, "leaderboard", **params), 422, params)


async def test_statements_do_not_grow_with_the_population(
    client: AsyncClient, db: Database
) -> None:
    seen = await statements_as_team_grows(
        client, db, (2, 15), "leaderboard", definition_key="calls", date=FEB
    )
    assert [(count, board["population"]) for count, board in seen] == [(2, 2), (2, 15)]


async def test_statements_are_compiled_once(client: AsyncClient, db: Database) -> None:
    await calls_board(client)
    for teams in ((None, None, None), ("t1", "t2", "t1")):
        await ok(client, "leaderboard", definition_key="calls", date=FEB, team_id=teams[0])
        seen = []
        for team, day, limit in zip(
            teams, (FEB, "2026-01-20", "2026-03-02"), (50, 3, 10), strict=True
        ):
            async with compilations(db) as compiled:
                await ok(
                    client,
                    "leaderboard",
                    definition_key="calls",
                    date=day,
                    limit=limit,
                    team_id=team,
                )
            seen.append(compiled)
        # The ranked rows' statement (after the definition's) is compiled once for any period,
        # page size and team.
        assert [c[1] for c in seen] == [seen[0][1]] * 3, (teams, seen)


async def test_the_cap_does_not_make_ties(client: AsyncClient) -> None:
    # The case: 16 and 12 conversions on a target of 12 with a score cap of 100 both
    # score 100, yet 16 is the better month: achievements 133.333333 and 100 rank 1 and 2.
    conversions = await manual_kpi(client, "conversions", score_cap=100)
    values = {"ann": 16, "bob": 12, "cid": 12, "dee": 6}
    for user, value in values.items():
        await record(client, await held(client, conversions, user, 12), "2026-02-01", value)
    achievements = {u: q(Decimal(v) / 12 * 100) for u, v in values.items()}
    ranks = competition(achievements)
    assert ranks == {"ann": 1, "bob": 2, "cid": 2, "dee": 4}
    board = await ok(client, "leaderboard", definition_key="conversions", date=FEB)
    assert [(i["user_id"], i["rank"], i["achievement"], i["score"]) for i in board["items"]] == [
        (u, ranks[u], num(achievements[u]), num(min(achievements[u], Decimal(100))))
        for u in sorted(values, key=lambda u: (ranks[u], u))
    ]
    # The overall scores keep the cap: ann and bob both score 100 on their scorecards.
    for user in ("ann", "bob"):
        card = await ok(client, "scorecard", user_id=user, period_kind="monthly", date=FEB)
        assert card["overall_score"] == 100


async def test_direction_aware_achievement(client: AsyncClient) -> None:
    # Lower is better: 2 hours on a target of 4 (200) beats 3 (133.33), which beats 4 (100);
    # exact: 95 and 105 on a target of 100 both miss by 5% and tie, 100 is first.
    handle = await manual_kpi(client, "handle_time", unit="hours", target_type="lower_better")
    quality = await manual_kpi(client, "quality", unit="percent", target_type="exact")
    for key, definition, target, values in (
        ("handle_time", handle, 4, {"ann": 3, "bob": 2, "cid": 4, "dee": 9}),
        ("quality", quality, 100, {"ann": 95, "bob": 100, "cid": 105, "dee": 40}),
    ):
        for user, value in values.items():
            await record(client, await held(client, definition, user, target), "2026-02-01", value)
        expected = competition(
            {u: achieved(Decimal(v), Decimal(target), KPIS[key][1]) for u, v in values.items()}
        )
        board = await ok(client, "leaderboard", definition_key=key, date=FEB)
        assert {i["user_id"]: i["rank"] for i in board["items"]} == expected, key
    assert expected == {"bob": 1, "ann": 2, "cid": 2, "dee": 4}


async def test_by_value_where_there_is_no_target(client: AsyncClient) -> None:
    # A measurement without a target has a value and no achievement: it ranks after those
    # with one, by value in the KPI's direction, and an `exact` KPI has no direction to rank
    # values by. Only eve has a target.
    for key, target_type in (
        ("calls", "higher_better"),
        ("handle_time", "lower_better"),
        ("quality", "exact"),
    ):
        definition = await manual_kpi(client, key, target_type=target_type)
        for user, value in {"ann": 3, "bob": 5, "cid": 5, "dee": 8, "eve": 4}.items():
            target = 4 if user == "eve" else None
            await record(client, await held(client, definition, user, target), "2026-02-01", value)
    expected = {
        # eve has a target and an achievement; the others follow by value.
        "calls": {"eve": 1, "dee": 2, "bob": 3, "cid": 3, "ann": 5},
        "handle_time": {"eve": 1, "ann": 2, "bob": 3, "cid": 3, "dee": 5},
        "quality": {"eve": 1},
    }
    for key, ranks in expected.items():
        board = await ok(client, "leaderboard", definition_key=key, date=FEB)
        assert {i["user_id"]: i["rank"] for i in board["items"] if i["rank"]} == ranks, key
        assert (board["population"], board["ranked"]) == (5, len(ranks)), key
