"""The CSV export over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.metrics.export import service

router = APIRouter()

_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The CSV, header row first.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/export.csv",
    operation_id="exportMetrics",
    response_class=StreamingResponse,
    response_model=None,
    responses=_CSV,
)
async def export_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    database: DatabaseDep,
    view: Annotated[
        str,
        Query(
            max_length=32,
            description=(
                f"One of {', '.join(service.EXPORTABLE)}. The other parameters are that view's "
                "(measurements: those of listMeasurements but paging)."
            ),
        ),
    ] = service.MEASUREMENTS,
) -> StreamingResponse:
    """A metrics view's main table as CSV (one row per KPI, member x KPI cell, ranked user,
    point, stage...), or raw measurements streamed in id order."""
    export = await service.export(
        session, settings, principal, database, view, request.query_params
    )
    return StreamingResponse(
        export.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
