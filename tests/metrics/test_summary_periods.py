"""The executive summary's periods: period_kind and date, the default (the latest ended
period and the one in progress), a range combined by each KPI's rollup; recomputed by hand."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.api import assign, define, record
from tests.support.expected import (
    achieved,
    change_of,
    month_end,
    month_start,
    num,
    q,
    status_of,
    trend_of,
)
from tests.support.metrics import ok
from tests.support.problems import assert_problem
from tests.support.summary import URL, counts_of, tally


async def org_kpi(client: AsyncClient, key: str, target: float, **fields: Any) -> int:
    """An organisation-scope manual KPI assigned to the organisation; the assignment id."""
    d = await define(client, key=key, scope="organization", **fields)
    made = await assign(
        client, d["id"], "default", target, subject_type="organization", start_date="2020-01-01"
    )
    assignment_id: int = made["id"]
    return assignment_id


def ended_block(
    start: date,
    end: date,
    value: Decimal,
    target: Decimal,
    target_type: str,
    previous: Decimal | None,
) -> dict[str, Any]:
    """An ended period's block, recomputed by hand (DESIGN.md section 4)."""
    a = achieved(value, target, target_type)
    return {
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "is_final": True,
        "value": num(value),
        "target": num(target),
        "achievement": num(a),
        "status": status_of(a),
        "previous_value": num(previous),
        "change_pct": num(change_of(value, previous)),
        "trend": trend_of(value, previous, target_type, target),
    }


async def test_period_kind_and_date_choose_the_periods_shown(client: AsyncClient) -> None:
    mrr = await org_kpi(client, "mrr", 1000, aggregation_period="monthly", unit="currency")
    signups = await org_kpi(client, "signups", 50, aggregation_period="weekly")
    for month, value in (("2026-01-01", 800), ("2026-02-01", 1100), ("2026-03-01", 950)):
        await record(client, mrr, month, value)
    for week, value in (("2026-02-02", 40), ("2026-02-09", 55)):
        await record(client, signups, week, value)
    calls = await define(client, key="calls", aggregation_period="monthly")
    held = await assign(client, calls["id"], "u1", 10, start_date="2026-01-01")
    await record(client, held["id"], "2026-02-01", 7)
    weekly = await define(client, key="visits")
    await assign(client, weekly["id"], "u1", 10, start_date="2026-01-01")

    body = await ok(client, "summary", period_kind="monthly", date="2026-02-14")
    assert [k["definition_key"] for k in body["kpis"]] == ["mrr"]
    [shown] = body["kpis"]
    assert shown["current"] == ended_block(
        date(2026, 2, 1),
        date(2026, 2, 28),
        Decimal(1100),
        Decimal(1000),
        "higher_better",
        Decimal(800),
    )
    assert shown["in_progress"] is None and shown["range"] is None
    assert body["periods"] == [
        {
            "period_kind": "monthly",
            "period_start": "2026-02-01",
            "period_end": "2026-02-28",
            "is_final": True,
        }
    ]
    [dist] = body["distribution"]
    assert (dist["definition_key"], dist["period_start"]) == ("calls", "2026-02-01")
    assert counts_of(dist) == tally([(Decimal(7), Decimal(10), "higher_better", Decimal(80))])

    # Every kind: the weekly KPI's week holding the date (Mon 9 to Sun 15 February).
    every = await ok(client, "summary", date="2026-02-14")
    kpis = {k["definition_key"]: k for k in every["kpis"]}
    assert kpis["signups"]["current"] == ended_block(
        date(2026, 2, 9), date(2026, 2, 15), Decimal(55), Decimal(50), "higher_better", Decimal(40)
    )
    assert kpis["mrr"]["current"]["period_start"] == "2026-02-01"
    # A period not measured is shown empty, never as the nearest one that was.
    empty = await ok(client, "summary", period_kind="weekly", date="2026-03-04")
    assert {k: v for k, v in empty["kpis"][0]["current"].items() if v is not None} == {
        "period_start": "2026-03-02",
        "period_end": "2026-03-08",
        "is_final": True,
    }

    # A date in the period in progress: shown as in progress, never judged.
    today = datetime.now(UTC).date()
    this_month = month_start(today)
    await record(client, mrr, this_month.isoformat(), 300)
    await record(client, held["id"], this_month.isoformat(), 1)  # off track so far: not counted
    now = await ok(client, "summary", period_kind="monthly", date=today.isoformat())
    [shown] = now["kpis"]
    assert shown["current"] is None
    assert shown["in_progress"]["period_start"] == this_month.isoformat()
    assert shown["in_progress"]["value"] == 300 and "status" not in shown["in_progress"]
    assert now["distribution"] == [] and now["overall"]["assignments"] == 0
    assert now["periods"] == [
        {
            "period_kind": "monthly",
            "period_start": this_month.isoformat(),
            "period_end": month_end(this_month).isoformat(),
            "is_final": False,
        }
    ]


