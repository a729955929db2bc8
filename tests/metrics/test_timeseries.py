"""GET /metrics/timeseries through HTTP, every number recomputed in plain Python from the
values the test recorded (DESIGN.md section 4 formulas written out in the tests, never the
service's own)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, recalculate, record
from tests.support.auth import ADMIN, bearer
from tests.support.database import statements_sent
from tests.support.expected import achieved, q

TS = "/api/kpis/metrics/timeseries"

Values = dict[date, Decimal]


# --- plain Python -------------------------------------------------------------------------


def combine(values: dict[date, Decimal], rollup: str) -> Decimal:
    """Values of several periods (by start day) combined as the KPI's rollup says."""
    ordered = [values[d] for d in sorted(values)]
    with localcontext() as ctx:
        ctx.prec = 50
        if rollup == "sum":
            return sum(ordered, Decimal(0))
        if rollup == "avg":
            return sum(ordered, Decimal(0)) / len(ordered)
        if rollup == "last":
            return ordered[-1]
        return min(ordered) if rollup == "min" else max(ordered)


def status_of(achievement: Decimal) -> str:
    return "met" if achievement >= 100 else "at_risk" if achievement >= 80 else "off_track"


def bucket_start(day: date, grain: str) -> date:
    if grain == "daily":
        return day
    if grain == "weekly":
        return day - timedelta(days=day.weekday())
    if grain == "monthly":
        return day.replace(day=1)
    if grain == "quarterly":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def bucket_end(start: date, grain: str) -> date:
    if grain == "daily":
        return start
    if grain == "weekly":
        return start + timedelta(days=6)
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[grain]
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def buckets(first: date, last: date, grain: str) -> list[tuple[date, date]]:
    out = [(bucket_start(first, grain), bucket_end(bucket_start(first, grain), grain))]
    while out[-1][1] < last:
        start = out[-1][1] + timedelta(days=1)
        out.append((start, bucket_end(start, grain)))
    return out


def expected_points(
    values: Values,
    targets: Callable[[date], Decimal],
    rollup: str,
    target_type: str,
    first: date,
    last: date,
    grain: str,
    native: str = "daily",
) -> list[dict[str, Any]]:
    """The points of a series of native periods (start day -> value), by bucket of grain.
    Weekly values go to the month (quarter, year) of their Thursday."""

    def anchor(start: date) -> date:
        return start + timedelta(days=3) if native == "weekly" and grain != "weekly" else start

    def native_end(start: date) -> date:
        return bucket_end(start, native)

    points = []
    for start, end in buckets(first, last, grain):
        # Every native period whose anchor falls in the bucket: walk days from a week before.
        natives = sorted(
            {
                bucket_start(start - timedelta(days=6) + timedelta(days=i), native)
                for i in range((end - start).days + 7)
            }
        )
        natives = [n for n in natives if start <= anchor(n) <= end]
        in_range = [n for n in natives if n <= last and native_end(n) >= first]
        measured = {n: values[n] for n in in_range if n in values}
        value = target = achievement = status = None
        if measured:
            value = q(combine(measured, rollup))
            target = q(combine({n: targets(native_end(n)) for n in measured}, rollup))
            achievement = achieved(value, target, target_type)
            status = status_of(achievement)
        points.append(
            {
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "value": value,
                "target": target,
                "achievement": achievement,
                "status": status,
                "periods_expected": len(natives),
                "periods_in_range": len(in_range),
                "periods_measured": len(measured),
                "complete": len(measured) == len(natives),
            }
        )
    return points


def assert_points(served: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(p["period_start"], p["period_end"]) for p in served] == [
        (p["period_start"], p["period_end"]) for p in expected
    ]
    for got, want in zip(served, expected, strict=True):
        for name, value in want.items():
            if isinstance(value, Decimal):
                assert got[name] == pytest.approx(float(value), abs=1e-6), (got, name, value)
            else:
                assert got[name] == value, (got, name, value)


