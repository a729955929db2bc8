"""Scorecards, team views and leaderboards over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep, SettingsDep
from kpi_service.metrics.standing import service
from kpi_service.metrics.standing.schemas import (
    LeaderboardQuery,
    LeaderboardRead,
    ScorecardQuery,
    ScorecardRead,
    TeamQuery,
    TeamViewRead,
)

router = APIRouter()


@router.get("/scorecard", operation_id="getScorecard", response_model=ScorecardRead)
async def get_scorecard(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[ScorecardQuery, Query()],
) -> ScorecardRead:
    """A user's KPIs for one period: values, targets, achievement, status, change and trend,
    the weighted overall score, and their rank in their team (members see only their own)."""
    return await service.scorecard(session, settings, principal, query)


@router.get("/team", operation_id="getTeamView", response_model=TeamViewRead)
async def get_team_view(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[TeamQuery, Query()],
) -> TeamViewRead:
    """A team's members x KPIs for one period, with overall scores, ranks and team totals
    (the team's managers and admins)."""
    return await service.team_view(session, settings, principal, query)


@router.get("/leaderboard", operation_id="getLeaderboard", response_model=LeaderboardRead)
async def get_leaderboard(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[LeaderboardQuery, Query()],
) -> LeaderboardRead:
    """Users ranked by their score of one KPI for one period, with percentiles and rank
    changes; a member sees only their own row and the population's size."""
    return await service.leaderboard(session, settings, principal, query)
