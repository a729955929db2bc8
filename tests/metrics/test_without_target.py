"""The views over assignments tracked without a target: left out of weighted overall scores
(their weight does not count), ranked by value in the KPI's direction on a leaderboard,
empty cells in CSV, and no combined target where some members have none. Every expected
figure is worked out here from the values, targets and weights recorded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from httpx import AsyncClient

from tests.support.api import assign, define, manual_kpi, record, retarget
from tests.support.expected import competition, num, q
from tests.support.export import export, parsed
from tests.support.metrics import FEB, held, ok
from tests.support.timeseries import series

MONTH = "2026-02-01"


async def test_overall_scores_leave_untargeted_kpis_out(client: AsyncClient) -> None:
    calls = await manual_kpi(client, "calls")
    handle = await manual_kpi(client, "handle_time", unit="hours", target_type="lower_better")
    notes = await manual_kpi(client, "notes")
    # (KPI, target, weight, value): 12 calls of 10 score 120; 5 hours against 4 score 80
    # (lower is better: 4 / 5); 3 notes have no target, and their weight of 100 counts for
    # nothing.
    held_kpis = [(calls, 10, 60, 12), (handle, 4, 30, 5), (notes, None, 100, 3)]
    for kpi, target, weight, value in held_kpis:
        await record(client, await held(client, kpi, "ann", target, weight=weight), MONTH, value)
    # bob holds only the untargeted KPI: no overall score, no rank.
    await record(client, await held(client, notes, "bob", None, weight=100), MONTH, 9)
    calls_score = Decimal(12) / 10 * 100
    handle_score = Decimal(4) / 5 * 100
    overall = q((60 * calls_score + 30 * handle_score) / (60 + 30))

    card = await ok(client, "scorecard", user_id="ann", period_kind="monthly", date=FEB)
    assert card["overall_score"] == num(overall)
    by_key = {k["definition_key"]: k for k in card["kpis"]}
    assert (by_key["calls"]["score"], by_key["handle_time"]["score"]) == (120, 80)
    untargeted = by_key["notes"]
    assert (untargeted["value"], untargeted["weight"]) == (3, 100)
    assert [untargeted[k] for k in ("target", "achievement", "score", "status")] == [None] * 4
    assert (card["team"]["score"], card["team"]["rank"], card["team"]["ranked"]) == (
        num(overall),
        1,
        1,
    )

    team = await ok(client, "team", team_id="t1", period_kind="monthly", date=FEB)
    scores = {m["user_id"]: (m["overall_score"], m["rank"]) for m in team["members"]}
    assert scores == {"ann": (num(overall), 1), "bob": (None, None)}
    notes_total = next(k for k in team["kpis"] if k["definition_key"] == "notes")
    assert (notes_total["measured"], notes_total["achievement_mean"]) == (2, None)

    rows = parsed(await export(client, view="scorecard", user_id="ann", date=FEB))
    [row] = [r for r in rows if r["definition_key"] == "notes"]
    assert [row[k] for k in ("value", "target", "achievement", "score", "status")] == [
        "3",
        "",
        "",
        "",
        "",
    ]
    [raw] = parsed(await export(client, view="measurements", definition_key="notes", user_id="ann"))
    assert [raw[k] for k in ("actual_value", "target_value", "achievement", "score")] == [
        "3",
        "",
        "",
        "",
    ]


async def test_leaderboard_ranks_values_in_the_kpis_direction(client: AsyncClient) -> None:
    given = {"ann": "7", "bob": "3", "cid": "7", "dee": "12", "eve": "2.5"}
    values = {user: Decimal(value) for user, value in given.items()}
    for key, target_type in (("calls", "higher_better"), ("handle_time", "lower_better")):
        kpi = await manual_kpi(client, key, target_type=target_type)
        for user, value in values.items():
            await record(client, await held(client, kpi, user, None), MONTH, value)
        sign = 1 if target_type == "higher_better" else -1
        ranks = competition({u: sign * v for u, v in values.items()})
        board = await ok(client, "leaderboard", definition_key=key, date=FEB)
        assert (board["population"], board["ranked"]) == (len(values), len(values)), key
        assert [(i["user_id"], i["rank"], i["value"]) for i in board["items"]] == [
            (u, ranks[u], float(values[u])) for u in sorted(values, key=lambda u: (ranks[u], u))
        ], key
        assert all(i["achievement"] is None and i["score"] is None for i in board["items"])
    # Spelled out once: the highest value first, and the lowest first when lower is better.
    assert competition(values)["dee"] == 1
    assert competition({u: -v for u, v in values.items()})["eve"] == 1


async def test_a_team_series_has_no_target_when_a_member_has_none(client: AsyncClient) -> None:
    kpi = await define(client, "calls", aggregation_period="monthly")
    members: dict[str, tuple[int | None, int]] = {"ann": (10, 8), "bob": (None, 6)}
    held_ids = {}
    for user, (target, value) in members.items():
        created = await assign(client, kpi["id"], user, target, team_id="t1", start_date=MONTH)
        held_ids[user] = created["id"]
        await record(client, created["id"], MONTH, value)
    team = await series(
        client,
        definition_key="calls",
        subject_type="team",
        subject_id="t1",
        start=date(2026, 2, 1),
        end=date(2026, 2, 28),
    )
    [point] = team["points"]
    # The members' values add up (8 + 6); ann's target alone would judge 14 against 10.
    assert point["value"] == float(sum(v for _, v in members.values()))
    assert (point["target"], point["achievement"], point["status"]) == (None, None, None)
    # With a target for bob as well, the team is judged against both: 14 of 10 + 5.
    await retarget(client, held_ids["bob"], 5, MONTH)
    judged = await series(
        client,
        definition_key="calls",
        subject_type="team",
        subject_id="t1",
        start=date(2026, 2, 1),
        end=date(2026, 2, 28),
    )
    [point] = judged["points"]
    assert (point["target"], point["achievement"]) == (15, num(q(Decimal(14) / 15 * 100)))
