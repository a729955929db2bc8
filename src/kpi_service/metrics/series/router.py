"""Series views over HTTP: `/metrics/timeseries` and `/metrics/forecast`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep, SettingsDep
from kpi_service.metrics.series import service
from kpi_service.metrics.series.schemas import (
    ForecastQuery,
    ForecastRead,
    TimeseriesQuery,
    TimeseriesRead,
)

router = APIRouter()


@router.get("/timeseries", operation_id="getTimeseries", response_model=TimeseriesRead)
async def get_timeseries(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[TimeseriesQuery, Query()],
) -> TimeseriesRead:
    """A KPI for a user, team or the organisation over a date range, at the KPI's own grain
    or rolled up to a coarser one by its rollup, with targets and achievement per point."""
    return await service.timeseries(session, settings, principal, query)


@router.get("/forecast", operation_id="getForecast", response_model=ForecastRead)
async def get_forecast(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: Annotated[ForecastQuery, Query()],
) -> ForecastRead:
    """Where a subject's KPI is heading: pace of the current period, a linear trend of the
    next periods with 80% and 95% prediction intervals, and the chance of meeting the target."""
    return await service.forecast(session, settings, principal, query)