def summary_of(points: list[dict[str, Any]], target_type: str) -> dict[str, Any]:
    valued = [p for p in points if p["value"] is not None]
    if not valued:
        return {"latest": None, "best": None, "change": None}
    first, latest = valued[0], valued[-1]
    highest = max(valued, key=lambda p: p["value"])  # max() keeps the first of ties
    lowest = min(valued, key=lambda p: p["value"])
    if target_type == "higher_better":
        best = highest
    elif target_type == "lower_better":
        best = lowest
    else:
        best = max(valued, key=lambda p: p["achievement"])
    before = points[points.index(latest) - 1] if points.index(latest) > 0 else None
    return {
        "points_with_value": len(valued),
        "latest": latest["period_start"],
        "minimum": lowest["period_start"],
        "maximum": highest["period_start"],
        "best": best["period_start"],
        "change": latest["value"] - first["value"],
        "change_pct": None
        if first["value"] == 0
        else q((latest["value"] - first["value"]) / abs(first["value"]) * 100),
        "change_from_previous_pct": None
        if before is None or not before["value"]
        else q((latest["value"] - before["value"]) / abs(before["value"]) * 100),
    }


def assert_summary(served: dict[str, Any], points: list[dict[str, Any]], target_type: str) -> None:
    want = summary_of(points, target_type)
    if want["latest"] is None:
        assert served["latest"] is None and served["best"] is None and served["change"] is None
        return
    for name in ("latest", "minimum", "maximum", "best"):
        assert served[name]["period_start"] == want[name], name
    assert served["points_with_value"] == want["points_with_value"]
    for name in ("change", "change_pct", "change_from_previous_pct"):
        if want[name] is None:
            assert served[name] is None, name
        else:
            assert served[name] == pytest.approx(float(want[name]), abs=1e-6), name


# --- API shortcuts ------------------------------------------------------------------------


