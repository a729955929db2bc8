"""/goals: a user's own targets per period on KPIs, with their progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep, SettingsDep
from kpi_service.core.schemas import Cursor, Id, Page, PageSize, Paging
from kpi_service.goals import service
from kpi_service.goals.repository import GoalFilters
from kpi_service.goals.schemas import (
    GoalBulk,
    GoalCreate,
    GoalList,
    GoalQuery,
    GoalRead,
    GoalUpdate,
)

router = APIRouter(prefix="/goals", tags=["goals"])

GoalId = Annotated[Id, Path(description="The goal's id.")]


@router.post("", operation_id="createGoal", response_model=GoalRead, status_code=201)
async def create_goal(
    body: GoalCreate, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> GoalRead:
    """Set a goal on a KPI for a month, quarter, year or custom dates (your own, or as an
    admin or manager for a user you manage)."""
    return await service.create(session, settings, principal, body)


@router.post("/bulk", operation_id="createGoals", response_model=GoalList, status_code=201)
async def create_goals(
    body: GoalBulk, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> GoalList:
    """Seed 003's shape: create a goal per KPI key for one period, all or none; 409 when one
    of them exists already."""
    return GoalList(items=await service.create_many(session, settings, principal, body))


@router.put("/bulk", operation_id="setGoals", response_model=GoalList)
async def set_goals(
    body: GoalBulk, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> GoalList:
    """Seed 003's shape: create the goals of the period, or set the targets of those that
    exist; goals of the period not named are left as they are."""
    return GoalList(items=await service.set_many(session, settings, principal, body))


@router.get("", operation_id="listGoals", response_model=Page[GoalRead])
async def list_goals(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    query: Annotated[GoalQuery, Query()],
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[GoalRead]:
    """The goals the caller may see, in id order, each with its progress."""
    filters = GoalFilters(**query.model_dump())
    page = await service.list_goals(session, settings, principal, filters, Paging(cursor, limit))
    return Page[GoalRead].of(page)


@router.get("/{goal_id}", operation_id="getGoal", response_model=GoalRead)
async def get_goal(
    goal_id: GoalId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> GoalRead:
    """One goal with its progress."""
    return await service.get(session, settings, principal, goal_id)


@router.patch("/{goal_id}", operation_id="updateGoal", response_model=GoalRead)
async def update_goal(
    goal_id: GoalId,
    body: GoalUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> GoalRead:
    """Change a goal's target or range; a changed goal's achievement is judged afresh."""
    return await service.update(session, settings, principal, goal_id, body)


@router.delete("/{goal_id}", operation_id="deleteGoal", response_model=GoalRead)
async def delete_goal(
    goal_id: GoalId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> GoalRead:
    """Remove a goal; the answer is the goal as it was."""
    return await service.delete(session, settings, principal, goal_id)
