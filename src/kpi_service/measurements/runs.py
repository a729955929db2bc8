"""Runs: a plan of (definition, period) pairs, executed pair by pair in its own transaction.

Each pair's measurements and the run's progress commit together, so a run that dies is
resumed from its last committed pair by whichever process next finds its heartbeat
stale, and no measurement is lost or written twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core import telemetry
from kpi_service.core.database import Database
from kpi_service.core.errors import Conflict, database_unreachable
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.formula import FormulaError, evaluation_order
from kpi_service.engine.periods import Period, PeriodKind, aligned_or_custom, between
from kpi_service.measurements.calculation import Tally, compute_period
from kpi_service.measurements.run_repository import RunRepository
from kpi_service.models import CalculationRun, Definition

log = logging.getLogger(__name__)

Pair = tuple[Definition, Period]
Progress = Callable[[int, int], None]
# Work that reads a finished run's measurements (goals reached, alerts): each gets the
# database, the settings and the finished run, after its last pair is committed.
Follower = Callable[[Database, Settings, CalculationRun], Awaitable[None]]


def worker_name() -> str:
    """This process, as run rows name their owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def order_pairs(definitions: Sequence[Definition], first: date, last: date) -> list[Pair]:
    """Every period of each definition overlapping [first, last], oldest period first;
    within a period, formula KPIs after the KPIs they use."""
    try:
        order = evaluation_order({d.key: list(d.config.get("variables", {}).values())
                                  for d in definitions})
    except FormulaError as exc:  # refused when saved; only a hand-edited database gets here
        raise Conflict(f"The KPIs cannot be ordered: {exc}") from None
    rank = {key: i for i, key in enumerate(order)}
    return sorted(
        ((d, p) for d in definitions
         for p in between(PeriodKind(d.aggregation_period), first, last)),
        key=lambda pair: (pair[1].start, rank[pair[0].key], pair[0].id),
    )


def new_run(tenant_id: str, trigger: str, pairs: Sequence[Pair], *, first: date, last: date,
            filters: dict[str, Any], requested_by: str | None, restate: bool = False,
            reason: str | None = None, status: str = "queued") -> CalculationRun:
    """A run row for these pairs, not yet started."""
    kinds = {p.kind.value if p.kind else None for _, p in pairs}
    now = datetime.now(UTC)
    return CalculationRun(
        tenant_id=tenant_id, trigger=trigger,
        period_kind=kinds.pop() if len(kinds) == 1 else None,
        period_start=min((p.start for _, p in pairs), default=first),
        period_end=max((p.end for _, p in pairs), default=last),
        filters=filters, status=status, restate=restate, reason=reason,
        plan=[[d.id, p.start.isoformat(), p.end.isoformat()] for d, p in pairs],
        progress_total=len(pairs), progress_done=0, computed=0, unchanged=0, failed=0,
        skipped=0, errors=[], requested_by=requested_by, heartbeat_at=now, resumed=0,
    )


def run_status(tally: Tally) -> str:
    """succeeded, partial (some subjects failed) or failed (all that were tried failed)."""
    if tally.failed and not (tally.computed or tally.unchanged):
        return "failed"
    return "partial" if tally.failed else "succeeded"


class LostRun(Exception):
    """Another process took the run over (this one was presumed dead)."""


