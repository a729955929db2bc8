"""/assignments: give KPIs to users, teams or the organisation, with targets over time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from kpi_service.assignments import service
from kpi_service.assignments.repository import AssignmentFilters
from kpi_service.assignments.schemas import (
    AssignmentBulkCreate,
    AssignmentCreate,
    AssignmentEnd,
    AssignmentList,
    AssignmentQuery,
    AssignmentRead,
    AssignmentUpdate,
)
from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep, SettingsDep
from kpi_service.core.schemas import Cursor, Id, Page, PageSize, Paging

router = APIRouter(prefix="/assignments", tags=["assignments"])

AssignmentId = Annotated[Id, Path(description="The assignment's id.")]


@router.post("", operation_id="createAssignment", response_model=AssignmentRead, status_code=201)
async def create_assignment(
    body: AssignmentCreate, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> AssignmentRead:
    """Assign a KPI definition to a subject with a target (admins, managers for their teams)."""
    return await service.create(session, principal, body, settings=settings)


@router.post(
    "/bulk", operation_id="createAssignments", response_model=AssignmentList, status_code=201
)
async def create_assignments(
    body: AssignmentBulkCreate, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> AssignmentList:
    """Create up to 1000 assignments at once: all of them, or none and the reasons."""
    items = await service.create_many(session, principal, body.items, settings=settings)
    return AssignmentList(items=items)


@router.get("", operation_id="listAssignments", response_model=Page[AssignmentRead])
async def list_assignments(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    query: Annotated[AssignmentQuery, Query()],
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[AssignmentRead]:
    """The assignments the caller may see, in id order, one page at a time."""
    filters = AssignmentFilters(**query.model_dump())
    page = await service.list_assignments(
        session, principal, filters, Paging(cursor, limit), settings=settings
    )
    return Page[AssignmentRead].of(page)


@router.get("/{assignment_id}", operation_id="getAssignment", response_model=AssignmentRead)
async def get_assignment(
    assignment_id: AssignmentId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> AssignmentRead:
    """One assignment with every target it has had."""
    return await service.get(session, principal, assignment_id, settings=settings)


@router.patch("/{assignment_id}", operation_id="updateAssignment", response_model=AssignmentRead)
async def update_assignment(
    assignment_id: AssignmentId,
    body: AssignmentUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> AssignmentRead:
    """Change an assignment; a new target applies from its effective date on."""
    return await service.update(session, principal, assignment_id, body, settings=settings)


@router.post("/{assignment_id}/end", operation_id="endAssignment", response_model=AssignmentRead)
async def end_assignment(
    assignment_id: AssignmentId,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: Annotated[AssignmentEnd | None, Body()] = None,
) -> AssignmentRead:
    """End an assignment on a date (default today); its measurements stay."""
    end_date = body.end_date if body is not None else None
    return await service.end(session, principal, assignment_id, end_date, settings=settings)
