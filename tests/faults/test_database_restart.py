"""PostgreSQL stops for a few seconds under traffic and comes back: the service answers 503
problem+json with Retry-After meanwhile, recovers without a restart, loses nothing, and a
backfill the outage cut short is resumed to the source's values."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade
from kpi_service.runs.background import BackgroundRuns
from tests.support.api import (
    assign,
    crm_daily_for_every_subject,
    define,
    start_recalculation,
    wait_for_run,
)
from tests.support.processes import (
    LOOPBACK_OUTBOUND,
    QUIET_SCHEDULE,
    Child,
    fetch,
    serve,
    terminate,
    wait_ready,
)
from tests.support.source import SourceServer

OUTAGE_S = 4.0
HANG_BOUND_S = 10.0  # no answer may take longer (the client's own timeout is a bit above)
RECOVERY_BOUND_S = 15.0
FIRST_DAY = date(2025, 1, 1)


@dataclass(frozen=True)
class Answer:
    """One request of the traffic and how the service answered it."""

    path: str
    sent: str  # the database's phase when sent and when answered
    answered: str
    status: int | None
    content_type: str = ""
    retry_after: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Traffic:
    """Reads, writes and probes sent one after the other until told to stop."""

    base_url: str
    assignment_id: int
    phase: str = "up"
    stop: bool = False

    def __post_init__(self) -> None:
        self.answers: list[Answer] = []
        self.written: list[int] = []  # days (offsets from FIRST_DAY) the service acknowledged
        self.tried: list[int] = []

    async def run(self) -> None:
        timeout = httpx.Timeout(HANG_BOUND_S + 5)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout) as http:
            while not self.stop:
                day = len(self.tried)
                self.tried.append(day)
                when = (FIRST_DAY + timedelta(days=day)).isoformat()
                answer = await self._send(
                    http,
                    "PUT",
                    f"/api/kpis/assignments/{self.assignment_id}/measurements/{when}",
                    {"value": day},
                )
                if answer.status == 200:
                    self.written.append(day)
                for path in ("/api/kpis/definitions", "/readyz", "/healthz"):
                    await self._send(http, "GET", path)
                await asyncio.sleep(0.02)

    async def _send(
        self, http: httpx.AsyncClient, method: str, path: str, body: object = None
    ) -> Answer:
        sent, started = self.phase, time.monotonic()
        try:
            response = await http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            answer = Answer(
                path, sent, self.phase, None, error=repr(exc), seconds=time.monotonic() - started
            )
        else:
            answer = Answer(
                path,
                sent,
                self.phase,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                seconds=time.monotonic() - started,
            )
        self.answers.append(answer)
        return answer


def _kind(path: str) -> str:
    return path if path in ("/readyz", "/healthz") else "api"


async def _setup(http: httpx.AsyncClient, source: SourceServer) -> tuple[int, int]:
    """A manual daily KPI assigned to one user, and `crm_daily` for the source's users
    backfilled over 50 days; the manual KPI's assignment and the run's id, at once (the run
    goes on through the outage)."""
    calls = await define(http, "calls", aggregation_period="daily", config={})
    assignment = await assign(http, calls["id"], "7", start_date=FIRST_DAY.isoformat())
    await crm_daily_for_every_subject(http, source)
    run_id = await start_recalculation(
        http, period_start="2026-03-01", period_end="2026-04-19", definition_keys=["crm_daily"]
    )
    return assignment["id"], run_id


async def test_the_database_restarts_under_traffic_and_the_service_recovers_by_itself(
    tmp_path: Path, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"1": 12, "2": 7.5, "3": 30}
    state.delay_s = 0.1  # 50 days of three subjects: the backfill outlasts the outage
    # Not under tmp_path: any pytest starting meanwhile makes /tmp/pytest-of-<user> private
    # again, and the server (another system user when run as root) must reach its data.
    workdir = Path(tempfile.mkdtemp(prefix="kpi-fault-"))
    server = EmbeddedPostgres(workdir, durable=False)
    server.start()
    child: Child | None = None
    try:
        server.ensure_database("kpi")
        url = server.url("kpi")
        await asyncio.to_thread(upgrade, url)
        child = serve(
            url,
            tmp_path,
            KPI_RUN_HEARTBEAT_SECONDS="0.5",
            KPI_RUN_STALE_SECONDS="2",
            **QUIET_SCHEDULE,
            **LOOPBACK_OUTBOUND,
        )
        await asyncio.to_thread(wait_ready, child)
        async with httpx.AsyncClient(base_url=child.base_url, timeout=30) as http:
            assignment, run_id = await _setup(http, source)
            traffic = Traffic(child.base_url, assignment)
            driver = asyncio.create_task(traffic.run())
            await asyncio.sleep(1.5)
            before = (await http.get(f"/api/kpis/runs/{run_id}")).json()

            traffic.phase = "stopping"
            await asyncio.to_thread(server.stop)  # fast mode: open sessions are cut
            traffic.phase = "down"
            await asyncio.sleep(OUTAGE_S)
            traffic.phase = "starting"
            await asyncio.to_thread(server.start)  # same data directory, same socket
            traffic.phase = "up again"
            back = time.monotonic()
            while (await http.get("/api/kpis/definitions")).status_code != 200:
                assert time.monotonic() - back < RECOVERY_BOUND_S
                await asyncio.sleep(0.05)
            recovered_after = time.monotonic() - back
            await asyncio.sleep(1)
            traffic.stop = True
            await asyncio.wait_for(driver, HANG_BOUND_S + 10)
            run = await wait_for_run(http, run_id)
            ready = (await http.get("/readyz")).status_code
        alive = child.proc.poll() is None  # the same process throughout
        stored = await _stored(url)
    finally:
        if child is not None:
            code, output = terminate(child)
        server.stop()
        shutil.rmtree(server.socket_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    answers = traffic.answers
    down = [a for a in answers if a.sent == a.answered == "down"]
    print(
        f"\n{len(answers)} requests, {len(down)} while PostgreSQL was down: "
        f"{dict(Counter((_kind(a.path), a.status) for a in down))}; all: "
        f"{dict(Counter((_kind(a.path), a.status) for a in answers))}; slowest "
        f"{max(a.seconds for a in answers):.2f}s; recovered {recovered_after:.2f}s after "
        f"PostgreSQL was up; {len(traffic.written)} of {len(traffic.tried)} writes "
        f"acknowledged; run {run['id']} at {before['progress_done']}/50 when it stopped, "
        f"resumed {run['resumed']}x"
    )
    assert alive and ready == 200
    assert code == 0, output[-3000:]
    assert [a for a in answers if a.error or a.seconds > HANG_BOUND_S] == []
    # Every answer, whatever the phase: a success, or 503 problem+json with Retry-After.
    assert {a.status for a in answers} <= {200, 503}
    unavailable = [a for a in answers if a.status == 503]
    assert all(
        a.content_type == "application/problem+json" and a.retry_after for a in unavailable
    ), unavailable[:5]
    assert {(_kind(a.path), a.status) for a in down} == {
        ("api", 503),
        ("/readyz", 503),
        ("/healthz", 200),
    }
    assert all(a.status == 200 for a in answers if a.sent == "up again")

    # Every acknowledged write is stored, once; nothing is stored that was not sent.
    days, values = stored
    assert set(traffic.written) <= days <= set(traffic.tried)
    assert len(traffic.written) > 10
    # The backfill the outage cut short was resumed, and holds each source value once.
    assert before["status"] == "running" and before["progress_done"] < 50
    assert (run["status"], run["progress_done"], run["progress_total"]) == ("succeeded", 50, 50)
    assert run["resumed"] >= 1
    assert values == {
        (u, RUN_START + timedelta(days=i)): (Decimal(str(v)), 1)
        for u, v in state.values.items()
        for i in range(50)
    }


RUN_START = date(2026, 3, 1)


async def _stored(url: str) -> tuple[set[int], dict[tuple[str, date], tuple[Decimal, int]]]:
    """The days of the manual KPI stored; the api KPI's (subject, day) -> (value, copies)."""
    rows = await fetch(
        url,
        "SELECT d.key, a.subject_id, m.period_start, m.actual_value "
        "FROM kpi.measurements m JOIN kpi.assignments a "
        "ON a.id = m.assignment_id JOIN kpi.definitions d "
        "ON d.id = m.definition_id",
    )
    days = {(r["period_start"] - FIRST_DAY).days for r in rows if r["key"] == "calls"}
    copies = Counter(
        (r["subject_id"], r["period_start"], r["actual_value"])
        for r in rows
        if r["key"] == "crm_daily"
    )
    return days, {(u, d): (v, n) for (u, d, v), n in copies.items()}


