"""Team and organisation query KPIs: over their members (rolled up) or from their own rows,
checked against plain-Python recomputations from the same `support_cases` rows."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.database import create_support_cases

WEEK = "2026-11-09"  # Monday; the week ends Sunday 2026-11-15
WEEK_START = datetime(2026, 11, 9, tzinfo=UTC)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


CASES = [
    (1, "resolved", at(9, 6), at(9, 10)),  # 4 h
    (1, "resolved", at(15, 20), at(15, 22)),  # 2 h, Sunday
    (1, "open", at(10, 9), None),
    (2, "resolved", at(12, 0), at(13, 6)),  # 30 h
    (3, "resolved", at(2, 0), at(3, 0)),  # the week before: not counted
    (4, "resolved", at(10, 8), at(10, 9)),  # 1 h
    (4, "resolved", at(11, 8), at(11, 9)),  # 1 h
    (4, "resolved", at(14, 8), at(14, 12)),  # 4 h
    (5, "resolved", at(12, 0), at(12, 10)),  # 10 h
    (7, "resolved", at(10, 0), at(10, 5)),  # user 7's assignment ended before the week
    (7, "resolved", at(11, 0), at(11, 5)),
    (99, "resolved", at(11, 0), at(11, 1)),  # nobody's member
]
# user -> team, from the user assignments that record each user's team
TEAMS = {"1": "A", "2": "A", "3": "A", "4": "B", "5": "B", "6": "C"}


def resolved_in_week(user: int) -> list[float]:
    """Hours to resolution of the user's cases resolved in the week."""
    end = WEEK_START + timedelta(days=7)
    return [
        (r - c).total_seconds() / 3600
        for a, s, c, r in CASES
        if a == user and s == "resolved" and r is not None and WEEK_START <= r < end
    ]


def count_of(user: str) -> float | None:
    return len(resolved_in_week(int(user)))


def mean_hours_of(user: str) -> float | None:
    hours = resolved_in_week(int(user))
    return statistics.fmean(hours) if hours else None


COMBINE: dict[str, Callable[[list[float]], float]] = {
    "sum": sum,
    "avg": statistics.fmean,
    "min": min,
    "max": max,
}


def expected(
    members: Sequence[str], per_user: Callable[[str], float | None], rollup: str
) -> float | None:
    present = [v for v in map(per_user, members) if v is not None]
    return COMBINE[rollup](present) if present else None


async def _members(client: AsyncClient) -> None:
    """Users 1-6 with a user KPI recording their team; user 7 left team C before the week."""
    csat = await define(client, key="csat", unit="percent")
    for user, team in TEAMS.items():
        await assign(client, csat["id"], user, 90, start_date="2026-10-01", team_id=team)
    await assign(
        client, csat["id"], "7", 90, start_date="2026-10-01", end_date="2026-11-08", team_id="C"
    )


async def _team_kpi(
    client: AsyncClient, key: str, query_key: str, rollup: str, scope: str = "team", **fields: Any
) -> dict[str, Any]:
    d = await define(
        client,
        key=key,
        scope=scope,
        calculation_type="query",
        config={"query_key": query_key},
        rollup=rollup,
        **fields,
    )
    subjects = ["A", "B", "C"] if scope == "team" else [None]
    for subject in subjects:
        await assign(client, d["id"], subject, 1, subject_type=scope, start_date="2026-10-01")
    return d


async def _run(client: AsyncClient, **body: Any) -> dict[str, Any]:
    return await recalculate(client, **{"period_start": WEEK, **body})


