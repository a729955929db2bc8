"""Executing a run: its plan's (definition, period) pairs, each in its own transaction.

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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core import telemetry
from kpi_service.core.database import Database
from kpi_service.core.errors import database_unreachable
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.periods import aligned_or_custom
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.measurements.calculation import Tally, compute_period
from kpi_service.measurements.closing_repository import ClosedPeriodRepository
from kpi_service.measurements.following import follow_run
from kpi_service.models import CalculationRun, Definition, RunStatus
from kpi_service.runs.plan import RunPlan
from kpi_service.runs.repository import RunRepository

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Work that prepares what a run computes (the assignments a pack's sources call for): each
# gets the database, the settings and the run's tenant, before its first pair.
Preparer = Callable[[Database, Settings, str], Awaitable[object]]
# Work that reads a finished run's measurements (goals reached, alerts): each gets the
# database, the settings and the finished run, after its last pair is committed.
Follower = Callable[[Database, Settings, CalculationRun], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunHooks:
    """What comes before a run's first pair and after its last (`runs.hooks.HOOKS`); a hook
    that fails is logged and the run goes on, as the next run does the hook's work again."""

    before: Sequence[Preparer] = ()
    after: Sequence[Follower] = ()


def worker_name() -> str:
    """This process, as run rows name their owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Following:
    """What a step's changes are followed by: the tenant's formulas as the run began, but
    not those a later step of the same dates computes anyway."""

    formulas: Sequence[Definition]
    computed_later: frozenset[int]


class LostRun(Exception):
    """Another process took the run over (this one was presumed dead)."""


async def execute(
    database: Database,
    settings: Settings,
    tenant_id: str,
    run_id: int,
    worker: str,
    hooks: RunHooks,
    on_progress: Progress | None = None,
) -> CalculationRun | None:
    """Claim the run, prepare it and compute its remaining pairs, then hand the finished run
    to each follower; None if it is not ours to run."""
    stale_after = timedelta(seconds=settings.run_stale_seconds)
    async with database.unit_of_work() as session:
        run = await RunRepository(session).claim(tenant_id, run_id, worker, stale_after)
    if run is None:
        return None
    if run.resumed:
        log.info(
            "resuming run %s of %s at pair %s/%s",
            run.id,
            tenant_id,
            run.progress_done,
            run.progress_total,
        )
    beat = asyncio.create_task(_heartbeat(database, settings, tenant_id, run_id, worker))
    try:
        await _call_hooks(
            hooks.before, database, settings, tenant_id, when=f"before a run of {tenant_id}"
        )
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
            log.warning(
                "run %s of %s stopped: the database is unreachable; it will be resumed",
                run_id,
                tenant_id,
            )
            await _release(database, tenant_id, run_id, worker)
            return None
        log.exception("run %s of %s failed", run_id, tenant_id)
        await _fail(database, run, worker)
        return None
    finally:
        beat.cancel()
    telemetry.run_finished(finished.status, finished.trigger)
    await _call_hooks(
        hooks.after, database, settings, finished, when=f"after run {run_id} of {tenant_id}"
    )
    return finished


async def _call_hooks(
    hooks: Sequence[Callable[..., Awaitable[object]]], *args: object, when: str
) -> None:
    # A hook's failure is its own: the run computes with what there is (before it), its
    # measurements are stored (after it), and the next run does the hook's work again.
    for hook in hooks:
        try:
            await hook(*args)
        except Exception:
            log.exception("%s failed %s", getattr(hook, "__qualname__", hook), when)


async def _work(
    database: Database,
    settings: Settings,
    run: CalculationRun,
    worker: str,
    on_progress: Progress | None,
) -> CalculationRun:
    plan = RunPlan.decode(run.plan)
    # Formulas a later step computes anyway need not follow their inputs' steps, unless the
    # run is narrowed to some subjects (its formula steps then compute only those).
    narrowed = any(run.filters.get(f) is not None for f in ("assignment_ids", "subject_ids"))
    later = None if narrowed else plan.computed_later()
    async with database.sessions() as session:
        definitions, formulas = await DefinitionRepository(session).for_run(
            run.tenant_id, plan.definition_ids()
        )
    total = Tally(
        computed=run.computed,
        unchanged=run.unchanged,
        failed=run.failed,
        skipped=run.skipped,
        errors=list(run.errors),
    )
    for index in range(run.progress_done, len(plan)):
        step = plan.steps[index]
        async with database.unit_of_work() as session:
            tally = await _pair(
                session,
                database,
                settings,
                run,
                definitions.get(step.definition_id),
                step.start,
                step.end,
                Following(formulas, frozenset() if later is None else later[index]),
            )
            total.add(tally)
            total.measurement_ids.clear()
            total.moved.clear()
            owned = await RunRepository(session).record(
                run.tenant_id,
                run.id,
                worker,
                progress_done=index + 1,
                computed=total.computed,
                unchanged=total.unchanged,
                failed=total.failed,
                skipped=total.skipped,
                errors=total.errors,
            )
            if not owned:
                raise LostRun
        if on_progress is not None:
            on_progress(index + 1, len(plan))
    async with database.unit_of_work() as session:
        repo = RunRepository(session)
        if not await repo.record(
            run.tenant_id, run.id, worker, status=total.status(), finished_at=datetime.now(UTC)
        ):
            raise LostRun
        finished = await repo.get(run.tenant_id, run.id)
    assert finished is not None
    return finished


async def _pair(
    session: AsyncSession,
    database: Database,
    settings: Settings,
    run: CalculationRun,
    definition: Definition | None,
    start: date,
    end: date,
    following: Following,
) -> Tally:
    tally = Tally()
    if definition is None:
        tally.errors.append(
            {"period_start": start.isoformat(), "error": "the KPI no longer exists"}
        )
        return tally
    period = aligned_or_custom(PeriodKind(definition.aggregation_period), start, end)
    closed = await ClosedPeriodRepository(session).closed(run.tenant_id, [(definition.id, start)])
    if closed and not run.restate:
        tally.error(
            definition, period, "the period is closed; recalculate it with restate to change it"
        )
        return tally
    tally = await compute_period(session, database.sources, settings, run, definition, period)
    followed = await follow_run(
        session,
        settings,
        run,
        definition,
        period,
        tally.moved,
        formulas=following.formulas,
        computed_later=following.computed_later,
    )
    tally.add(followed)
    return tally


async def _heartbeat(
    database: Database, settings: Settings, tenant_id: str, run_id: int, worker: str
) -> None:
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
                run.tenant_id,
                run.id,
                worker,
                status=RunStatus.FAILED,
                finished_at=datetime.now(UTC),
                errors=[*run.errors, error][-20:],
            )
        if owned:
            telemetry.run_finished(RunStatus.FAILED, run.trigger)
    except Exception:
        log.warning("could not mark run %s failed", run.id, exc_info=True)


async def stale_runs(
    database: Database, settings: Settings, limit: int = 10
) -> list[tuple[str, int]]:
    """Unfinished runs of any tenant whose process stopped beating: (tenant, run id)."""
    async with database.sessions() as session:
        return await RunRepository(session).stale(
            timedelta(seconds=settings.run_stale_seconds), limit
        )
