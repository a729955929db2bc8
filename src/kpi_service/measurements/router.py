"""Measurements, manual values, recalculation and runs over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, status

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep, SettingsDep
from kpi_service.core.schemas import Cursor, Day, Id, Page, PageSize, Paging
from kpi_service.measurements import closing, history, service
from kpi_service.measurements.listing_repository import MeasurementFilters
from kpi_service.measurements.schemas import (
    ClosePeriodsRequest,
    ClosePeriodsResult,
    ManualValue,
    MeasurementQuery,
    MeasurementRead,
    RecalculateRequest,
    ReopenPeriodsRequest,
    ReopenPeriodsResult,
    RevisionRead,
    RunRead,
    ValueHistory,
    ValueHistoryQuery,
    ValueUpdate,
)
from kpi_service.runs.background import BackgroundRuns

router = APIRouter(tags=["measurements"])


async def _runs(request: Request) -> BackgroundRuns:
    runs: BackgroundRuns = request.app.state.runs
    return runs


RunsDep = Annotated[BackgroundRuns, Depends(_runs)]


@router.get("/measurements", operation_id="listMeasurements", response_model=Page[MeasurementRead])
async def list_measurements(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    query: Annotated[MeasurementQuery, Query()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[MeasurementRead]:
    """Measurements the caller may see."""
    filters = MeasurementFilters(**query.model_dump())
    page = await service.list_measurements(
        session, principal, filters, Paging(cursor, limit), today=settings.today()
    )
    return Page[MeasurementRead].of(page)


@router.get(
    "/measurements/{measurement_id}", operation_id="getMeasurement", response_model=MeasurementRead
)
async def get_measurement(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    measurement_id: Annotated[Id, Path()],
) -> MeasurementRead:
    """One measurement."""
    return await service.get_measurement(session, principal, measurement_id, today=settings.today())


@router.get(
    "/measurements/{measurement_id}/revisions",
    operation_id="listMeasurementRevisions",
    response_model=Page[RevisionRead],
)
async def list_revisions(
    session: SessionDep,
    principal: PrincipalDep,
    measurement_id: Annotated[Id, Path()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[RevisionRead]:
    """Earlier states of a measurement, newest first: who changed it, when and why."""
    page = await service.list_revisions(session, principal, measurement_id, Paging(cursor, limit))
    return Page[RevisionRead].of(page)


@router.put(
    "/assignments/{assignment_id}/measurements/{period_start}",
    operation_id="recordMeasurement",
    response_model=MeasurementRead,
)
async def record_measurement(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    assignment_id: Annotated[Id, Path()],
    period_start: Annotated[Day, Path()],
    body: ManualValue,
) -> MeasurementRead:
    """Record the value of a manual KPI for the period starting on `period_start`.

    A closed period's value is restated only with a `reason` (409 without one); the earlier
    value is kept as a revision with that reason, and the change is audited.
    """
    return await service.record_manual(
        session, settings, principal, assignment_id, period_start, body
    )


@router.get(
    "/assignments/{assignment_id}/history",
    operation_id="getValueHistory",
    response_model=ValueHistory,
)
async def get_value_history(
    session: SessionDep,
    principal: PrincipalDep,
    assignment_id: Annotated[Id, Path()],
    query: Annotated[ValueHistoryQuery, Query()],
) -> ValueHistory:
    """Seed 004's KPI history: a manual KPI's latest recorded value, its trend and change
    against the value recorded before it, and every value recorded in the last `days` days
    (corrections included, newest first). A computed KPI answers 409: see the timeseries."""
    return await history.value_history(session, principal, assignment_id, query)


@router.post(
    "/assignments/{assignment_id}/update-value",
    operation_id="updateCurrentValue",
    response_model=ValueHistory,
)
async def update_value(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    assignment_id: Annotated[Id, Path()],
    body: ValueUpdate,
) -> ValueHistory:
    """Seed 004's quick update: record a manual KPI's value for its period holding today (as
    `recordMeasurement` does) and answer its history of the last 30 days."""
    return await history.update_value(session, settings, principal, assignment_id, body)


@router.post(
    "/measurements/recalculate",
    operation_id="recalculateMeasurements",
    response_model=RunRead,
    status_code=status.HTTP_202_ACCEPTED,
)
async def recalculate(
    session: SessionDep,
    principal: PrincipalDep,
    runs: RunsDep,
    background: BackgroundTasks,
    body: RecalculateRequest,
) -> RunRead:
    """Queue a recalculation of the matching KPIs for every period overlapping the range.

    Answers `202` with the queued run; `GET /runs/{id}` shows its progress until it ends.
    """
    run = await service.recalculate(session, principal, body)
    # Started once the response is on its way, hence after the run row is committed.
    background.add_task(runs.submit, principal.tenant_id, run.id)
    return run


@router.post("/periods/close", operation_id="closePeriods", response_model=ClosePeriodsResult)
async def close_periods(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, body: ClosePeriodsRequest
) -> ClosePeriodsResult:
    """Freeze the measurements of ended periods; only a restatement changes them after."""
    return await closing.close_periods(session, settings, principal, body)


@router.post("/periods/reopen", operation_id="reopenPeriods", response_model=ReopenPeriodsResult)
async def reopen_periods(
    session: SessionDep, principal: PrincipalDep, body: ReopenPeriodsRequest
) -> ReopenPeriodsResult:
    """Reopen closed periods (admins, with a `reason`): they are recalculated and recorded
    as any open period again. 404 when none of the matching periods is closed."""
    return await closing.reopen_periods(session, principal, body)


@router.get("/runs", operation_id="listRuns", response_model=Page[RunRead])
async def list_runs(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[RunRead]:
    """Calculation runs, newest first."""
    page = await service.list_runs(session, principal, Paging(cursor, limit))
    return Page[RunRead].of(page)


@router.get("/runs/{run_id}", operation_id="getRun", response_model=RunRead)
async def get_run(
    session: SessionDep, principal: PrincipalDep, run_id: Annotated[Id, Path()]
) -> RunRead:
    """One calculation run: status, counts, progress and first errors."""
    return await service.get_run(session, principal, run_id)
