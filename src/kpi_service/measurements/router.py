"""Measurements, manual values, recalculation and runs over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.schemas import Id, Key, Limit, Page, ShortText, SubjectRef
from kpi_service.measurements import service
from kpi_service.measurements.schemas import (
    ManualValue,
    MeasurementRead,
    RecalculateRequest,
    RevisionRead,
    RunRead,
)

router = APIRouter(tags=["measurements"])


@router.get("/measurements", operation_id="listMeasurements",
            response_model=Page[MeasurementRead])
async def list_measurements(
    session: SessionDep, principal: PrincipalDep,
    assignment_id: Annotated[Id | None, Query()] = None,
    user_id: Annotated[SubjectRef | None, Query()] = None,
    definition_id: Annotated[Id | None, Query()] = None,
    definition_key: Annotated[Key | None, Query()] = None,
    period_from: Annotated[date | None, Query(description="periods ending on or after")] = None,
    period_to: Annotated[date | None, Query(description="periods starting on or before")] = None,
    cursor: Annotated[ShortText | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
) -> object:
    """Measurements the caller may see."""
    page = await service.list_measurements(
        session, principal, assignment_id=assignment_id, user_id=user_id,
        definition_id=definition_id, definition_key=definition_key, period_from=period_from,
        period_to=period_to, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/measurements/{measurement_id}", operation_id="getMeasurement",
            response_model=MeasurementRead)
async def get_measurement(session: SessionDep, principal: PrincipalDep,
                          measurement_id: Annotated[Id, Path()]) -> object:
    """One measurement."""
    return await service.get_measurement(session, principal, measurement_id)


@router.get("/measurements/{measurement_id}/revisions", operation_id="listMeasurementRevisions",
            response_model=list[RevisionRead])
async def list_revisions(session: SessionDep, principal: PrincipalDep,
                         measurement_id: Annotated[Id, Path()]) -> object:
    """Earlier states of a measurement, newest first: who changed it, when and why."""
    return await service.list_revisions(session, principal, measurement_id)


@router.put("/assignments/{assignment_id}/measurements/{period_start}",
            operation_id="recordMeasurement", response_model=MeasurementRead)
async def record_measurement(session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                             assignment_id: Annotated[Id, Path()],
                             period_start: Annotated[date, Path()],
                             body: ManualValue) -> object:
    """Record the value of a manual KPI for the period starting on `period_start`."""
    return await service.record_manual(session, settings, principal, assignment_id,
                                       period_start, body)


@router.post("/measurements/recalculate", operation_id="recalculateMeasurements",
             response_model=RunRead, status_code=status.HTTP_202_ACCEPTED)
async def recalculate(session: SessionDep, db: DatabaseDep, settings: SettingsDep,
                      principal: PrincipalDep, body: RecalculateRequest) -> object:
    """Recalculate the matching KPIs for every period overlapping the range; answers the run."""
    return await service.recalculate(session, db.source_engine, settings, principal, body)


@router.get("/runs", operation_id="listRuns", response_model=Page[RunRead])
async def list_runs(session: SessionDep, principal: PrincipalDep,
                    cursor: Annotated[ShortText | None, Query()] = None,
                    limit: Annotated[Limit, Query()] = 50) -> object:
    """Calculation runs, newest first."""
    page = await service.list_runs(session, principal, cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/runs/{run_id}", operation_id="getRun", response_model=RunRead)
async def get_run(session: SessionDep, principal: PrincipalDep,
                  run_id: Annotated[Id, Path()]) -> object:
    """One calculation run: status, counts, progress and first errors."""
    return await service.get_run(session, principal, run_id)