async def test_by_default_the_latest_ended_period_and_the_one_in_progress_with_its_pace(
    client: AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    this_month, last_month = month_start(today), month_start(today, 1)
    mrr = await org_kpi(client, "mrr", 1000, aggregation_period="monthly", unit="currency")
    nps = await org_kpi(client, "nps", 40, aggregation_period="monthly", unit="percent")
    months = {
        month_start(today, 2): (Decimal(900), Decimal(35)),
        last_month: (Decimal(1200), Decimal(38)),
        this_month: (Decimal("210.5"), Decimal(20)),
    }  # so far: would be off track
    for month, (revenue, score) in months.items():
        await record(client, mrr, month.isoformat(), float(revenue))
        await record(client, nps, month.isoformat(), float(score))
    calls = await define(client, key="calls", aggregation_period="monthly")
    held = await assign(client, calls["id"], "u1", 10, start_date="2020-01-01")
    await record(client, held["id"], last_month.isoformat(), 9)
    await record(client, held["id"], this_month.isoformat(), 1)

    body = await ok(client, "summary")
    assert body["today"] == today.isoformat()
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    start = datetime(this_month.year, this_month.month, 1, tzinfo=UTC)
    length = (
        datetime.combine(month_end(this_month), datetime.min.time(), UTC)
        + timedelta(days=1)
        - start
    )
    for key, column, target, rollup in (
        ("mrr", 0, Decimal(1000), "sum"),
        ("nps", 1, Decimal(40), "avg"),
    ):
        kpi = kpis[key]
        assert kpi["rollup"] == rollup
        assert kpi["current"] == ended_block(
            last_month,
            month_end(last_month),
            months[last_month][column],
            target,
            "higher_better",
            months[month_start(today, 2)][column],
        )
        so_far = months[this_month][column]
        # The pace as every view shows it: the share of the month elapsed when the value was
        # recorded (`as_of`, the measurement's time), a sum divided by it.
        as_of = datetime.fromisoformat(kpi["in_progress"]["pace"]["as_of"])
        share = Decimal((as_of - start) / timedelta(microseconds=1)) / Decimal(
            length / timedelta(microseconds=1)
        )
        projected = q(so_far / share) if rollup == "sum" else so_far
        assert kpi["in_progress"] == {
            "period_start": this_month.isoformat(),
            "period_end": month_end(this_month).isoformat(),
            "is_final": False,
            "value": num(so_far),
            "target": num(target),
            "pace": {
                "elapsed_fraction": num(q(share)),
                "as_of": kpi["in_progress"]["pace"]["as_of"],
                "projected": num(projected),
            },
        }
    # The users' distribution judges last month only.
    monthly = next(p for p in body["periods"] if p["period_kind"] == "monthly")
    assert (monthly["period_start"], monthly["is_final"]) == (last_month.isoformat(), True)
    [dist] = body["distribution"]
    assert counts_of(dist) == tally([(Decimal(9), Decimal(10), "higher_better", Decimal(80))])
    assert all(p["is_final"] for p in body["periods"])


ROLLUPS: dict[str, Callable[[list[Decimal]], Decimal]] = {
    "sum": lambda xs: sum(xs, Decimal(0)),
    "min": min,
    "max": max,
    "avg": lambda xs: sum(xs, Decimal(0)) / len(xs),
    "last": lambda xs: xs[-1],
}


async def test_a_range_combines_each_kpi_by_its_rollup(client: AsyncClient) -> None:
    rng = random.Random(54)
    months = [date(2026, m, 1) for m in range(1, 8)]  # January to July 2026
    recorded: dict[str, dict[date, Decimal]] = {}
    for rollup in ROLLUPS:
        assignment = await org_kpi(
            client, f"kpi_{rollup}", 100, aggregation_period="monthly", rollup=rollup
        )
        recorded[rollup] = {}
        for month in months:
            if rng.random() < 0.25 and month != date(2026, 5, 1):
                continue  # not measured
            value = Decimal(rng.randint(-50, 500)) / 4
            recorded[rollup][month] = value
            await record(client, assignment, month.isoformat(), float(value))
    weekly = await org_kpi(client, "weekly_sum", 10, aggregation_period="weekly")
    weeks = {date(2026, 3, 2) + timedelta(days=7 * n): Decimal(n + 1) for n in range(10)}
    for week, value in weeks.items():
        await record(client, weekly, week.isoformat(), float(value))

    start, end = date(2026, 2, 10), date(2026, 5, 31)  # wholly inside: March, April, May
    body = await ok(client, "summary", start=start.isoformat(), end=end.isoformat())
    assert (body["start"], body["end"]) == (start.isoformat(), end.isoformat())
    kpis = {k["definition_key"]: k for k in body["kpis"]}
    inside = [m for m in months if start <= m and month_end(m) <= end]
    assert inside == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    for rollup, combine in ROLLUPS.items():
        values = [recorded[rollup][m] for m in inside if m in recorded[rollup]]
        kpi = kpis[f"kpi_{rollup}"]
        assert kpi["range"] == {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "rollup": rollup,
            "value": num(q(combine(values))) if values else None,
            "periods_in_range": 3,
            "periods_measured": len(values),
            "includes_in_progress": False,
        }, rollup
        # The latest values: the latest ended period with a value by the range's end (May).
        assert kpi["current"]["period_start"] == "2026-05-01"
        assert kpi["current"]["value"] == num(recorded[rollup][date(2026, 5, 1)])
        assert kpi["in_progress"] is None
    # Weeks lying wholly inside: Mon 2 March to Sun 31 May, of which ten were measured.
    full_weeks = [
        w
        for w in (date(2026, 2, 9) + timedelta(days=7 * n) for n in range(20))
        if start <= w and w + timedelta(days=6) <= end
    ]
    assert kpis["weekly_sum"]["range"]["value"] == num(
        sum((v for w, v in weeks.items() if w in full_weeks), Decimal(0))
    )
    assert (
        kpis["weekly_sum"]["range"]["periods_in_range"],
        kpis["weekly_sum"]["range"]["periods_measured"],
    ) == (len(full_weeks), 10)
    assert body["open_alerts"] == []

    # A range holding today: the month in progress counts with its value so far, and is
    # shown beside, with its pace.
    today = datetime.now(UTC).date()
    this_month = month_start(today)
    await record(
        client,
        await org_kpi(client, "late", 5, aggregation_period="monthly"),
        this_month.isoformat(),
        4,
    )
    now = await ok(
        client,
        "summary",
        start=month_start(today, 1).isoformat(),
        end=month_end(this_month).isoformat(),
    )
    late = next(k for k in now["kpis"] if k["definition_key"] == "late")
    assert late["range"]["value"] == 4 and late["range"]["includes_in_progress"] is True
    assert late["in_progress"]["value"] == 4 and late["current"] is None


@pytest.mark.parametrize(
    ("params", "locs"),
    [
        (
            {"date": "2026-02-01", "start": "2026-01-01", "end": "2026-01-31"},
            [["query", "start"], ["query", "end"]],
        ),
        ({"date": "2026-02-01", "end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "2026-01-01"}, [["query", "end"]]),
        ({"end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "2026-02-01", "end": "2026-01-31"}, [["query", "end"]]),
        ({"start": "1899-12-31", "end": "2026-01-31"}, [["query", "start"]]),
        ({"start": "soon", "end": "2026-01-31"}, [["query", "start"]]),
        ({"start": "2026-01-01", "end": "3000-01-01"}, [["query", "end"]]),
        ({"start": "2000-01-01", "end": "2026-01-31"}, [["query", "end"]]),  # over five years
    ],
)
async def test_bad_ranges_are_422_problems_naming_the_field(
    client: AsyncClient, params: dict[str, Any], locs: list[list[str]]
) -> None:
    response = await client.get(URL, params=params)
    assert_problem(response, 422)
    assert [e["loc"] for e in response.json()["errors"]] == locs


async def test_a_superseded_organisation_assignment_no_longer_shows_its_later_values(
    client: AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    older, last = month_start(today, 2), month_start(today, 1)
    old = await org_kpi(client, "revenue", 1000, aggregation_period="monthly", unit="currency")
    await record(client, old, older.isoformat(), 900)
    await record(client, old, last.isoformat(), 5000)  # recorded before the new assignment
    definition_id = (await client.get("/api/kpis/definitions/by-key/revenue")).json()["id"]
    await assign(
        client,
        definition_id,
        "default",
        2000,
        subject_type="organization",
        start_date=last.isoformat(),
    )  # supersedes from last month: no value yet
    [kpi] = (await ok(client, "summary", period_kind="monthly"))["kpis"]
    # Last month belongs to the new assignment, which has no value: the latest ended period
    # with a value is the month before, the old assignment's.
    assert (kpi["current"]["period_start"], kpi["current"]["value"]) == (older.isoformat(), 900)
