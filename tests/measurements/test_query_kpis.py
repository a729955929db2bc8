"""Built-in query KPIs over `support_cases`, checked against hand counts of the rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import assign, define, measurements, recalculate
from tests.support.app import make_settings
from tests.support.database import create_support_cases
from tests.support.problems import assert_problem

UTC_ = UTC
WEEK = "2026-11-09"  # Monday; the week ends Sunday 2026-11-15


def at(
    day: int, hour: int, minute: int = 0, second: int = 0, tz: ZoneInfo | None = None
) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=tz or UTC_)


CASES = [
    # user 1: resolved Monday (4 h), Sunday 23:59:59 (2 h), and one on the next Monday 00:00
    (1, "resolved", at(9, 6), at(9, 10)),
    (1, "resolved", at(15, 21, 59, 59), at(15, 23, 59, 59)),
    (1, "resolved", at(15, 20), at(16, 0)),  # next week: not counted
    (1, "open", at(10, 9), None),  # unresolved: not counted
    (1, "resolved", at(1, 9), at(8, 23, 59, 59)),  # previous week (Sunday 8th)
    (1, "closed", at(10, 9), at(11, 9)),  # status not 'resolved'
    # user 2: one case, 30 h
    (2, "resolved", at(12, 0), at(13, 6)),
    # user 3: nothing resolved this week
    (3, "resolved", at(2, 0), at(3, 0)),
]


async def _setup(client: AsyncClient, db: Database) -> dict[str, dict[str, Any]]:
    await create_support_cases(db, CASES)
    avg = await define(
        client,
        key="avg_resolution_time",
        unit="hours",
        target_type="lower_better",
        calculation_type="query",
        config={"query_key": "avg_resolution_time"},
    )
    count = await define(
        client,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    start = "2026-10-01"
    ids = {}
    for user in ("1", "2", "3"):
        ids[f"avg{user}"] = await assign(client, avg["id"], user, 24, start_date=start)
        ids[f"count{user}"] = await assign(client, count["id"], user, 4, start_date=start)
    return ids


async def test_weekly_values_match_a_hand_count_sundays_included(
    client: AsyncClient, db: Database
) -> None:
    await _setup(client, db)
    run = await recalculate(client, period_start=WEEK)
    assert run["status"] == "succeeded"
    assert run["computed"] == 6 and run["failed"] == 0

    rows = {
        (m["definition_key"], m["subject_id"]): m
        for m in await measurements(client, period_from=WEEK, period_to=WEEK)
    }
    # user 1: Monday (4 h) and Sunday 23:59:59 (2 h) -> 2 cases, average 3 h
    assert rows[("cases_resolved", "1")]["actual_value"] == 2
    assert rows[("avg_resolution_time", "1")]["actual_value"] == pytest.approx(3.0)
    # lower_better: 24 / 3 * 100 = 800 % achievement, score capped at 150
    assert rows[("avg_resolution_time", "1")]["achievement"] == pytest.approx(800.0)
    assert rows[("avg_resolution_time", "1")]["score"] == pytest.approx(150.0)
    assert rows[("avg_resolution_time", "1")]["status"] == "met"
    # user 2: one case of 30 h -> 24 / 30 * 100 = 80 % (at_risk boundary)
    assert rows[("avg_resolution_time", "2")]["actual_value"] == pytest.approx(30.0)
    assert rows[("avg_resolution_time", "2")]["achievement"] == pytest.approx(80.0)
    assert rows[("avg_resolution_time", "2")]["status"] == "at_risk"
    # user 3: no resolved case -> count 0 (a real zero), average: no value, no achievement
    assert rows[("cases_resolved", "3")]["actual_value"] == 0
    assert rows[("cases_resolved", "3")]["achievement"] == 0
    assert rows[("avg_resolution_time", "3")]["actual_value"] is None
    assert rows[("avg_resolution_time", "3")]["achievement"] is None
    assert rows[("avg_resolution_time", "3")]["status"] is None
    for m in rows.values():
        assert (m["period_start"], m["period_end"]) == ("2026-11-09", "2026-11-15")
        assert m["is_final"] is True and m["aligned"] is True and m["run_id"] == run["id"]


async def test_previous_week_gives_change_and_direction_aware_trend(
    client: AsyncClient, db: Database
) -> None:
    await _setup(client, db)
    run = await recalculate(client, period_start="2026-11-02", period_end=WEEK)
    assert run["trigger"] == "backfill" and run["progress_done"] == run["progress_total"] == 4
    rows = {
        (m["definition_key"], m["subject_id"], m["period_start"]): m
        for m in await measurements(client, user_id="1")
    }
    prev = rows[("avg_resolution_time", "1", "2026-11-02")]
    # previous week: the case created on the 1st 09:00, resolved the 8th 23:59:59
    assert prev["actual_value"] == pytest.approx(7 * 24 + 14 + 59 / 60 + 59 / 3600)
    cur = rows[("avg_resolution_time", "1", WEEK)]
    assert cur["previous_value"] == pytest.approx(prev["actual_value"])
    expected_change = (3.0 - prev["actual_value"]) / prev["actual_value"] * 100
    assert cur["change_pct"] == pytest.approx(expected_change, abs=1e-4)
    assert cur["trend"] == "improving"  # resolution time fell: better for lower_better
    count = rows[("cases_resolved", "1", WEEK)]
    assert count["previous_value"] == 1 and count["trend"] == "improving"


async def test_recalculation_is_idempotent_and_keeps_revisions(
    client: AsyncClient, db: Database
) -> None:
    await _setup(client, db)
    body = {"period_start": WEEK, "definition_keys": ["cases_resolved"], "subject_ids": ["1"]}
    first = await recalculate(client, **body)
    assert first["computed"] == 1
    again = await recalculate(client, **body)
    assert again["computed"] == 0 and again["unchanged"] == 1
    [m] = await measurements(client, user_id="1", definition_key="cases_resolved")
    assert m["revision"] == 1

    # A third Sunday case appears: the value changes, the old one is kept as a revision.
    await create_support_cases(db, [*CASES, (1, "resolved", at(15, 1), at(15, 12))])
    third = await recalculate(client, **body)
    assert third["computed"] == 1
    [m] = await measurements(client, user_id="1", definition_key="cases_resolved")
    assert m["actual_value"] == 3 and m["revision"] == 2 and m["run_id"] == third["id"]
    revisions = (await client.get(f"/api/kpis/measurements/{m['id']}/revisions")).json()["items"]
    assert [(r["revision"], r["actual_value"], r["run_id"]) for r in revisions] == [
        (1, 2, first["id"])
    ]
    assert revisions[0]["change_reason"] == f"recalculated by run {third['id']}"


async def test_days_follow_the_organisation_time_zone(db: Database, database_url: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    app = create_app(make_settings(database_url, timezone="Europe/Berlin"), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        await create_support_cases(
            db,
            [
                # Sunday 23:30 in Berlin (22:30 UTC): inside the Berlin week
                (1, "resolved", at(15, 20, tz=berlin), at(15, 23, 30, tz=berlin)),
                # Sunday 23:30 UTC is Monday 00:30 in Berlin: next week
                (1, "resolved", at(15, 20), at(15, 23, 30)),
                # Monday 00:30 Berlin is Sunday 23:30 UTC: inside
                (1, "resolved", at(9, 0, tz=berlin), at(9, 0, 30, tz=berlin)),
            ],
        )
        count = await define(
            client,
            key="cases_resolved",
            calculation_type="query",
            config={"query_key": "cases_resolved_count"},
        )
        await assign(client, count["id"], "1", 5, start_date="2026-11-01")
        assert (await recalculate(client, period_start=WEEK))["computed"] == 1
        [m] = await measurements(client, user_id="1")
        assert m["actual_value"] == 2


async def test_only_assignments_overlapping_the_period_are_computed(
    client: AsyncClient, db: Database
) -> None:
    await create_support_cases(db, CASES)
    count = await define(
        client,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    await assign(client, count["id"], "1", 4, start_date="2026-11-16")  # starts after the week
    await assign(client, count["id"], "2", 4, start_date="2026-10-01", end_date="2026-11-08")
    await assign(client, count["id"], "3", 4, start_date="2026-11-15")  # last day of the week
    run = await recalculate(client, period_start=WEEK)
    assert run["computed"] == 1
    assert [m["subject_id"] for m in await measurements(client)] == ["3"]


async def test_effective_dated_target_applies_from_its_date(
    client: AsyncClient, db: Database
) -> None:
    await create_support_cases(db, CASES)
    count = await define(
        client,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    a = await assign(client, count["id"], "1", 4, start_date="2026-10-01")
    response = await client.patch(
        f"/api/kpis/assignments/{a['id']}", json={"target_value": 1, "target_effective_from": WEEK}
    )
    assert response.status_code == 200, response.text
    await recalculate(client, period_start="2026-11-02", period_end=WEEK)
    rows = {m["period_start"]: m for m in await measurements(client)}
    assert rows["2026-11-02"]["target_value"] == 4 and rows["2026-11-02"]["actual_value"] == 1
    assert rows["2026-11-02"]["achievement"] == pytest.approx(25.0)  # 1 / 4
    assert rows[WEEK]["target_value"] == 1 and rows[WEEK]["achievement"] == pytest.approx(200.0)


async def test_admin_sql_kpi_runs_sandboxed(client: AsyncClient, db: Database) -> None:
    await create_support_cases(db, CASES)
    sql = (
        "SELECT assigned_to::text AS subject_id, max(resolved_at - created_at) "
        "  AS longest, count(*) AS value FROM support_cases "
        "WHERE status = 'resolved' AND resolved_at >= :period_start "
        "AND resolved_at < :period_end AND assigned_to::text = ANY(:subject_ids) "
        "GROUP BY assigned_to"
    )
    d = await define(client, key="custom_count", calculation_type="query", config={"sql": sql})
    for user in ("1", "2", "3"):
        await assign(client, d["id"], user, 2, start_date="2026-10-01")
    run = await recalculate(client, period_start=WEEK)
    assert run["status"] == "succeeded"
    values = {m["subject_id"]: m["actual_value"] for m in await measurements(client)}
    # admin SQL: a subject without rows has no value (unlike the built-in count)
    assert values == {"1": 2, "2": 1, "3": None}


async def test_sql_that_fails_at_run_time_makes_the_run_fail_not_the_request(
    client: AsyncClient, db: Database
) -> None:
    await create_support_cases(db, CASES)
    sql = (
        "SELECT assigned_to::text AS subject_id, 1 / (count(*) - count(*)) AS value "
        "FROM support_cases WHERE assigned_to::text = ANY(:subject_ids) GROUP BY assigned_to"
    )
    d = await define(client, key="broken", calculation_type="query", config={"sql": sql})
    await assign(client, d["id"], "1", 2, start_date="2026-10-01")
    run = await recalculate(client, period_start=WEEK)
    assert run["status"] == "failed" and run["failed"] == 1
    assert "divided by zero (SQLSTATE 22012)" in run["errors"][0]["error"]
    assert await measurements(client) == []
    stored = await client.get(f"/api/kpis/runs/{run['id']}")
    assert stored.json()["status"] == "failed"


async def test_recalculation_range_is_bounded(client: AsyncClient) -> None:
    await define(client, key="daily_thing", aggregation_period="daily")
    today = datetime.now(UTC).date()
    response = await client.post(
        "/api/kpis/measurements/recalculate",
        json={
            "period_start": (today - timedelta(days=6000)).isoformat(),
            "period_end": today.isoformat(),
        },
    )
    assert_problem(response, 422)
    assert await client.get("/api/kpis/runs") is not None
    assert (await client.get("/api/kpis/runs")).json()["items"] == []


async def test_values_are_stored_at_six_places_half_to_even_in_json_and_csv(
    client: AsyncClient, db: Database
) -> None:
    # User 4 resolves three cases in 1, 1 and 2 hours: the average is 4/3 h, which the
    # source computes with more digits than any stored figure keeps.
    await create_support_cases(
        db,
        [
            (4, "resolved", at(9, 8), at(9, 9)),
            (4, "resolved", at(10, 8), at(10, 9)),
            (4, "resolved", at(11, 8), at(11, 10)),
        ],
    )
    avg = await define(
        client,
        key="avg_resolution_time",
        unit="hours",
        target_type="lower_better",
        calculation_type="query",
        config={"query_key": "avg_resolution_time"},
    )
    await assign(client, avg["id"], "4", 2, start_date="2026-10-01")
    manual = await define(client, key="hours_logged", unit="hours")
    logged = await assign(client, manual["id"], "4", 40, start_date="2026-10-01")
    response = await client.put(
        f"/api/kpis/assignments/{logged['id']}/measurements/{WEEK}",
        json={"value": 10.1234565, "comment": "half: to the even 6, not up to 7"},
    )
    assert response.status_code == 200, response.text
    assert (await recalculate(client, period_start=WEEK))["status"] == "succeeded"

    six = Decimal("0.000001")
    expected = {
        "avg_resolution_time": (Decimal(4) / 3).quantize(six, rounding=ROUND_HALF_EVEN),
        "hours_logged": Decimal("10.1234565").quantize(six, rounding=ROUND_HALF_EVEN),
    }
    assert {k: str(v) for k, v in expected.items()} == {
        "avg_resolution_time": "1.333333",
        "hours_logged": "10.123456",
    }
    achievement = (Decimal(2) / expected["avg_resolution_time"] * 100).quantize(
        six, rounding=ROUND_HALF_EVEN
    )
    json_rows = {m["definition_key"]: m for m in await measurements(client, user_id="4")}
    assert {k: m["actual_value"] for k, m in json_rows.items()} == {
        k: float(v) for k, v in expected.items()
    }
    assert json_rows["avg_resolution_time"]["achievement"] == float(achievement)

    export = await client.get("/api/kpis/metrics/export.csv", params={"user_id": "4"})
    assert export.status_code == 200, export.text
    csv_rows = {r["definition_key"]: r for r in csv.DictReader(io.StringIO(export.text))}
    # The same numbers as JSON, in plain notation without trailing zeros.
    assert {k: r["actual_value"] for k, r in csv_rows.items()} == {
        k: str(v) for k, v in expected.items()
    }
    assert csv_rows["avg_resolution_time"]["achievement"] == str(achievement)
    assert (csv_rows["hours_logged"]["target_value"], csv_rows["avg_resolution_time"]["score"]) == (
        "40",
        "150",
    )
