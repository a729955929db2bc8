"""The seed BFF's `/kpis/...` routes, unchanged in shape (errors are `{"error": ...}`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from fastapi.responses import JSONResponse

from kpi_service.core.auth import LegacyPrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.schemas import Id, SubjectRef
from kpi_service.legacy import service
from kpi_service.legacy.schemas import (
    LegacyAssign,
    LegacyAssigned,
    LegacyCalculate,
    LegacyCalculated,
    LegacyDefinitions,
    LegacyUserKpis,
)

router = APIRouter(prefix="/kpis", tags=["legacy"])


# On every route response_model=Any keeps the answers published as free JSON; the return
# types are for the type checker (see legacy.schemas).
@router.get("/definitions", operation_id="legacyListDefinitions", response_model=Any)
async def list_definitions(session: SessionDep, principal: LegacyPrincipalDep) -> LegacyDefinitions:
    """All active KPI definitions: `{"definitions": [...]}`."""
    return {"definitions": await service.definitions(session, principal)}


@router.get("/users/{user_id}", operation_id="legacyGetUserKpis", response_model=Any)
async def get_user_kpis(
    session: SessionDep,
    settings: SettingsDep,
    principal: LegacyPrincipalDep,
    user_id: Annotated[SubjectRef, Path()],
) -> LegacyUserKpis:
    """A user's KPIs with their latest measurement: `{"user_id", "kpis": [...]}`."""
    kpis = await service.user_kpis(session, settings, principal, user_id)
    return {"user_id": service.seed_user_id(user_id), "kpis": kpis}


@router.post(
    "/users/{user_id}/kpis/assign",
    operation_id="legacyAssignKpi",
    response_model=Any,
    status_code=status.HTTP_201_CREATED,
)
async def assign_kpi(
    session: SessionDep,
    settings: SettingsDep,
    principal: LegacyPrincipalDep,
    user_id: Annotated[SubjectRef, Path()],
    body: LegacyAssign,
) -> LegacyAssigned:
    """Assign a KPI to a user: `201 {"success": true, "user_kpi_id"}`."""
    assignment_id = await service.assign(session, settings, principal, user_id, body)
    return {"success": True, "user_kpi_id": assignment_id}


@router.post("/calculate/{user_kpi_id}", operation_id="legacyCalculateKpi", response_model=Any)
async def calculate_kpi(
    session: SessionDep,
    db: DatabaseDep,
    settings: SettingsDep,
    principal: LegacyPrincipalDep,
    user_kpi_id: Annotated[Id, Path()],
    body: LegacyCalculate,
) -> LegacyCalculated | JSONResponse:
    """Calculate one assignment for exactly the inclusive range given."""
    result = await service.calculate(session, db.sources, settings, principal, user_kpi_id, body)
    if result.error is not None:
        # Answered, not raised, so the failed run stays recorded.
        return JSONResponse({"error": result.error}, status_code=422)
    return {
        "success": True,
        "measurement_id": result.measurement_id,
        "measurement": result.measurement,
    }
