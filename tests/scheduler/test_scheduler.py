"""The scheduler's jobs on the real database: exactly once across replicas, catch-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.runs.background import BackgroundRuns
from kpi_service.runs.execution import RunHooks
from kpi_service.scheduler.service import Scheduler
from tests.support.api import assign, define, wait_for_run
from tests.support.app import make_settings
from tests.support.database import create_support_cases

DAY = date(2026, 11, 18)


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[list[Scheduler]]:
    """Two schedulers, each with its own connection pool and run worker: two processes."""
    settings = make_settings(database_url, scheduler_catchup=2)

    def replica(database: Database) -> tuple[Database, Scheduler]:
        runs = BackgroundRuns(lambda: database, settings, RunHooks())
        return database, Scheduler(lambda: database, settings, runs)

    made = [replica(Database.connect(database_url, settings)) for _ in range(2)]
    yield [s for _, s in made]
    for database, scheduler in made:
        await scheduler.runs.shutdown()
        await database.dispose()


async def _daily_world(client: AsyncClient, db: Database) -> None:
    """User u resolves u cases on the 18th; a daily and a weekly KPI for users 1-3."""
    cases = [
        (
            u,
            "resolved",
            datetime(2026, 11, 18, 8, tzinfo=UTC),
            datetime(2026, 11, 18, 9 + i, tzinfo=UTC),
        )
        for u in (1, 2, 3)
        for i in range(u)
    ]
    await create_support_cases(db, cases)
    for key, kind in (("resolved_daily", "daily"), ("resolved_weekly", "weekly")):
        d = await define(
            client,
            key=key,
            aggregation_period=kind,
            calculation_type="query",
            config={"query_key": "cases_resolved_count"},
        )
        for user in ("1", "2", "3"):
            await assign(client, d["id"], user, 2, start_date="2026-11-01")


async def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def test_two_replicas_firing_together_run_the_occurrence_once(
    client: AsyncClient, db: Database, replicas: list[Scheduler]
) -> None:
    await _daily_world(client, db)
    period = containing(PeriodKind.DAILY, DAY)
    for _ in range(3):  # and again, as a cron firing every few seconds would
        claimed = await asyncio.gather(*(r.occur(PeriodKind.DAILY, period) for r in replicas))
        if _ == 0:
            assert sorted(len(c) for c in claimed) == [0, 1]
            [run_id] = claimed[0] or claimed[1]
        else:
            assert claimed == [[], []]
    run = await wait_for_run(client, run_id)
    assert (run["trigger"], run["period_kind"], run["status"]) == ("schedule", "daily", "succeeded")
    assert await _rows(db, "SELECT count(*) FROM kpi.calculation_runs") == [(1,)]
    values = await _rows(
        db,
        "SELECT a.subject_id, m.actual_value FROM kpi.measurements m "
        "JOIN kpi.assignments a ON a.id = m.assignment_id "
        "ORDER BY a.subject_id",
    )
    assert [(s, int(v)) for s, v in values] == [("1", 1), ("2", 2), ("3", 3)]


async def test_catch_up_claims_each_missed_occurrence_once(
    client: AsyncClient, db: Database, replicas: list[Scheduler]
) -> None:
    await _daily_world(client, db)
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)  # Saturday
    first, second = await asyncio.gather(*(r.catch_up(now) for r in replicas))
    assert sorted(first + second) == sorted(set(first + second))
    for run_id in first + second:
        await wait_for_run(client, run_id)
    # Daily: the 19th and the 20th; weekly: the weeks of the 9th and the 2nd.
    occurrences = await _rows(
        db,
        "SELECT period_kind, period_start FROM kpi.calculation_runs "
        "WHERE trigger = 'schedule' ORDER BY 1, 2",
    )
    assert occurrences == [
        ("daily", date(2026, 11, 19)),
        ("daily", date(2026, 11, 20)),
        ("weekly", date(2026, 11, 2)),
        ("weekly", date(2026, 11, 9)),
    ]
    assert await replicas[0].catch_up(now) == []
    weekly = await _rows(
        db,
        "SELECT m.period_start, count(*), sum(m.actual_value) "
        "FROM kpi.measurements m WHERE m.period_end - m.period_start = 6 "
        "GROUP BY 1 ORDER BY 1",
    )
    # The cases of the 18th lie in the week of the 16th, not scheduled before the 23rd.
    assert weekly == [(date(2026, 11, 2), 3, 0), (date(2026, 11, 9), 3, 0)]


async def test_a_scheduled_run_leaves_closed_periods_alone(
    client: AsyncClient, db: Database, settings: Settings, replicas: list[Scheduler]
) -> None:
    await _daily_world(client, db)
    closed = await client.post(
        "/api/kpis/periods/close",
        json={"period_start": DAY.isoformat(), "definition_keys": ["resolved_daily"]},
    )
    assert closed.status_code == 200, closed.text
    [run_id] = await replicas[0].occur(PeriodKind.DAILY, containing(PeriodKind.DAILY, DAY))
    run = await wait_for_run(client, run_id)
    assert run["computed"] == 0 and "closed" in run["errors"][0]["error"]
    assert await _rows(db, "SELECT count(*) FROM kpi.measurements") == [(0,)]


async def test_the_partitions_job_creates_months_ahead_once(
    db: Database, database_url: str
) -> None:
    today = datetime.now(UTC).date()
    ahead = [
        (today.year + (today.month - 1 + k) // 12, (today.month - 1 + k) % 12 + 1)
        for k in range(15)
    ]
    names = [f"events_y{y:04d}m{m:02d}" for y, m in ahead]
    async with db.engine.begin() as conn:  # the far months, should an earlier run have made them
        for name in names[12:]:
            await conn.execute(text(f"DROP TABLE IF EXISTS kpi.{name}"))
    settings = make_settings(database_url, partitions_ahead_months=14)
    scheduler = Scheduler(lambda: db, settings, BackgroundRuns(lambda: db, settings, RunHooks()))
    created = await scheduler.partitions()
    assert set(names[12:]) <= set(created) <= set(names)
    assert await scheduler.partitions() == []
    attached = await _rows(
        db,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
        "ON c.oid = i.inhrelid WHERE i.inhparent = 'kpi.events'::regclass",
    )
    assert set(names) <= {r[0] for r in attached}


async def test_the_alert_jobs_are_scheduled_and_find_a_missing_manual_value(
    client: AsyncClient, db: Database, database_url: str
) -> None:
    settings = make_settings(
        database_url, schedule_overdue_values="30 7 * * *", alert_sweep_seconds=45
    )
    scheduler = Scheduler(lambda: db, settings, BackgroundRuns(lambda: db, settings, RunHooks()))
    scheduler.start()
    try:
        assert scheduler._scheduler is not None
        jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
        assert str(jobs["overdue-values"].trigger.fields[5]) == "7"  # hour
        assert str(jobs["overdue-values"].trigger.fields[6]) == "30"  # minute
        assert jobs["alert-deliveries"].trigger.interval.total_seconds() == 45
    finally:
        scheduler.shutdown()
    kpi = await define(client, key="visits", calculation_type="manual")
    monday = containing(PeriodKind.WEEKLY, datetime.now(UTC).date()).start
    await assign(client, kpi["id"], "42", 5, start_date=(monday - timedelta(weeks=4)).isoformat())
    rule = await client.post(
        "/api/kpis/alerts/rules",
        json={
            "definition_id": kpi["id"],
            "name": "visits missing",
            "condition": {"kind": "missing_value", "days": 0, "lookback_periods": 1},
        },
    )
    assert rule.status_code == 201, rule.text
    assert await scheduler.overdue_values() == 1
    alerts = (await client.get("/api/kpis/alerts")).json()["items"]
    # The latest ended week has no value: one alert, for it.
    assert [(a["subject_id"], a["period_start"]) for a in alerts] == [
        ("42", (monday - timedelta(weeks=1)).isoformat())
    ]
    assert await scheduler.deliveries() == 0
