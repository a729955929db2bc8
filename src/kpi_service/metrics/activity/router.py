"""The activity and executive views over HTTP: summary, funnel, breakdown, cohorts."""

from __future__ import annotations

from fastapi import APIRouter

from kpi_service.metrics.export.views import VIEWS, add_route

router = APIRouter()

add_route(
    router,
    "/summary",
    "getSummary",
    VIEWS["summary"],
    "The organisation's KPIs (latest ended period, the period in progress with its pace,\n"
    "or a range combined by rollup), the users' achievement distribution for ended periods,\n"
    "and open alerts; for managers and admins.",
)
add_route(
    router,
    "/funnel",
    "getFunnel",
    VIEWS["funnel"],
    "Ordered stages (KPIs or event types) of a user, team or the organisation over a date\n"
    "range, with conversions from the previous and the first stage.",
)
add_route(
    router,
    "/breakdown",
    "getBreakdown",
    VIEWS["breakdown"],
    "A KPI split by an event property or a column of its query, with conversions.",
)
add_route(
    router,
    "/cohorts",
    "getCohorts",
    VIEWS["cohorts"],
    "Monthly signup cohorts with retention in weeks 1, 4 and 12; for managers and admins.",
)
