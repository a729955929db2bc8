"""Real processes: two service replicas with schedulers ticking every few seconds on one
database, and a backfill killed mid-run then resumed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.runs.background import BackgroundRuns
from kpi_service.runs.execution import RunHooks
from kpi_service.scheduler.service import Scheduler
from tests.support.api import (
    assign,
    crm_daily_for_every_subject,
    define,
    recalculate,
    wait_for_run,
)
from tests.support.app import make_settings
from tests.support.database import create_support_cases
from tests.support.processes import (
    LOOPBACK_OUTBOUND,
    checksum,
    fetch,
    serve,
    service_env,
    start,
    terminate,
    wait_ready,
)
from tests.support.source import SourceServer


async def test_two_replicas_ticking_every_second_run_each_occurrence_once(
    client: AsyncClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    noon = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    await create_support_cases(
        db,
        [(u, "resolved", noon, noon + timedelta(minutes=i)) for u in (1, 2, 3) for i in range(u)],
    )
    d = await define(
        client,
        key="resolved_daily",
        aggregation_period="daily",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    for user in ("1", "2", "3"):
        await assign(client, d["id"], user, 2, start_date="2026-01-01")

    procs = [
        serve(
            database_url,
            tmp_path,
            KPI_SCHEDULE_DAILY="* * * * * *",
            KPI_SCHEDULER_CATCHUP="2",
            KPI_LOG_LEVEL="INFO",
        )
        for _ in range(2)
    ]
    try:
        for child in procs:
            wait_ready(child)
        await asyncio.sleep(6)  # some six ticks each, all for the same occurrence
    finally:
        outputs = [terminate(child)[1] for child in procs]
    for output in outputs:  # both ticked, many times (whatever the log format)
        ticks = [
            line
            for line in output.splitlines()
            if "Running job" in line and "Scheduler.tick" in line
        ]
        assert len(ticks) >= 3, output[-3000:]

    runs = await fetch(
        database_url,
        "SELECT period_start, status, worker, finished_at "
        "FROM kpi.calculation_runs ORDER BY period_start",
    )
    # The catch-up's two days (the day before yesterday, yesterday), each exactly once.
    assert [(r["period_start"], r["status"]) for r in runs] == [
        (yesterday - timedelta(days=1), "succeeded"),
        (yesterday, "succeeded"),
    ]
    # The replicas may finish the two days in either order; when yesterday came first, the
    # day before's values re-derived its comparison (a second revision), as they must.
    rederived = runs[1]["finished_at"] < runs[0]["finished_at"]
    rows = await fetch(
        database_url,
        "SELECT m.period_start, a.subject_id, m.actual_value, "
        "m.previous_value, m.revision FROM kpi.measurements m "
        "JOIN kpi.assignments a ON a.id = m.assignment_id "
        "ORDER BY 1, 2",
    )
    assert [
        (
            r["period_start"],
            r["subject_id"],
            int(r["actual_value"]),
            r["previous_value"],
            r["revision"],
        )
        for r in rows
    ] == [
        *((yesterday - timedelta(days=1), u, 0, None, 1) for u in ("1", "2", "3")),
        *((yesterday, u, int(u), 0, 2 if rederived else 1) for u in ("1", "2", "3")),
    ]


async def _progress(url: str, run_id: int) -> int:
    [row] = await fetch(url, "SELECT progress_done FROM kpi.calculation_runs WHERE id = $1", run_id)
    return int(row["progress_done"])


async def test_a_backfill_killed_mid_run_is_resumed_to_the_clean_result(
    client: AsyncClient, db: Database, database_url: str, source: SourceServer, tmp_path: Path
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5, "3": 30}
    state.delay_s = 0.15
    await crm_daily_for_every_subject(client, source)
    first, last = date(2026, 10, 1), date(2026, 10, 30)

    child = start(
        ["backfill", "--from", first.isoformat(), "--to", last.isoformat()],
        service_env(
            database_url,
            KPI_RUN_HEARTBEAT_SECONDS="0.5",
            KPI_RUN_STALE_SECONDS="2",
            **LOOPBACK_OUTBOUND,
        ),
        tmp_path,
    )
    try:
        run_id = None
        deadline = time.monotonic() + 60
        while run_id is None or await _progress(database_url, run_id) < 5:
            assert child.proc.poll() is None, child.output()
            assert time.monotonic() < deadline
            rows = await fetch(database_url, "SELECT id FROM kpi.calculation_runs")
            run_id = rows[0]["id"] if rows else None
            await asyncio.sleep(0.05)
    finally:
        child.proc.kill()  # SIGKILL: no cleanup, no release
        child.proc.wait()
    killed_at = await _progress(database_url, run_id)
    assert 5 <= killed_at < 30

    # The next process up (here: the scheduler's sweep at start-up) finds it stale.
    settings = make_settings(database_url, run_heartbeat_seconds=0.5, run_stale_seconds=2)
    database = Database.connect(database_url, settings)
    runs = BackgroundRuns(lambda: database, settings, RunHooks())
    try:
        assert await Scheduler(lambda: database, settings, runs).sweep() == 0  # not yet
        await asyncio.sleep(2.5)
        assert await Scheduler(lambda: database, settings, runs).sweep() == 1
        run = await wait_for_run(client, run_id)
    finally:
        await runs.shutdown()
        await database.dispose()
    assert (run["status"], run["progress_done"], run["resumed"]) == ("succeeded", 30, 1)
    assert run["computed"] == 90

    # Every (subject, day) once, with the source's value; a clean run changes nothing.
    rows = await fetch(
        database_url,
        "SELECT a.subject_id, count(*) AS n, "
        "count(DISTINCT m.period_start) AS days, "
        "min(m.actual_value) AS lo, max(m.actual_value) AS hi "
        "FROM kpi.measurements m JOIN kpi.assignments a "
        "ON a.id = m.assignment_id GROUP BY 1 ORDER BY 1",
    )
    got: dict[str, Any] = {
        r["subject_id"]: (r["n"], r["days"], float(r["lo"]), float(r["hi"])) for r in rows
    }
    assert got == {u: (30, 30, float(v), float(v)) for u, v in state.values.items()}
    resumed = await checksum(database_url)
    clean = await recalculate(client, period_start=first.isoformat(), period_end=last.isoformat())
    assert (clean["computed"], clean["unchanged"]) == (0, 90)
    assert await checksum(database_url) == resumed
    assert await fetch(database_url, "SELECT 1 FROM kpi.measurement_revisions") == []
