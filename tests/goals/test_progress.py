"""Goal progress against a plain-Python recomputation from the values the test records."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, manual_kpi, record
from tests.support.database import statements_sent
from tests.support.expected import achieved, q, status_of
from tests.support.goals import GOALS, given, goal, items_of, set_goal

ROLLUPS = ("sum", "avg", "min", "max", "last")
TARGET_TYPES = ("higher_better", "lower_better", "exact")


def rolled(values: list[Decimal], rollup: str) -> Decimal:
    """The values (in period order) combined, as DESIGN.md section 3 describes the rollups."""
    if rollup == "sum":
        return sum(values, Decimal(0))
    if rollup == "avg":
        return q(sum(values, Decimal(0)) / len(values))
    if rollup == "min":
        return min(values)
    if rollup == "max":
        return max(values)
    return values[-1]


def assert_progress(
    read: dict[str, Any],
    values: list[Decimal],
    rollup: str,
    target: Decimal,
    target_type: str,
    context: object = "",
) -> None:
    """The goal shows the rolled-up value of exactly these periods, and its progress."""
    if not values:
        assert (
            read["current_value"],
            read["progress"],
            read["status"],
            read["periods_counted"],
        ) == (None, None, "no_data", 0), context
        assert read["reason"], context
        return
    current = rolled(values, rollup)
    progress = q(achieved(current, target, target_type))
    assert Decimal(str(read["current_value"])) == current, (context, read)
    assert Decimal(str(read["progress"])) == progress, (context, read)
    # A range still running is judged only once it ends, unless a growing total reached it.
    end, today = date.fromisoformat(read["period_end"]), datetime.now(UTC).date()
    if end >= today or end < today - timedelta(days=7):
        assert read["is_final"] is (end < today), (context, read)
    growing = rollup == "sum" and target_type == "higher_better" and min(values) >= 0
    settled = read["is_final"] or (growing and progress >= 100)
    assert read["status"] == (status_of(progress) if settled else "in_progress"), (context, read)
    assert read["periods_counted"] == len(values) and read["reason"] is None, (context, read)


async def test_every_rollup_and_target_type(client: AsyncClient, db: Database) -> None:
    # Monthly values; Q1 2026 counts January to March, 2026 counts April too.
    months = {
        "2025-12-01": "100",
        "2026-01-01": "12",
        "2026-02-01": "0",
        "2026-03-01": "7.5",
        "2026-04-01": "50",
    }
    q1 = [Decimal("12"), Decimal("0"), Decimal("7.5")]
    year = [*q1, Decimal("50")]
    for rollup in ROLLUPS:
        for target_type in TARGET_TYPES:
            key = f"{rollup}_{target_type}"
            kpi = await manual_kpi(client, key, rollup=rollup, target_type=target_type, unit="none")
            await given(client, kpi, "42", months)
            quarter = await set_goal(
                client,
                definition_key=key,
                user_id="42",
                period_kind="quarterly",
                period_start="2026-02-10",
                target_value=8,
            )
            assert_progress(quarter, q1, rollup, Decimal(8), target_type, key)
            # A zero target: DESIGN.md section 4's special cases.
            whole = await set_goal(
                client,
                definition_key=key,
                user_id="42",
                period_kind="yearly",
                period_start="2026-06-01",
                target_value=0,
            )
            assert_progress(whole, year, rollup, Decimal(0), target_type, key)
            assert_progress(
                await goal(client, quarter["id"]), q1, rollup, Decimal(8), target_type, key
            )


@dataclass
class Series:
    """One user's recorded values of one KPI, by period start."""

    user: str
    key: str
    rollup: str
    target_type: str
    values: dict[date, Decimal]

    def within(self, start: date, end: date) -> list[Decimal]:
        return [v for day, v in sorted(self.values.items()) if start <= day <= end]


async def test_a_random_data_set(client: AsyncClient, db: Database) -> None:
    rng = random.Random(20261121)
    kpis = [("calls", "daily"), ("handle_time", "daily"), ("deals", "daily"), ("quality", "weekly")]
    series: list[Series] = []
    for key, period in kpis:
        rollup, target_type = rng.choice(ROLLUPS), rng.choice(TARGET_TYPES)
        kpi = await manual_kpi(
            client,
            key,
            aggregation_period=period,
            rollup=rollup,
            target_type=target_type,
            unit="none",
        )
        for user in ("u1", "u2", "u3", "u4"):
            if period == "daily":
                days = rng.sample(
                    [date(2026, 1, 1) + timedelta(days=n) for n in range(75)], rng.randint(1, 12)
                )
            else:
                mondays = [date(2025, 12, 29) + timedelta(weeks=n) for n in range(11)]
                days = rng.sample(mondays, rng.randint(1, 7))
            values = {d: Decimal(rng.choice([0, rng.randint(1, 20000)])) / 100 for d in days}
            await given(client, kpi, user, {d.isoformat(): str(v) for d, v in values.items()})
            series.append(Series(user, key, rollup, target_type, values))

    expected: dict[int, tuple[Series, list[Decimal], Decimal]] = {}
    for s in series:
        targets = [Decimal(rng.randint(0, 3000)) / 10 for _ in range(3)]
        if rng.random() < 0.25:
            targets[rng.randrange(3)] = Decimal(0)
        start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 50))
        end = start + timedelta(days=rng.randint(7, 40))
        for (kind, first, last), target in zip(
            [
                ("monthly", date(2026, 1, 1), date(2026, 1, 31)),
                ("monthly", date(2026, 2, 1), date(2026, 2, 28)),
                ("custom", start, end),
            ],
            targets,
            strict=True,
        ):
            made = await set_goal(
                client,
                definition_key=s.key,
                user_id=s.user,
                period_kind=kind,
                period_start=first.isoformat(),
                period_end=last.isoformat() if kind == "custom" else None,
                target_value=str(target),
            )
            expected[made["id"]] = (s, s.within(first, last), target)

    items = items_of(await client.get(GOALS, params={"limit": 500}))
    assert len(items) == len(expected) == 48
    for read in items:
        s, within, target = expected[read["id"]]
        assert_progress(
            read,
            within,
            s.rollup,
            target,
            s.target_type,
            (s.user, s.key, read["period_start"], read["period_end"]),
        )
    # The data set does exercise several outcomes, zero targets and empty ranges.
    statuses = Counter(read["status"] for read in items)
    assert len(statuses) == 4, statuses
    assert any(target == 0 for _, _, target in expected.values())


