"""GET /metrics/timeseries of one subject through HTTP: every rollup and grain, gaps, weeks
across months, scoring, every number recomputed in plain Python from the values the test
recorded (DESIGN.md section 4 formulas written out in the tests, never the service's own)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, record, retarget
from tests.support.database import statements_sent
from tests.support.expected import q
from tests.support.timeseries import (
    Values,
    assert_points,
    assert_summary,
    expected_points,
    series,
)

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
    params: dict[str, Any] = {
        "definition_key": "revenue",
        "subject_id": "7",
        "start": days[0],
        "end": days[-1],
    }

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
    total_april, total_may = sum(april.values(), Decimal(0)), sum(may.values(), Decimal(0))
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