async def execute(database: Database, settings: Settings, tenant_id: str, run_id: int,
                  worker: str, on_progress: Progress | None = None,
                  followers: Sequence[Follower] = ()) -> CalculationRun | None:
    """Claim the run and compute its remaining pairs, then hand the finished run to each
    follower; None if it is not ours to run."""
    stale_after = timedelta(seconds=settings.run_stale_seconds)
    async with database.unit_of_work() as session:
        run = await RunRepository(session).claim(tenant_id, run_id, worker, stale_after)
    if run is None:
        return None
    if run.resumed:
        log.info("resuming run %s of %s at pair %s/%s", run.id, tenant_id, run.progress_done,
                 run.progress_total)
    beat = asyncio.create_task(_heartbeat(database, settings, tenant_id, run_id, worker))
    try:
        finished = await _work(database, settings, run, worker, on_progress)
    except asyncio.CancelledError:
        await asyncio.shield(_release(database, tenant_id, run_id, worker))
        raise
    except LostRun:
        log.warning("run %s of %s was taken over by another process", run_id, tenant_id)
        return None
    except Exception as exc:
        if database_unreachable(exc):
            # Nothing is wrong with the run: its last pair rolled back; any process resumes it
            # (at once if the release gets through, else once its heartbeat is stale).
            log.warning("run %s of %s stopped: the database is unreachable; it will be "
                        "resumed", run_id, tenant_id)
            await _release(database, tenant_id, run_id, worker)
            return None
        log.exception("run %s of %s failed", run_id, tenant_id)
        await _fail(database, run, worker)
        return None
    finally:
        beat.cancel()
    telemetry.run_finished(finished.status, finished.trigger)
    await _follow(database, settings, finished, followers)
    return finished


async def _follow(database: Database, settings: Settings, run: CalculationRun,
                  followers: Sequence[Follower]) -> None:
    # The measurements are stored whatever a follower does; its failure is its own, and
    # the next run of the same KPIs evaluates them again.
    for follower in followers:
        try:
            await follower(database, settings, run)
        except Exception:
            log.exception("%s failed after run %s of %s", getattr(follower, "__qualname__",
                                                                  follower), run.id,
                          run.tenant_id)


async def _work(database: Database, settings: Settings, run: CalculationRun, worker: str,
                on_progress: Progress | None) -> CalculationRun:
    async with database.sessions() as session:
        definitions = await DefinitionRepository(session).by_ids(
            run.tenant_id, sorted({int(item[0]) for item in run.plan}))
    total = Tally(computed=run.computed, unchanged=run.unchanged, failed=run.failed,
                  skipped=run.skipped, errors=list(run.errors))
    for index in range(run.progress_done, len(run.plan)):
        definition_id, start, end = run.plan[index]
        async with database.unit_of_work() as session:
            tally = await _pair(session, database, settings, run, definitions.get(definition_id),
                                date.fromisoformat(start), date.fromisoformat(end))
            total.add(tally)
            total.measurement_ids.clear()
            owned = await RunRepository(session).record(
                run.tenant_id, run.id, worker, progress_done=index + 1,
                computed=total.computed, unchanged=total.unchanged, failed=total.failed,
                skipped=total.skipped, errors=total.errors)
            if not owned:
                raise LostRun
        if on_progress is not None:
            on_progress(index + 1, len(run.plan))
    async with database.unit_of_work() as session:
        repo = RunRepository(session)
        if not await repo.record(run.tenant_id, run.id, worker, status=run_status(total),
                                 finished_at=datetime.now(UTC)):
            raise LostRun
        finished = await repo.get(run.tenant_id, run.id)
    assert finished is not None
    return finished


async def _pair(session: AsyncSession, database: Database, settings: Settings, run: CalculationRun,
                definition: Definition | None, start: date, end: date) -> Tally:
    tally = Tally()
    if definition is None:
        tally.errors.append({"period_start": start.isoformat(),
                             "error": "the KPI no longer exists"})
        return tally
    period = aligned_or_custom(PeriodKind(definition.aggregation_period), start, end)
    closed = await RunRepository(session).closed(run.tenant_id, [(definition.id, start)])
    if closed and not run.restate:
        tally.error(definition, period, "the period is closed; recalculate it with restate "
                                        "to change it")
        return tally
    reason = f"restated by run {run.id}: {run.reason}" if run.restate else None
    filters = run.filters
    return await compute_period(session, database.sources, settings, definition, period,
                                run_id=run.id, actor=run.requested_by,
                                assignment_ids=filters.get("assignment_ids"),
                                subject_ids=filters.get("subject_ids"), reason=reason,
                                restate=run.restate)