async def test_periods_straddling_the_edge_count_where_they_start(
    client: AsyncClient, db: Database
) -> None:
    weekly = await manual_kpi(client, "visits", aggregation_period="weekly")
    # Weeks starting 23 March, 30 March (ends 5 April), 6 April and 27 April (ends 3 May).
    await given(
        client, weekly, "42", {"2026-03-23": 5, "2026-03-30": 7, "2026-04-06": 11, "2026-04-27": 13}
    )
    cases = [
        ("monthly", "2026-03-01", None, [5, 7]),
        ("monthly", "2026-04-01", None, [11, 13]),
        ("monthly", "2026-05-01", None, []),
        # The week of 30 March starts before the range: it is March's, not this one's.
        ("custom", "2026-03-31", "2026-04-27", [11, 13]),
        ("custom", "2026-03-24", "2026-04-05", [7]),
        ("custom", "2026-03-30", "2026-03-30", [7]),
    ]
    for kind, start, end, values in cases:
        made = await set_goal(
            client,
            definition_key="visits",
            user_id="42",
            period_kind=kind,
            period_start=start,
            period_end=end,
            target_value=20,
        )
        assert_progress(
            made,
            [Decimal(v) for v in values],
            "sum",
            Decimal(20),
            "higher_better",
            (kind, start, end),
        )


async def test_custom_ranges_over_daily_values(client: AsyncClient, db: Database) -> None:
    daily = await manual_kpi(client, "calls", aggregation_period="daily", rollup="avg")
    days = {date(2026, 1, 25) + timedelta(days=n): Decimal(n * 3 % 7) for n in range(20)}
    await given(client, daily, "42", {d.isoformat(): str(v) for d, v in days.items()})
    for start, end in (
        (date(2026, 1, 28), date(2026, 2, 3)),
        (date(2026, 2, 13), date(2026, 3, 31)),
        (date(2026, 1, 1), date(2026, 1, 24)),
    ):
        made = await set_goal(
            client,
            definition_key="calls",
            user_id="42",
            period_kind="custom",
            period_start=start.isoformat(),
            period_end=end.isoformat(),
            target_value=3,
        )
        values = [v for d, v in sorted(days.items()) if start <= d <= end]
        assert_progress(made, values, "avg", Decimal(3), "higher_better", (start, end))


async def test_only_the_users_own_aligned_values_of_that_kpi_count(
    client: AsyncClient, db: Database
) -> None:
    calls = await manual_kpi(client, "calls", aggregation_period="monthly")
    other = await manual_kpi(client, "emails", aggregation_period="monthly")
    first = await given(
        client, calls, "42", {"2026-01-01": 10, "2026-02-01": 20}, start="2026-01-01"
    )
    await given(client, calls, "43", {"2026-01-01": 1000, "2026-02-01": 1000}, start="2026-01-01")
    await given(client, other, "42", {"2026-01-01": 1000}, start="2026-01-01")
    # A second assignment of the same KPI to the same user, from February: February is
    # measured twice and counts once, with the later assignment's value.
    later = await assign(client, calls["id"], "42", 5, start_date="2026-02-01")
    await record(client, later["id"], "2026-02-01", 30)
    await record(client, later["id"], "2026-03-01", 40)
    made = await set_goal(
        client,
        definition_key="calls",
        user_id="42",
        period_kind="quarterly",
        period_start="2026-01-01",
        target_value=100,
    )
    assert_progress(
        made, [Decimal(10), Decimal(30), Decimal(40)], "sum", Decimal(100), "higher_better"
    )
    assert first != later["id"]
    nobody = await set_goal(
        client,
        definition_key="calls",
        user_id="44",
        period_kind="quarterly",
        period_start="2026-01-01",
        target_value=1,
    )
    assert_progress(nobody, [], "sum", Decimal(1), "higher_better")


async def test_a_page_of_goals_costs_the_same_statements_however_many(
    client: AsyncClient, db: Database
) -> None:
    calls = await manual_kpi(client, "calls", aggregation_period="daily")

    async def statements_for(users: int) -> Counter[str]:
        for n in range(users):
            user = f"p{users}_{n}"
            await given(client, calls, user, {"2026-01-05": 3, "2026-01-06": 4})
            await set_goal(
                client,
                definition_key="calls",
                user_id=user,
                period_kind="monthly",
                period_start="2026-01-01",
                target_value=100,
            )
        async with statements_sent(db) as sent:
            page = items_of(
                await client.get(GOALS, params={"limit": 500, "definition_key": "calls"})
            )
        assert all(g["current_value"] == 7 for g in page)
        return Counter(statement.split()[0].upper() for statement in sent)

    few = await statements_for(2)
    many = await statements_for(25)
    assert few == many, (few, many)
    assert few["SELECT"] == 1, few
