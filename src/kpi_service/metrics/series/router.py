"""Series views over HTTP: `/metrics/timeseries` and `/metrics/forecast`."""

from __future__ import annotations

from fastapi import APIRouter

from kpi_service.metrics.export.views import VIEWS, add_route

router = APIRouter()

add_route(
    router,
    "/timeseries",
    "getTimeseries",
    VIEWS["timeseries"],
    "A KPI for a user, team or the organisation over a date range, at the KPI's own grain\n"
    "or rolled up to a coarser one by its rollup, with targets and achievement per point.",
)
add_route(
    router,
    "/forecast",
    "getForecast",
    VIEWS["forecast"],
    "Where a subject's KPI is heading: pace of the current period, a linear trend of the\n"
    "next periods with 80% and 95% prediction intervals, and the chance of meeting the target.",
)