async def test_a_connection_cut_mid_run_leaves_the_run_to_be_resumed_not_failed(
    client: AsyncClient, db: Database, database_url: str, source: SourceServer
) -> None:
    state = source.reset()
    state.values = {"1": 4, "2": 5.25}
    state.delay_s = 0.2  # the pair's transaction waits on the source meanwhile
    await crm_daily_for_every_subject(client, source)
    run_id = await start_recalculation(client, period_start="2026-05-01", period_end="2026-05-10")

    # Cut the run's own connection while its pair's transaction waits on the source (a
    # proxy restart or a failover does this); the database itself stays up.
    deadline = time.monotonic() + 30
    while True:
        cut = await fetch(
            database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'kpi-service' "
            "AND state = 'idle in transaction' "
            "AND datname = current_database() "
            # the pair's transaction, idle while it waits on
            # the source (0.2 s a request), not a brief one
            "AND clock_timestamp() - state_change "
            "> interval '100 milliseconds'",
        )
        if cut:
            break
        assert time.monotonic() < deadline, "the run never waited on the source"
        await asyncio.sleep(0.01)
    runs: BackgroundRuns = client._transport.app.state.runs  # type: ignore[attr-defined]
    await runs.idle()
    [row] = await fetch(
        database_url,
        "SELECT status, progress_done, heartbeat_at FROM kpi.calculation_runs WHERE id = $1",
        run_id,
    )
    # Released, not failed: its heartbeat is made stale so the next sweep takes it up.
    assert row["status"] == "running" and row["progress_done"] < 10
    assert row["heartbeat_at"].year == 1970
    assert await runs.sweep() == 1
    run = await wait_for_run(client, run_id)
    assert (run["status"], run["progress_done"], run["resumed"], run["computed"]) == (
        "succeeded",
        10,
        1,
        20,
    )
    rows = await fetch(
        database_url,
        "SELECT a.subject_id, m.period_start, m.actual_value "
        "FROM kpi.measurements m JOIN kpi.assignments a "
        "ON a.id = m.assignment_id ORDER BY 1, 2",
    )
    assert [(r["subject_id"], r["period_start"], r["actual_value"]) for r in rows] == [
        (u, date(2026, 5, 1) + timedelta(days=i), Decimal(str(v)))
        for u, v in state.values.items()
        for i in range(10)
    ]
