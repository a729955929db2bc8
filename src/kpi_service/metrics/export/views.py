"""The metrics views: one entry each (its query model, service function, main table), which
the export runs and each view's own route serves."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_origin

from fastapi import APIRouter, Query
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from kpi_service.core.auth import Principal, PrincipalDep
from kpi_service.core.database import Database
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.schemas import Input
from kpi_service.core.settings import Settings
from kpi_service.metrics.activity import service as activity
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
from kpi_service.metrics.agent import activities as agent_activities
from kpi_service.metrics.agent import service as agent
from kpi_service.metrics.agent.schemas import (
    ActivitiesQuery,
    ActivitiesRead,
    AgentQuery,
    AgentViewRead,
)
from kpi_service.metrics.export.tables import Table, check, unwrap_optional
from kpi_service.metrics.series import service as series
from kpi_service.metrics.series.schemas import (
    ForecastQuery,
    ForecastRead,
    TimeseriesQuery,
    TimeseriesRead,
)
from kpi_service.metrics.standing import service as standing
from kpi_service.metrics.standing.schemas import (
    LeaderboardQuery,
    LeaderboardRead,
    ScorecardQuery,
    ScorecardRead,
    TeamQuery,
    TeamViewRead,
)

# `async def view(session, settings, principal, query, **extra) -> its Read model`.
ViewFunction = Callable[..., Awaitable[BaseModel]]


@dataclass(frozen=True)
class ExportView:
    """A metrics view as its route and the export run it."""

    query: type[Input]
    compute: ViewFunction
    table: Table
    # The view reads the tenant's sources (a query KPI's own data), passed as `sources`.
    source: bool = False

    async def run(
        self,
        session: AsyncSession,
        settings: Settings,
        principal: Principal,
        database: Database,
        query: Any,
    ) -> BaseModel:
        """The view's answer to `query` (an instance of its query model)."""
        extra = {"sources": database.sources} if self.source else {}
        return await self.compute(session, settings, principal, query, **extra)


VIEWS: dict[str, ExportView] = {
    "scorecard": ExportView(ScorecardQuery, standing.scorecard, Table(ScorecardRead, ("kpis",))),
    "team": ExportView(TeamQuery, standing.team_view, Table(TeamViewRead, ("members", "cells"))),
    "leaderboard": ExportView(
        LeaderboardQuery, standing.leaderboard, Table(LeaderboardRead, ("items",))
    ),
    "timeseries": ExportView(
        TimeseriesQuery, series.timeseries, Table(TimeseriesRead, ("points",))
    ),
    "forecast": ExportView(ForecastQuery, series.forecast, Table(ForecastRead, ("projections",))),
    "summary": ExportView(SummaryQuery, activity.summary, Table(SummaryRead, ("kpis",))),
    "funnel": ExportView(FunnelQuery, activity.funnel, Table(FunnelRead, ("stages",))),
    "breakdown": ExportView(
        BreakdownQuery, activity.breakdown, Table(BreakdownRead, ("rows",)), source=True
    ),
    "cohorts": ExportView(CohortsQuery, activity.cohorts, Table(CohortsRead, ("cohorts",))),
    "agent": ExportView(AgentQuery, agent.agent_view, Table(AgentViewRead, ()), source=True),
    "activities": ExportView(
        ActivitiesQuery, agent_activities.activities, Table(ActivitiesRead, ("activities",))
    ),
}
check([v.table for v in VIEWS.values()])


def add_route(
    router: APIRouter, path: str, operation_id: str, view: ExportView, description: str
) -> None:
    """Serve a view at GET `path`: its query model's fields are the query parameters, its
    response model the answer."""

    async def endpoint(
        session: SessionDep,
        settings: SettingsDep,
        principal: PrincipalDep,
        database: DatabaseDep,
        query: Input,
    ) -> BaseModel:
        return await view.run(session, settings, principal, database, query)

    # Set after the fact: an annotation written in the signature cannot name `view.query`.
    endpoint.__annotations__["query"] = Annotated[view.query, Query()]
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        operation_id=operation_id,
        response_model=view.table.response,
        description=description,
        # The route's name makes the published summary: getTeamView -> "Get Team View".
        name=re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower(),
    )


def parse(model: type[Input], params: QueryParams, skip: str) -> Any:
    """The query parameters (but `skip`) as the view's query model, as FastAPI would read
    them: repeated keys make a list where the model takes one, else the last one counts."""
    lists = {
        field.alias or name
        for name, field in model.model_fields.items()
        if get_origin(unwrap_optional(field.annotation)) is list
    }
    data: dict[str, Any] = {}
    for key in dict.fromkeys(params.keys()):
        if key != skip:
            values = params.getlist(key)
            data[key] = values if key in lists else values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [field_error(["query", *e["loc"]], e["msg"], e["type"]) for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
        raise InvalidInput(summary, errors=errors) from None
