"""The activity and executive views over HTTP: summary, funnel, breakdown, cohorts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.metrics.activity import service
from kpi_service.metrics.activity.schemas import (
    BreakdownQuery,
    BreakdownRead,
    CohortsQuery,
    CohortsRead,
    FunnelQuery,
    FunnelRead,
    SummaryQuery,
    SummaryRead,
)

router = APIRouter()


@router.get("/summary", operation_id="getSummary", response_model=SummaryRead)
async def get_summary(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[SummaryQuery, Query()],
) -> SummaryRead:
    """The organisation's KPIs (latest ended period, the period in progress with its pace,
    or a range combined by rollup), the users' achievement distribution for ended periods,
    and open alerts; for managers and admins."""
    return await service.summary(session, settings, principal, query)


@router.get("/funnel", operation_id="getFunnel", response_model=FunnelRead)
async def get_funnel(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[FunnelQuery, Query()],
) -> FunnelRead:
    """Ordered stages (KPIs or event types) of a user, team or the organisation over a date
    range, with conversions from the previous and the first stage."""
    return await service.funnel(session, settings, principal, query)


@router.get("/breakdown", operation_id="getBreakdown", response_model=BreakdownRead)
async def get_breakdown(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    database: DatabaseDep,
    query: Annotated[BreakdownQuery, Query()],
) -> BreakdownRead:
    """A KPI split by an event property or a column of its query, with conversions."""
    return await service.breakdown(session, settings, principal, query, sources=database.sources)


@router.get("/cohorts", operation_id="getCohorts", response_model=CohortsRead)
async def get_cohorts(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[CohortsQuery, Query()],
) -> CohortsRead:
    """Monthly signup cohorts with retention in weeks 1, 4 and 12; for managers and admins."""
    return await service.cohorts(session, settings, principal, query)