def _by_subject(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {m["subject_id"]: m for m in rows if m["definition_key"] == key}


@pytest.mark.parametrize("rollup", ["sum", "avg", "min", "max"])
async def test_team_query_kpis_roll_up_their_members(
    client: AsyncClient, db: Database, rollup: str
) -> None:
    await create_support_cases(db, CASES)
    await _members(client)
    await _team_kpi(client, "team_cases", "cases_resolved_count", rollup)
    await _team_kpi(
        client,
        "team_hours",
        "avg_resolution_time",
        rollup,
        unit="hours",
        target_type="lower_better",
    )
    run = await _run(client)
    assert (run["status"], run["computed"], run["failed"]) == ("succeeded", 6, 0)

    rows = await measurements(client)
    members = {t: sorted(u for u, team in TEAMS.items() if team == t) for t in "ABC"}
    for key, per_user in (("team_cases", count_of), ("team_hours", mean_hours_of)):
        got = _by_subject(rows, key)
        assert set(got) == {"A", "B", "C"}
        for team, users in members.items():
            value = expected(users, per_user, rollup)
            assert got[team]["actual_value"] == pytest.approx(value), (key, team)
            assert got[team]["details"]["members"] == len(users)
            assert got[team]["details"]["subjects"] == "members"
    # Hand-worked: team A's counts are 2, 1, 0 and its hours 3 (user 1) and 30 (user 2).
    hand = {"sum": (3, 33), "avg": (1, 16.5), "min": (0, 3), "max": (2, 30)}[rollup]
    assert _by_subject(rows, "team_cases")["A"]["actual_value"] == pytest.approx(hand[0])
    assert _by_subject(rows, "team_hours")["A"]["actual_value"] == pytest.approx(hand[1])
    # Team C's only member resolved nothing: a count of 0, but no average time at all.
    c_hours = _by_subject(rows, "team_hours")["C"]
    assert c_hours["actual_value"] is None and c_hours["achievement"] is None
    assert c_hours["details"]["no_value_reason"] == "no member has a value for the period"
    assert c_hours["details"]["members_with_value"] == 0
    a_cases = _by_subject(rows, "team_cases")["A"]["details"]
    assert a_cases == {
        "query": "cases_resolved_count",
        "rows": 4,
        "subjects": "members",
        "members": 3,
        "members_with_value": 3,
    }


async def test_organisation_query_kpi_rolls_up_every_user_assigned_in_the_period(
    client: AsyncClient, db: Database
) -> None:
    await create_support_cases(db, CASES)
    await _members(client)
    await _team_kpi(client, "org_cases", "cases_resolved_count", "sum", scope="organization")
    await _team_kpi(
        client,
        "org_hours",
        "avg_resolution_time",
        "avg",
        scope="organization",
        unit="hours",
        target_type="lower_better",
    )
    run = await _run(client)
    assert (run["status"], run["computed"]) == ("succeeded", 2)
    rows = await measurements(client)
    users = sorted(TEAMS)  # user 7's assignment ended before the week; 99 has none
    org_cases = _by_subject(rows, "org_cases")["default"]
    assert org_cases["actual_value"] == expected(users, count_of, "sum") == 7
    assert org_cases["details"]["members"] == 6
    org_hours = _by_subject(rows, "org_hours")["default"]
    # mean of the members' means: (3 + 30 + 2 + 10) / 4
    assert org_hours["actual_value"] == pytest.approx(11.25)
    assert org_hours["details"]["members_with_value"] == 4


async def test_team_own_source_groups_by_a_team_column(client: AsyncClient, db: Database) -> None:
    await create_support_cases(db, CASES)
    tagged = {1: "A", 2: "A", 4: "B", 5: "B", 7: "C", 99: "C"}  # the source's own team column
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE public.support_cases ADD COLUMN team text"))
        for user, team in tagged.items():
            await conn.execute(
                text("UPDATE public.support_cases SET team = :t WHERE assigned_to = :u"),
                {"t": team, "u": user},
            )
    sql = (
        "SELECT team AS subject_id, count(*) AS value FROM support_cases "
        "WHERE status = 'resolved' AND resolved_at >= :period_start "
        "AND resolved_at < :period_end AND team = ANY(:subject_ids) GROUP BY team"
    )
    d = await define(
        client,
        key="team_cases_own",
        scope="team",
        calculation_type="query",
        config={"sql": sql, "subjects": "own"},
    )
    assert d["config"] == {"sql": sql, "subjects": "own"}
    for team in ("A", "B", "C", "D"):
        await assign(client, d["id"], team, 1, subject_type="team", start_date="2026-10-01")
    run = await _run(client)
    assert (run["status"], run["computed"]) == ("succeeded", 4)
    end = WEEK_START + timedelta(days=7)
    hand = {
        team: sum(
            1
            for a, s, _c, r in CASES
            if tagged.get(a) == team and s == "resolved" and r is not None and WEEK_START <= r < end
        )
        for team in "ABCD"
    }
    assert hand == {"A": 3, "B": 4, "C": 3, "D": 0}
    got = {m["subject_id"]: m["actual_value"] for m in await measurements(client)}
    # No membership involved: team C counts user 7's and 99's cases; D has no rows at all.
    assert got == {"A": 3, "B": 4, "C": 3, "D": None}


async def test_organisation_own_source_gets_the_tenant_as_subject(
    client: AsyncClient, db: Database
) -> None:
    await create_support_cases(db, CASES)
    sql = (
        "SELECT s AS subject_id, (SELECT count(*) FROM support_cases WHERE status = "
        "'resolved' AND resolved_at >= :period_start AND resolved_at < :period_end) "
        "AS value FROM unnest(CAST(:subject_ids AS text[])) AS s"
    )
    d = await define(
        client,
        key="all_cases",
        scope="organization",
        calculation_type="query",
        config={"sql": sql, "subjects": "own"},
    )
    await assign(client, d["id"], None, 10, subject_type="organization", start_date="2026-10-01")
    assert (await _run(client))["computed"] == 1
    [m] = await measurements(client)
    # every resolved case of the week, whoever it is assigned to: 2 + 1 + 3 + 1 + 2 + 1
    assert (m["subject_id"], m["actual_value"]) == ("default", 10)


def _member_rule(
    spans: list[tuple[str, str, date, date | None]], team: str, start: date, end: date
) -> list[str]:
    """The documented membership rule, restated: a user assignment recording the team and
    in force on at least one day of the period."""
    return sorted(
        {u for u, t, s, e in spans if t == team and s <= end and (e is None or e >= start)}
    )


async def test_membership_follows_the_assignments_in_force(
    client: AsyncClient, db: Database
) -> None:
    cases = [(8, "resolved", at(d, 8), at(d, 9)) for d in (3, 10, 12, 17, 18, 19)]
    cases += [(9, "resolved", at(d, 8), at(d, 9)) for d in (4, 11, 17)]
    await create_support_cases(db, cases)
    csat = await define(client, key="csat", unit="percent")
    spans = [
        ("8", "A", date(2026, 10, 1), date(2026, 11, 11)),  # moves from A to B mid-week
        ("8", "B", date(2026, 11, 12), None),
        ("9", "B", date(2026, 10, 1), date(2026, 11, 8)),  # left before the second week
    ]
    for user, team, start, end in spans:
        await assign(
            client,
            csat["id"],
            user,
            90,
            team_id=team,
            start_date=start.isoformat(),
            end_date=None if end is None else end.isoformat(),
        )
    await _team_kpi(client, "team_cases", "cases_resolved_count", "sum")
    run = await _run(client, period_start="2026-11-02", period_end="2026-11-16")
    assert run["status"] == "succeeded", run
    got = {
        (m["subject_id"], m["period_start"]): m["actual_value"] for m in await measurements(client)
    }

    def resolved(user: int, start: date) -> int:
        return sum(
            1
            for a, _s, _c, r in cases
            if a == user and r is not None and start <= r.date() < start + timedelta(days=7)
        )

    for week in (date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)):
        for team in "ABC":
            users = _member_rule(spans, team, week, week + timedelta(days=6))
            value = sum(resolved(int(u), week) for u in users) if users else None
            assert got[(team, week.isoformat())] == value, (team, week)
    # By hand: in the week of the 9th user 8 was in A and then B, so both count his two
    # cases; user 9 is no longer anyone's member, though he resolved a case that week.
    assert got[("A", WEEK)] == 2 and got[("B", WEEK)] == 2
    assert got[("A", "2026-11-16")] is None and got[("B", "2026-11-16")] == 3
    assert got[("B", "2026-11-02")] == 1 and got[("A", "2026-11-02")] == 1