async def _heartbeat(database: Database, settings: Settings, tenant_id: str, run_id: int,
                     worker: str) -> None:
    """Beat while the run works, so no other process takes it for dead."""
    while True:
        await asyncio.sleep(settings.run_heartbeat_seconds)
        try:
            async with database.unit_of_work() as session:
                if not await RunRepository(session).beat(tenant_id, run_id, worker):
                    return
        except Exception:  # the next beat may get through; staleness is the backstop
            log.warning("heartbeat of run %s failed", run_id, exc_info=True)


async def _release(database: Database, tenant_id: str, run_id: int, worker: str) -> None:
    try:
        async with database.unit_of_work() as session:
            await RunRepository(session).release(tenant_id, run_id, worker)
    except Exception:  # it goes stale by itself then
        log.warning("could not release run %s", run_id, exc_info=True)


async def _fail(database: Database, run: CalculationRun, worker: str) -> None:
    error = {"error": "the run stopped on an internal error; see the service log"}
    try:
        async with database.unit_of_work() as session:
            owned = await RunRepository(session).record(
                run.tenant_id, run.id, worker, status="failed", finished_at=datetime.now(UTC),
                errors=[*run.errors, error][-20:])
        if owned:
            telemetry.run_finished("failed", run.trigger)
    except Exception:
        log.warning("could not mark run %s failed", run.id, exc_info=True)


async def stale_runs(database: Database, settings: Settings,
                     limit: int = 10) -> list[tuple[str, int]]:
    """Unfinished runs of any tenant whose process stopped beating: (tenant, run id)."""
    async with database.sessions() as session:
        return await RunRepository(session).stale(timedelta(seconds=settings.run_stale_seconds),
                                                  limit)


class BackgroundRuns:
    """Runs executing in this process's event loop, cancelled (and released) on shutdown."""

    def __init__(self, database: Callable[[], Database], settings: Settings,
                 followers: Sequence[Follower] = ()) -> None:
        self._database = database
        self._settings = settings
        self._followers = tuple(followers)
        self.worker = worker_name()
        self._tasks: dict[tuple[str, int], asyncio.Task[CalculationRun | None]] = {}

    async def submit(self, tenant_id: str, run_id: int) -> None:
        """Execute the run in the background unless this process already does."""
        key = (tenant_id, run_id)
        if key in self._tasks:
            return
        task = asyncio.create_task(execute(self._database(), self._settings, tenant_id, run_id,
                                           self.worker, followers=self._followers),
                                   name=f"run-{tenant_id}-{run_id}")
        self._tasks[key] = task
        task.add_done_callback(lambda _: self._tasks.pop(key, None))

    async def sweep(self) -> int:
        """Take up stale runs (their process died); how many were submitted."""
        stale = await stale_runs(self._database(), self._settings)
        for tenant_id, run_id in stale:
            await self.submit(tenant_id, run_id)
        return len(stale)

    async def idle(self) -> None:
        """Wait until every run of this process, followers included, has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop every run of this process; each is released for another to resume."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def scheduled_tenants(session: AsyncSession, kind: PeriodKind) -> list[str]:
    """Tenants with an active KPI of this period kind."""
    return await RunRepository(session).tenants_with(kind.value)


async def claim_occurrence(session: AsyncSession, tenant_id: str, kind: PeriodKind,
                           period: Period) -> int | None:
    """The run of a scheduled occurrence, if this process is first to claim it; else None.

    Its pairs are the tenant's active KPIs of that period kind, for that one period.
    """
    definitions = [d for d in await DefinitionRepository(session).active(tenant_id)
                   if d.aggregation_period == kind.value]
    pairs = order_pairs(definitions, period.start, period.end)
    if not pairs:
        return None
    run = new_run(tenant_id, "schedule", pairs, first=period.start, last=period.end,
                  filters={}, requested_by=None)
    values = {c.key: getattr(run, c.key) for c in CalculationRun.__table__.columns
              if getattr(run, c.key) is not None}
    return await RunRepository(session).add_occurrence(values)
