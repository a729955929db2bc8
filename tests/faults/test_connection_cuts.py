"""The database stays up but keeps ending the service's connections (pg_terminate_backend, as a
failover or a proxy restart does) under concurrent writes that go through COPY: every answer
is a success or 503 problem+json with Retry-After, never 500, every write acknowledged is
stored, once, and a backfill (whose measurements go through COPY too) is released each time
it loses its connection, never failed, then resumed to the right values."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kpi_service.core.migrations import upgrade
from tests.support.api import assign, define, event, ingest, start_recalculation, wait_for_run
from tests.support.database import create_database, plain_dsn
from tests.support.processes import QUIET_SCHEDULE, Child, fetch, serve, terminate, wait_ready

CUTTING_S = 12.0
BATCH = 100  # events per batch
FIRST_DAY = date(2025, 1, 1)
RUN_START, RUN_DAYS = date(2025, 11, 1), 40
Server = tuple[str, Callable[[str], str], Callable[[str], None]]


@dataclass
class Load:
    """Event batches and manual values sent concurrently; what was acknowledged, what not."""

    http: httpx.AsyncClient
    stop: bool = False
    statuses: Counter[int | str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # answers that are neither 2xx nor 503 as due
    events_acked: set[uuid.UUID] = field(default_factory=set)
    days_acked: dict[int, set[int]] = field(default_factory=dict)  # assignment -> days

    async def _send(self, method: str, path: str, body: object) -> bool:
        try:
            response = await self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.statuses[type(exc).__name__] += 1
            self.bad.append(f"{method} {path}: {exc!r}")
            return False
        self.statuses[response.status_code] += 1
        if response.status_code == 200:
            return True
        if not (
            response.status_code == 503
            and response.headers.get("content-type") == "application/problem+json"
            and response.headers.get("retry-after")
            and response.json()["status"] == 503
        ):
            self.bad.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return False

    async def events(self, user: str) -> None:
        batch: list[dict[str, object]] = []
        while not self.stop:
            if not batch:  # a batch refused with 503 is sent again as it was (idempotency)
                batch = [
                    event("call", f"2026-01-{1 + i % 28:02d}T12:00:00Z", user, value=i)
                    for i in range(BATCH)
                ]
            if await self._send("POST", "/api/kpis/events", {"events": batch}):
                self.events_acked.update(uuid.UUID(str(e["id"])) for e in batch)
                batch = []
            await asyncio.sleep(0.005)

    async def values(self, assignment_id: int) -> None:
        acked = self.days_acked.setdefault(assignment_id, set())
        day = 0
        while not self.stop:
            when = (FIRST_DAY + timedelta(days=day)).isoformat()
            if await self._send(
                "PUT", f"/api/kpis/assignments/{assignment_id}/measurements/{when}", {"value": day}
            ):
                acked.add(day)
            day += 1
            await asyncio.sleep(0.005)


async def _cut(url: str, stop: asyncio.Event) -> int:
    """End the service's connections to its database every few tens of milliseconds."""
    conn = await asyncpg.connect(plain_dsn(url))
    cut = 0
    try:
        while not stop.is_set():
            cut += len(
                await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'kpi-service' AND datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
            await asyncio.sleep(0.03)
    finally:
        await conn.close()
    return cut


@pytest.fixture
def own_database(server: Server) -> Iterator[str]:
    """A database of its own, migrated: its connections are cut, nobody else's."""
    url = create_database(server, "kpi_cuts")
    upgrade(url)
    yield url
    server[2](make_url(url).database or "")


async def test_connections_cut_under_copy_writes_answer_503_and_lose_nothing(
    own_database: str, tmp_path: Path
) -> None:
    url = own_database
    child: Child = serve(
        url, tmp_path, KPI_RUN_HEARTBEAT_SECONDS="0.5", KPI_RUN_STALE_SECONDS="2", **QUIET_SCHEDULE
    )
    try:
        await asyncio.to_thread(wait_ready, child)
        async with httpx.AsyncClient(base_url=child.base_url, timeout=30) as http:
            definition = await define(http, "calls", aggregation_period="daily", config={})
            assignments = [
                (await assign(http, definition["id"], user, start_date=FIRST_DAY.isoformat()))["id"]
                for user in ("1", "2")
            ]
            run_id = await _start_backfill(http)
            load = Load(http)
            workers = [asyncio.create_task(load.events(str(u))) for u in range(4)]
            workers += [asyncio.create_task(load.values(a)) for a in assignments]
            stop = asyncio.Event()
            cutter = asyncio.create_task(_cut(url, stop))
            await asyncio.sleep(CUTTING_S)
            stop.set()
            cut = await cutter
            await asyncio.sleep(1)  # writes go on a moment with the database left alone
            load.stop = True
            await asyncio.gather(*workers)
            # Nothing poisoned stays in the pool: with no more cuts, every write succeeds.
            during, load.statuses = load.statuses, Counter()
            for _ in range(20):
                assert await load._send(
                    "POST",
                    "/api/kpis/events",
                    {"events": [event("call", "2026-01-02T12:00:00Z", "9")]},
                ), load.bad[-1:]
            run = await wait_for_run(http, run_id)
        alive = child.proc.poll() is None
        stored_events = await fetch(
            url,
            "SELECT id, count(*) AS n FROM kpi.events WHERE id = ANY($1::uuid[]) GROUP BY id",
            list(load.events_acked),
        )
        stored_values = await fetch(
            url,
            "SELECT m.assignment_id, m.period_start, "
            "m.actual_value FROM kpi.measurements m JOIN "
            "kpi.definitions d ON d.id = m.definition_id "
            "WHERE d.key = 'calls'",
        )
        sales = await fetch(
            url,
            "SELECT m.period_start, m.actual_value FROM kpi.measurements m "
            "JOIN kpi.definitions d ON d.id = m.definition_id "
            "WHERE d.key = 'sales' ORDER BY 1",
        )
    finally:
        code, output = terminate(child)

    print(
        f"\n{cut} connections cut in {CUTTING_S:.0f}s; {sum(during.values())} answers: "
        f"{dict(during)}; {len(load.events_acked)} events and "
        f"{sum(map(len, load.days_acked.values()))} values acknowledged; the backfill "
        f"{run['status']} ({run['failed']} failed), "
        f"resumed {run['resumed']}x"
    )
    assert alive and code == 0, output[-3000:]
    assert cut > 20  # the cuts did land
    assert load.bad == [], (len(load.bad), load.bad[:5], output[-3000:])
    # Each acknowledged event is stored exactly once.
    assert len(load.events_acked) >= 10 * BATCH
    assert {r["id"] for r in stored_events} == load.events_acked
    assert {r["n"] for r in stored_events} == {1}
    # Each acknowledged value is stored, as sent.
    stored = {
        (r["assignment_id"], (r["period_start"] - FIRST_DAY).days): r["actual_value"]
        for r in stored_values
    }
    acked = {(a, d) for a, days in load.days_acked.items() for d in days}
    assert len(acked) > 5
    assert {k: stored.get(k) for k in acked} == {(a, d): Decimal(d) for a, d in acked}
    # The backfill lost its connection, was released (not failed) and resumed to the end:
    # day i of the range holds i % 4 sales, once.
    assert (run["status"], run["progress_done"], run["failed"]) == ("succeeded", RUN_DAYS, 0)
    assert run["resumed"] >= 1
    assert [(r["period_start"], r["actual_value"]) for r in sales] == [
        (RUN_START + timedelta(days=i), Decimal(i % 4)) for i in range(RUN_DAYS)
    ]


async def _start_backfill(http: httpx.AsyncClient) -> int:
    """An event KPI counting one user's sales per day, backfilled over RUN_DAYS days; the
    run's id, at once (the run goes on while the connections are cut)."""
    sales = [
        event("sale", f"{RUN_START + timedelta(days=i)}T10:{n:02d}:00Z", "r")
        for i in range(RUN_DAYS)
        for n in range(i % 4)
    ]
    await ingest(http, sales)
    definition = await define(
        http,
        "sales",
        aggregation_period="daily",
        calculation_type="event",
        config={"event_type": "sale", "aggregate": "count"},
    )
    await assign(http, definition["id"], "r", 2, start_date=RUN_START.isoformat())
    return await start_recalculation(
        http,
        period_start=RUN_START.isoformat(),
        period_end=(RUN_START + timedelta(days=RUN_DAYS - 1)).isoformat(),
        definition_keys=["sales"],
    )
