"""SIGTERM: the request in flight finishes, the running backfill stops between two periods
and is released, the process exits 0; the next process resumes the run at once, to the
measurements a clean run gives."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, recalculate, start_recalculation, wait_for_run
from tests.support.processes import (
    LOOPBACK_OUTBOUND,
    QUIET_SCHEDULE,
    checksum,
    fetch,
    serve,
    terminate,
    until,
    wait_exit,
    wait_ready,
)
from tests.support.source import SourceServer, value_config

FIRST = date(2026, 6, 1)
DAYS = 40
EXIT_BOUND_S = 30.0


def _errors_logged(output: str) -> list[str]:
    """Lines logged at ERROR, in the JSON or the text format."""
    return [line for line in output.splitlines() if '"level": "ERROR"' in line or " ERROR " in line]


async def _run_row(url: str, run_id: int) -> dict[str, Any]:
    [row] = await fetch(
        url,
        "SELECT status, worker, progress_done, progress_total, "
        "heartbeat_at, finished_at FROM kpi.calculation_runs "
        "WHERE id = $1",
        run_id,
    )
    return dict(row)


async def _days_stored(url: str, definition_id: int) -> Counter[date]:
    rows = await fetch(
        url, "SELECT period_start FROM kpi.measurements WHERE definition_id = $1", definition_id
    )
    return Counter(r["period_start"] for r in rows)


async def test_sigterm_lets_the_request_finish_and_leaves_the_run_resumable_at_once(
    client: AsyncClient, db: Database, database_url: str, source: SourceServer, tmp_path: Path
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5, "3": 30, "9": 42}
    state.delay_s = 0.15  # forty days of three subjects: some six seconds of backfill
    state.slow_s = 2.0
    state.plan("9", "slow")  # the request in flight waits two seconds on the source
    daily = await define(
        client,
        key="crm_daily",
        aggregation_period="daily",
        calculation_type="api",
        config=value_config(source, timeout_s=10),
    )
    for user in ("1", "2", "3"):
        await assign(client, daily["id"], user, 10, start_date="2026-01-01")
    weekly = await define(
        client, key="crm_weekly", calculation_type="api", config=value_config(source, timeout_s=10)
    )
    slow = await assign(client, weekly["id"], "9", 40, start_date="2026-01-01")

    child = serve(database_url, tmp_path, **QUIET_SCHEDULE, **LOOPBACK_OUTBOUND)
    await asyncio.to_thread(wait_ready, child)
    async with httpx.AsyncClient(base_url=child.base_url, timeout=30) as http:
        run_id = await start_recalculation(
            http,
            period_start=FIRST.isoformat(),
            period_end=(FIRST + timedelta(days=DAYS - 1)).isoformat(),
            definition_keys=["crm_daily"],
        )

        async def started() -> bool:
            return int((await _run_row(database_url, run_id))["progress_done"]) >= 3

        await until(started, "the backfill's third period")
        in_flight = asyncio.create_task(
            http.post(
                f"/kpis/calculate/{slow['id']}",
                json={"period_start": "2026-06-01", "period_end": "2026-06-07"},
            )
        )

        async def on_the_source() -> bool:  # the request is inside the service, waiting
            return state.attempts["9"] > 0

        await until(on_the_source, "the request to reach the source")
        child.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        answer = await in_flight
    code, output = await asyncio.to_thread(wait_exit, child, EXIT_BOUND_S)
    exited_after = time.monotonic() - signalled
    stopped = await _run_row(database_url, run_id)
    days = await _days_stored(database_url, daily["id"])

    print(
        f"\nin-flight request {answer.status_code} after SIGTERM; exit {code} "
        f"{exited_after:.2f}s after SIGTERM; run stopped at {stopped['progress_done']}/{DAYS}"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["measurement"]["actual_value"] == 42
    assert code == 0, output[-3000:]
    assert _errors_logged(output) == []
    # Released: still unfinished, its heartbeat made stale so any process takes it at once.
    assert stopped["status"] == "running" and stopped["finished_at"] is None
    assert stopped["heartbeat_at"].year == 1970
    done = int(stopped["progress_done"])
    assert 3 <= done < DAYS
    # Stopped between two periods: the periods done hold all three subjects, none other any.
    assert days == {FIRST + timedelta(days=i): 3 for i in range(done)}

    # The next process resumes it at start-up, long before the stale timeout (120 s).
    state.delay_s = 0.02
    successor = serve(database_url, tmp_path, **QUIET_SCHEDULE, **LOOPBACK_OUTBOUND)
    try:
        await asyncio.to_thread(wait_ready, successor)
        run = await wait_for_run(client, run_id, within=30)
    finally:
        code, output = terminate(successor)
    assert code == 0, output[-3000:]
    assert (run["status"], run["progress_done"], run["resumed"]) == ("succeeded", DAYS, 1)
    assert run["computed"] == 3 * DAYS
    rows = await fetch(
        database_url,
        "SELECT a.subject_id, m.period_start, m.actual_value "
        "FROM kpi.measurements m JOIN kpi.assignments a "
        "ON a.id = m.assignment_id WHERE m.definition_id = $1",
        daily["id"],
    )
    assert Counter((r["subject_id"], r["period_start"], r["actual_value"]) for r in rows) == {
        (u, FIRST + timedelta(days=i), Decimal(str(state.values[u]))): 1
        for u in ("1", "2", "3")
        for i in range(DAYS)
    }

    # The same range computed from scratch by a clean run gives the same measurements.
    resumed = await checksum(database_url)
    await fetch(database_url, "DELETE FROM kpi.measurements WHERE definition_id = $1", daily["id"])
    clean = await recalculate(
        client,
        period_start=FIRST.isoformat(),
        period_end=(FIRST + timedelta(days=DAYS - 1)).isoformat(),
        definition_keys=["crm_daily"],
    )
    assert (clean["status"], clean["computed"]) == ("succeeded", 3 * DAYS)
    assert await checksum(database_url) == resumed


async def test_a_request_outlasting_the_grace_is_cut_and_the_process_still_exits(
    client: AsyncClient, db: Database, database_url: str, source: SourceServer, tmp_path: Path
) -> None:
    state = source.reset()
    state.values = {"1": 12, "9": 42}
    state.delay_s = 0.15
    state.slow_s = 60.0  # far beyond the grace: only the cut ends it
    state.plan("9", "slow")
    daily = await define(
        client,
        key="crm_daily",
        aggregation_period="daily",
        calculation_type="api",
        config=value_config(source, timeout_s=10),
    )
    await assign(client, daily["id"], "1", 10, start_date="2026-01-01")
    weekly = await define(
        client,
        key="crm_weekly",
        calculation_type="api",
        config=value_config(source, timeout_s=60),
    )
    hung = await assign(client, weekly["id"], "9", 40, start_date="2026-01-01")

    child = serve(
        database_url,
        tmp_path,
        **QUIET_SCHEDULE,
        **LOOPBACK_OUTBOUND,
        KPI_SHUTDOWN_GRACE_SECONDS="1",
    )
    await asyncio.to_thread(wait_ready, child)
    async with httpx.AsyncClient(base_url=child.base_url, timeout=90) as http:
        run_id = await start_recalculation(
            http,
            period_start=FIRST.isoformat(),
            period_end=(FIRST + timedelta(days=DAYS - 1)).isoformat(),
        )
        in_flight = asyncio.create_task(
            http.post(
                f"/kpis/calculate/{hung['id']}",
                json={"period_start": "2026-06-01", "period_end": "2026-06-07"},
            )
        )

        async def on_the_source() -> bool:
            return state.attempts["9"] > 0

        await until(on_the_source, "the request to reach the source")
        child.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code, output = await asyncio.to_thread(wait_exit, child, EXIT_BOUND_S)
        exited_after = time.monotonic() - signalled
        cut = await in_flight

    print(f"\nexit {code} {exited_after:.2f}s after SIGTERM with a request hung for 60 s")
    assert code == 0, output[-3000:]
    assert "timeout graceful shutdown exceeded" in output
    # Cut with an answer the seed's clients read ({"error"}), saying to retry.
    assert (cut.status_code, cut.headers["retry-after"]) == (503, "1"), cut.text
    assert cut.json() == {"error": "The service is shutting down; retry shortly."}
    # The cut request's transaction rolled back: no measurement, not even its run row.
    rows = await fetch(database_url, "SELECT id, heartbeat_at FROM kpi.calculation_runs")
    assert [r["id"] for r in rows] == [run_id] and rows[0]["heartbeat_at"].year == 1970
    assert await _days_stored(database_url, weekly["id"]) == Counter()