async def series(
    client: AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        TS,
        headers=headers,
        params={
            k: v.isoformat() if isinstance(v, date) else v
            for k, v in params.items()
            if v is not None
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def retarget(client: AsyncClient, assignment_id: int, target: int, start: date) -> None:
    response = await client.patch(
        f"/api/kpis/assignments/{assignment_id}",
        json={"target_value": target, "target_effective_from": start.isoformat()},
    )
    assert response.status_code == 200, response.text


# --- a random daily data set, every rollup and grain ---------------------------------------

DATA_FIRST, DATA_LAST = date(2025, 1, 20), date(2025, 3, 12)
RANGE_FIRST, RANGE_LAST = date(2025, 1, 25), date(2025, 3, 4)
RETARGET = date(2025, 2, 10)
ROLLUPS = {  # key: (unit, rollup, target_type, first target, second target)
    "revenue": ("currency", "sum", "higher_better", 100, 120),
    "handle_time": ("hours", "avg", "lower_better", 8, 6),
    "quality": ("percent", "min", "exact", 90, 95),
    "peak": ("count", "max", "higher_better", 30, 0),
    "backlog": ("none", "last", "lower_better", 0, 20),
}


async def test_a_random_daily_series_by_every_rollup_and_grain(
    client: AsyncClient, db: Database
) -> None:
    rng = random.Random(20250125)
    days = [DATA_FIRST + timedelta(days=i) for i in range((DATA_LAST - DATA_FIRST).days + 1)]
    for key, (unit, rollup, target_type, before, after) in ROLLUPS.items():
        definition = await define(
            client,
            key=key,
            unit=unit,
            rollup=rollup,
            target_type=target_type,
            aggregation_period="daily",
        )
        assignment = await assign(
            client, definition["id"], "7", before, start_date="2025-01-01", team_id="t1"
        )
        await retarget(client, assignment["id"], after, RETARGET)
        values: Values = {}
        for day in days:
            if rng.random() < 0.75:
                values[day] = (
                    Decimal(rng.choice([0, 3, 7, 7, 12, 25, 40]))
                    + Decimal(rng.randint(0, 99)) / 100
                )
                await record(client, assignment["id"], day, values[day])

        def target(day: date, b: int = before, a: int = after) -> Decimal:
            return Decimal(a if day >= RETARGET else b)

        for grain in ("daily", "weekly", "monthly", "quarterly", "yearly"):
            body = await series(
                client,
                definition_key=key,
                subject_id="7",
                grain=grain,
                start=RANGE_FIRST,
                end=RANGE_LAST,
            )
            assert (body["definition_key"], body["source"], body["grain"], body["rollup"]) == (
                key,
                "own",
                grain,
                rollup,
            )
            want = expected_points(
                values, target, rollup, target_type, RANGE_FIRST, RANGE_LAST, grain
            )
            assert_points(body["points"], want)
            assert all(p["is_final"] for p in body["points"])  # every day ended long ago
            assert all(p["members_measured"] is None for p in body["points"])
            assert_summary(body["summary"], want, target_type)


async def test_one_statement_answers_a_series(client: AsyncClient, db: Database) -> None:
    definition = await define(client, key="calls", aggregation_period="daily")
    assignment = await assign(client, definition["id"], "7", 10, start_date="2025-01-01")
    await record(client, assignment["id"], date(2025, 1, 2), 4)
    async with statements_sent(db) as sent:
        body = await series(
            client,
            definition_key="calls",
            subject_id="7",
            grain="monthly",
            start=date(2025, 1, 1),
            end=date(2025, 12, 31),
        )
    assert len(body["points"]) == 12 and body["points"][0]["value"] == 4
    # The definition by its key, then the series itself.
    assert len([s for s in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]) == 2


async def test_weeks_straddling_months_go_by_their_thursday(
    client: AsyncClient, db: Database
) -> None:
    definition = await define(client, key="deals", aggregation_period="weekly")
    assignment = await assign(client, definition["id"], "7", 10, start_date="2025-01-01")
    # Mondays from 2025-06-23 to 2025-08-04; the week of June 30 (Thursday July 3) is July's,
    # the week of July 28 (Thursday July 31) is July's, the week of August 4 is August's.
    weeks = {
        date(2025, 6, 23): 5,
        date(2025, 6, 30): 7,
        date(2025, 7, 7): 1,
        date(2025, 7, 21): 4,
        date(2025, 7, 28): 6,
        date(2025, 8, 4): 9,
    }
    for monday, value in weeks.items():
        await record(client, assignment["id"], monday, value)
    body = await series(
        client,
        definition_key="deals",
        subject_id="7",
        grain="monthly",
        start=date(2025, 6, 1),
        end=date(2025, 8, 31),
    )
    # Worked by hand: June holds the weeks of 2, 9, 16, 23 June (Thursdays 5 .. 26 June);
    # July holds 30 June, 7, 14, 21, 28 July (five weeks), of which 14 July has no value.
    got = [
        (
            p["period_start"],
            p["value"],
            p["target"],
            p["periods_expected"],
            p["periods_measured"],
            p["complete"],
        )
        for p in body["points"]
    ]
    assert got == [
        ("2025-06-01", 5, 10, 4, 1, False),
        ("2025-07-01", 18, 40, 5, 4, False),
        ("2025-08-01", 9, 10, 4, 1, False),
    ]
    # The same by the general recomputation, and cut by a range starting mid-July.
    want = expected_points(
        {m: Decimal(v) for m, v in weeks.items()},
        lambda _: Decimal(10),
        "sum",
        "higher_better",
        date(2025, 7, 16),
        date(2025, 8, 31),
        "monthly",
        native="weekly",
    )
    cut = await series(
        client,
        definition_key="deals",
        subject_id="7",
        grain="monthly",
        start=date(2025, 7, 16),
        end=date(2025, 8, 31),
    )
    assert_points(cut["points"], want)
    assert cut["points"][0]["periods_in_range"] == 3  # the weeks of 14, 21 and 28 July


async def test_gaps_stay_gaps_and_no_data_is_no_value(client: AsyncClient, db: Database) -> None:
    definition = await define(client, key="calls", aggregation_period="monthly")
    assignment = await assign(client, definition["id"], "7", 10, start_date="2025-01-01")
    await record(client, assignment["id"], date(2025, 1, 1), 12)
    await record(client, assignment["id"], date(2025, 4, 1), 6)
    body = await series(
        client,
        definition_key="calls",
        subject_id="7",
        start=date(2025, 1, 1),
        end=date(2025, 5, 31),
    )
    assert [p["value"] for p in body["points"]] == [12, None, None, 6, None]
    assert [p["status"] for p in body["points"]] == ["met", None, None, "off_track", None]
    quarters = await series(
        client,
        definition_key="calls",
        subject_id="7",
        grain="quarterly",
        start=date(2025, 1, 1),
        end=date(2025, 6, 30),
    )
    # Q1 holds one measured month of three: 12 against one month's target, not 12 / 30.
    assert [
        (p["value"], p["target"], p["achievement"], p["periods_measured"])
        for p in quarters["points"]
    ] == [(12, 10, 120, 1), (6, 10, 60, 1)]
    assert quarters["summary"]["change_from_previous_pct"] == pytest.approx(-50)

    empty = await series(
        client,
        definition_key="calls",
        subject_id="7",
        start=date(2024, 1, 1),
        end=date(2024, 3, 31),
    )
    assert [p["value"] for p in empty["points"]] == [None, None, None]
    assert empty["source"] == "own" and empty["summary"]["points_with_value"] == 0
    assert empty["summary"]["latest"] is None and empty["summary"]["change"] is None
    nobody = await series(
        client,
        definition_key="calls",
        subject_id="8",
        start=date(2025, 1, 1),
        end=date(2025, 2, 28),
    )
    assert nobody["source"] == "none" and [p["value"] for p in nobody["points"]] == [None] * 2


async def test_lower_better_with_zero_targets_and_the_default_end(
    client: AsyncClient, db: Database
) -> None:
    definition = await define(
        client,
        key="defects",
        unit="count",
        target_type="lower_better",
        aggregation_period="monthly",
    )
    assignment = await assign(client, definition["id"], "7", 0, start_date="2025-01-01")
    await retarget(client, assignment["id"], 4, date(2025, 3, 1))
    for month, value in ((1, 0), (2, 3), (3, 2), (4, 8)):
        await record(client, assignment["id"], date(2025, month, 1), value)
    body = await series(
        client, definition_key="defects", subject_id="7", start="2025-01-01", end="2025-04-30"
    )
    # Target 0: met only at 0 or below; target 4: 4/2 -> 200, 4/8 -> 50.
    assert [(p["value"], p["target"], p["achievement"], p["status"]) for p in body["points"]] == [
        (0, 0, 100, "met"),
        (3, 0, 0, "off_track"),
        (2, 4, 200, "met"),
        (8, 4, 50, "off_track"),
    ]
    assert body["summary"]["best"]["period_start"] == "2025-01-01"  # the lowest count
    quarter = await series(
        client,
        definition_key="defects",
        subject_id="7",
        grain="quarterly",
        start="2025-01-01",
        end="2025-03-31",
    )
    # 0 + 3 + 2 = 5 against 0 + 0 + 4 = 4: 4 / 5 -> 80, at risk.
    assert [
        (p["value"], p["target"], p["achievement"], p["status"]) for p in quarter["points"]
    ] == [(5, 4, 80, "at_risk")]
    before = datetime.now(UTC).date()  # the organisation's time zone is UTC here
    default_end = await series(
        client, definition_key="defects", subject_id="7", grain="yearly", start=date(2025, 1, 1)
    )
    after = datetime.now(UTC).date()
    assert default_end["range_end"] in {before.isoformat(), after.isoformat()}


async def test_points_are_scored_as_the_definition_and_assignment_now_say(
    client: AsyncClient, db: Database
) -> None:
    """A point at the KPI's own grain is scored by today's threshold and baseline, and from
    its value as shown (six decimals), whatever was stored when the value was recorded."""
    definition = await define(client, key="revenue", aggregation_period="daily")
    held = await assign(client, definition["id"], "7", 3, start_date="2025-01-01")
    days = [date(2025, 5, 1) + timedelta(days=i) for i in range(4)]
    # 1.0000005 is shown as 1.000000 (half to even): 33.333333%, not 33.333350%.
    for day, value in zip(days[:3], ("1.0000005", "2.4", "3.3"), strict=True):
        await record(client, held["id"], day, Decimal(value))
    params = {"definition_key": "revenue", "subject_id": "7", "start": days[0], "end": days[-1]}

    def scored(points: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(p["value"], p["achievement"], p["status"]) for p in points]

    before = scored((await series(client, **params))["points"])
    assert before[0] == (1.0, pytest.approx(33.333333, abs=1e-9), "off_track")
    assert before[1:] == [(2.4, 80, "at_risk"), (3.3, 110, "met"), (None, None, None)]

    async def threshold(value: int) -> None:
        response = await client.patch(
            f"/api/kpis/definitions/{definition['id']}", json={"warning_threshold": value}
        )
        assert response.status_code == 200, response.text

    # A higher warning threshold set afterwards: 80% is off track now.
    await threshold(85)
    higher = scored((await series(client, **params))["points"])
    assert higher[:3] == [before[0], (2.4, 80, "off_track"), (3.3, 110, "met")]
    # A baseline set afterwards: (a - 1) / (3 - 1) * 100.
    await patch_assignment(client, held["id"], baseline_value=1)
    after = scored((await series(client, **params))["points"])
    assert after[:3] == [(1.0, 0, "off_track"), (2.4, 70, "off_track"), (3.3, 115, "met")]
    # A lower threshold again: 70% is at risk; a value recorded now is scored as stored.
    await threshold(60)
    await record(client, held["id"], days[3], Decimal(2))  # (2 - 1) / 2: 50%
    now = scored((await series(client, **params))["points"])
    assert now == [
        (1.0, 0, "off_track"),
        (2.4, 70, "at_risk"),
        (3.3, 115, "met"),
        (2.0, 50, "off_track"),
    ]
    # The same requests again (a prepared statement's generic plan from the sixth on).
    for _ in range(6):
        assert scored((await series(client, **params))["points"]) == now


async def patch_assignment(client: AsyncClient, assignment_id: int, **body: Any) -> None:
    response = await client.patch(f"/api/kpis/assignments/{assignment_id}", json=body)
    assert response.status_code == 200, response.text


# --- teams and the organisation: their own assignment, or derived from members -----------

MEMBERS = {"u1": "A", "u2": "A", "u3": "A", "u4": "B"}
TARGETS = {"u1": 10, "u2": 20, "u3": 30, "u4": 40}
WEEKS = [date(2025, 6, 23) + timedelta(weeks=i) for i in range(4)]  # to the week of 14 July


def _event(user: str, day: date, minutes: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "user_id": user,
        "team_id": MEMBERS[user],
        "type": "call",
        "occurred_at": f"{day.isoformat()}T10:00:00Z",
        "value": minutes,
    }


async def test_a_team_and_the_organisation_derive_from_members_event_kpi(
    client: AsyncClient, db: Database
) -> None:
    rng = random.Random(7)
    events, minutes = [], {}  # (user, week) -> call minutes
    for user in MEMBERS:
        for monday in WEEKS:
            if user == "u3" and monday == WEEKS[1]:
                continue  # u3 made no call that week: no average, not a zero
            calls = [rng.randint(1, 30) for _ in range(rng.randint(1, 4))]
            minutes[(user, monday)] = calls
            events += [_event(user, monday + timedelta(days=i % 7), m) for i, m in enumerate(calls)]
    response = await client.post("/api/kpis/events", json={"events": events})
    assert response.json()["accepted"] == len(events), response.text
    definition = await define(
        client,
        key="call_minutes",
        unit="minutes",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "avg"},
    )
    assert definition["rollup"] == "avg"
    for user, team in MEMBERS.items():
        await assign(
            client, definition["id"], user, TARGETS[user], start_date="2025-01-01", team_id=team
        )
    run = await recalculate(
        client,
        period_start=WEEKS[0].isoformat(),
        period_end=(WEEKS[-1] + timedelta(days=6)).isoformat(),
    )
    assert run["status"] == "succeeded", run

    def per_user(user: str) -> Values:
        return {m: Decimal(sum(v)) / len(v) for (u, m), v in minutes.items() if u == user}

    def derived(users: list[str]) -> tuple[Values, dict[date, Decimal], dict[date, int]]:
        """Members combined per week (mean of members' means; targets of those measured)."""
        values, targets, counts = {}, {}, {}
        for monday in WEEKS:
            measured = {u: q(per_user(u)[monday]) for u in users if monday in per_user(u)}
            values[monday] = sum(measured.values(), Decimal(0)) / len(measured)
            targets[monday] = Decimal(sum(TARGETS[u] for u in measured)) / len(measured)
            counts[monday] = len(measured)
        return values, targets, counts

    for subject_type, subject_id, users in (
        ("team", "A", ["u1", "u2", "u3"]),
        ("organization", None, list(MEMBERS)),
    ):
        values, targets, counts = derived(users)
        weekly = await series(
            client,
            definition_key="call_minutes",
            subject_type=subject_type,
            subject_id=subject_id,
            start=WEEKS[0],
            end=WEEKS[-1] + timedelta(days=6),
        )
        assert (weekly["source"], weekly["members"]) == ("members", len(users))
        assert [p["members_measured"] for p in weekly["points"]] == [counts[w] for w in WEEKS]
        for point, monday in zip(weekly["points"], WEEKS, strict=True):
            assert point["value"] == pytest.approx(float(q(values[monday])), abs=1e-6)
            assert point["target"] == pytest.approx(float(q(targets[monday])), abs=1e-6)
            assert point["achievement"] == pytest.approx(
                float(achieved(q(values[monday]), q(targets[monday]), "higher_better")), abs=1e-6
            )
        monthly = await series(
            client,
            definition_key="call_minutes",
            subject_type=subject_type,
            subject_id=subject_id,
            grain="monthly",
            start=date(2025, 6, 1),
            end=date(2025, 7, 31),
        )
        # June: the weeks of 23 June (Thursday 26 June); July: 30 June, 7 and 14 July.
        june = {m: values[m] for m in WEEKS[:1]}
        july = {m: values[m] for m in WEEKS[1:]}
        got = [
            (p["value"], p["periods_measured"], p["periods_expected"]) for p in monthly["points"]
        ]
        assert got == [
            pytest.approx((float(q(combine(june, "avg"))), 1, 4), abs=1e-6),
            pytest.approx((float(q(combine(july, "avg"))), 3, 5), abs=1e-6),
        ]
        assert [p["members_measured"] for p in monthly["points"]] == [len(users), len(users)]


async def test_a_team_with_its_own_assignment_shows_it(client: AsyncClient, db: Database) -> None:
    own = await define(
        client, key="nps", unit="none", rollup="last", scope="team", aggregation_period="monthly"
    )
    team = await assign(client, own["id"], "A", 50, subject_type="team", start_date="2025-01-01")
    for month, value in ((1, 40), (2, 55), (3, 52)):
        await record(client, team["id"], date(2025, month, 1), value)
    body = await series(
        client,
        definition_key="nps",
        subject_type="team",
        subject_id="A",
        grain="quarterly",
        start=date(2025, 1, 1),
        end=date(2025, 3, 31),
    )
    # `last`: the quarter shows March's value and target.
    assert (body["source"], body["members"]) == ("own", None)
    assert [(p["value"], p["target"], p["achievement"]) for p in body["points"]] == [(52, 50, 104)]
    # A user-scope KPI rolled up by `last` cannot be combined over a team's members.
    user_kpi = await define(client, key="mood", unit="none", aggregation_period="monthly")
    await assign(client, user_kpi["id"], "u1", 5, start_date="2025-01-01", team_id="A")
    refused = await client.get(
        TS,
        params={
            "definition_key": "mood",
            "subject_type": "team",
            "subject_id": "A",
            "start": "2025-01-01",
        },
    )
    assert refused.status_code == 422, refused.text
    assert "rollup 'last'" in refused.json()["detail"]


# --- refusals and access ------------------------------------------------------------------


async def test_bad_requests_are_clear_problems(client: AsyncClient, db: Database) -> None:
    await define(client, key="calls", aggregation_period="weekly")
    base = {"definition_key": "calls", "subject_id": "7", "start": "2025-01-01"}
    after_today = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    cases: list[tuple[dict[str, str], int, list[str] | None]] = [
        ({**base, "grain": "daily"}, 422, ["query", "grain"]),
        ({**base, "grain": "hourly"}, 422, ["query", "grain"]),
        ({**base, "end": "2024-12-31"}, 422, ["query", "end"]),
        ({**base, "start": after_today}, 422, ["query", "start"]),  # after the default end
        ({"definition_key": "calls", "subject_id": "7"}, 422, ["query", "start"]),
        ({**base, "start": "2025-02-30"}, 422, ["query", "start"]),
        ({**base, "start": "0001-01-01"}, 422, ["query", "start"]),
        ({**base, "end": "9999-12-31"}, 422, ["query", "end"]),
        ({**base, "start": "1900-01-01", "end": "1920-12-31"}, 200, None),
        ({**base, "start": "2025-01-01", "end": "2025-01-01"}, 200, None),
        (
            {"definition_key": "calls", "subject_type": "team", "start": "2025-01-01"},
            422,
            ["query", "subject_id"],
        ),
        (
            {
                "definition_key": "calls",
                "subject_type": "organization",
                "subject_id": "acme",
                "start": "2025-01-01",
            },
            422,
            ["query", "subject_id"],
        ),
        ({**base, "subject_type": "planet"}, 422, ["query", "subject_type"]),
        ({**base, "definition_key": "Calls; DROP"}, 422, ["query", "definition_key"]),
        ({"subject_id": "7", "start": "2025-01-01"}, 422, ["query", "definition_key"]),
        ({**base, "evil": "1"}, 422, ["query", "evil"]),
        ({**base, "definition_key": "missing"}, 404, None),
    ]
    # The former names are refused, not read as synonyms.
    for old in ("key", "from", "to", "period_start", "period_end"):
        cases.append(
            ({**base, old: "2025-01-01" if old != "key" else "calls"}, 422, ["query", old])
        )
    for params, status, loc in cases:
        response = await client.get(TS, params=params)
        assert response.status_code == status, (params, response.text)
        if status != 200:
            assert response.headers["content-type"] == "application/problem+json"
        if loc is not None:
            assert [e["loc"] for e in response.json()["errors"]] == [loc], (params, response.text)
    daily = await define(client, key="visits", aggregation_period="daily")
    assert daily["aggregation_period"] == "daily"
    too_long = await client.get(
        TS,
        params={
            "definition_key": "visits",
            "subject_id": "7",
            "start": "2020-01-01",
            "end": "2025-01-05",
        },
    )
    assert too_long.status_code == 422 and "shorter" in too_long.json()["detail"]
    assert too_long.json()["errors"][0]["loc"] == ["query", "start"]
    five_years = await client.get(
        TS,
        params={
            "definition_key": "visits",
            "subject_id": "7",
            "start": "2020-01-01",
            "end": "2024-12-31",
        },
    )
    assert five_years.status_code == 200 and len(five_years.json()["points"]) == 1827


async def test_who_sees_which_series(jwt_client: AsyncClient, db: Database) -> None:
    c = jwt_client
    d = await c.post(
        "/api/kpis/definitions",
        headers=ADMIN,
        json={
            "key": "calls",
            "name": "Calls",
            "unit": "count",
            "target_type": "higher_better",
            "aggregation_period": "monthly",
            "calculation_type": "manual",
        },
    )
    assert d.status_code == 201, d.text
    held = {}
    for user, team in (("42", "t1"), ("43", "t1"), ("44", "t2")):
        a = await c.post(
            "/api/kpis/assignments",
            headers=ADMIN,
            json={
                "definition_id": d.json()["id"],
                "subject_type": "user",
                "subject_id": user,
                "team_id": team,
                "target_value": 10,
                "start_date": "2025-01-01",
            },
        )
        assert a.status_code == 201, a.text
        held[user] = a.json()["id"]
        await record(c, held[user], date(2025, 1, 1), int(user) - 40, headers=ADMIN)
    params = {"definition_key": "calls", "start": "2025-01-01", "end": "2025-01-31"}
    member = bearer("42", "member")
    own = await series(c, member, **params)  # no subject_id: the caller's own series
    assert (own["subject_id"], own["points"][0]["value"]) == ("42", 2)
    assert (await series(c, member, subject_id="42", **params))["points"][0]["value"] == 2
    manager = bearer("m1", "manager", teams=["t1"])
    team = await series(c, manager, subject_type="team", subject_id="t1", **params)
    assert (team["source"], team["points"][0]["value"]) == ("members", 2 + 3)
    assert (await series(c, manager, subject_id="43", **params))["points"][0]["value"] == 3
    org = await series(c, manager, subject_type="organization", **params)
    assert org["points"][0]["value"] == 2 + 3 + 4 and org["subject_id"] == "default"
    refusals = [
        (member, {"subject_id": "43"}, 404),
        (member, {"subject_type": "team", "subject_id": "t1"}, 404),
        (member, {"subject_type": "organization"}, 403),
        (manager, {"subject_id": "44"}, 404),
        (manager, {"subject_type": "team", "subject_id": "t2"}, 404),
        (bearer("boss", "admin", tenant="acme"), {"subject_id": "42"}, 404),
        (bearer("boss", "admin", tenant="acme"), {"subject_type": "organization"}, 404),
    ]
    for headers, extra, status in refusals:
        response = await c.get(TS, headers=headers, params={**params, **extra})
        assert response.status_code == status, (extra, response.text)
        assert '"points"' not in response.text


async def test_seed_003_revenue_trends(client: AsyncClient, db: Database) -> None:
    """Seed 003 section E: daily, weekly or monthly revenue, best day, month total and change."""
    revenue = await define(client, key="revenue", unit="currency", aggregation_period="daily")
    held = await assign(client, revenue["id"], "agent7", 400, start_date="2025-04-01")
    rng = random.Random(3)
    values = {
        date(2025, 4, 1) + timedelta(days=i): Decimal(rng.randint(0, 2500))
        for i in range(61)
        if rng.random() < 0.8
    }
    for day, value in values.items():
        await record(client, held["id"], day, value)
    may = {d: v for d, v in values.items() if d.month == 5}
    april = {d: v for d, v in values.items() if d.month == 4}
    daily = await series(
        client,
        definition_key="revenue",
        subject_id="agent7",
        start=date(2025, 5, 1),
        end=date(2025, 5, 31),
    )
    assert [p["value"] for p in daily["points"]] == [
        None if d not in may else float(may[d])
        for d in (date(2025, 5, 1) + timedelta(days=i) for i in range(31))
    ]
    best = max(sorted(may), key=lambda d: may[d])  # the first of equal best days
    assert daily["summary"]["best"] == {
        "period_start": best.isoformat(),
        "period_end": best.isoformat(),
        "value": float(may[best]),
    }
    monthly = await series(
        client,
        definition_key="revenue",
        subject_id="agent7",
        grain="monthly",
        start=date(2025, 4, 1),
        end=date(2025, 5, 31),
    )
    total_april, total_may = sum(april.values()), sum(may.values())
    assert [p["value"] for p in monthly["points"]] == [float(total_april), float(total_may)]
    assert monthly["summary"]["latest"]["value"] == float(total_may)
    assert monthly["summary"]["change_from_previous_pct"] == pytest.approx(
        float(q((total_may - total_april) / total_april * 100)), abs=1e-6
    )
    weekly = await series(
        client,
        definition_key="revenue",
        subject_id="agent7",
        grain="weekly",
        start=date(2025, 5, 1),
        end=date(2025, 5, 31),
    )
    assert [p["period_start"] for p in weekly["points"]][:2] == ["2025-04-28", "2025-05-05"]
    assert weekly["points"][1]["value"] == float(
        sum(
            (v for d, v in values.items() if date(2025, 5, 5) <= d <= date(2025, 5, 11)), Decimal(0)
        )
    )
