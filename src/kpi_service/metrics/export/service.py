"""CSV exports: a metrics view's main table, or raw measurements streamed from a cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from kpi_service.core.access import visible_assignments
from kpi_service.core.auth import Principal
from kpi_service.core.database import Database
from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.measurements.listing_repository import MeasurementFilters
from kpi_service.metrics.export.csv_text import lines
from kpi_service.metrics.export.repository import HEADER, measurement_rows
from kpi_service.metrics.export.schemas import MeasurementExportQuery
from kpi_service.metrics.export.views import VIEWS, parse

MEASUREMENTS = "measurements"
# Rows fetched from the cursor, and written, per chunk of the response.
CHUNK = 2000
EXPORTABLE = sorted([MEASUREMENTS, *VIEWS])


@dataclass
class Export:
    """A CSV ready to be sent: its file name and its text, chunk by chunk."""

    filename: str
    chunks: AsyncIterator[str]


async def _rows_in_chunks(header: list[str], rows: list[list[Any]]) -> AsyncIterator[str]:
    yield lines([header])
    for start in range(0, len(rows), CHUNK):
        yield lines(rows[start : start + CHUNK])


async def _measurements(
    database: Database, principal: Principal, query: MeasurementExportQuery
) -> AsyncIterator[str]:
    # The request's session is committed and closed before a streamed body runs: this
    # connection is the export's own, held only while the rows are read.
    # The export's filters are the list's, but for the range's two spellings.
    same = query.model_dump(include={"assignment_id", "user_id", "definition_id", "definition_key"})
    filters = MeasurementFilters(**same, period_from=query.first, period_to=query.last)
    stmt = measurement_rows(principal.tenant_id, visible_assignments(principal), filters)
    yield lines([HEADER])
    async with database.engine.connect() as connection:
        result = await connection.stream(stmt.execution_options(yield_per=CHUNK))
        async for chunk in result.partitions(CHUNK):
            yield lines(chunk)


async def export(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    database: Database,
    view: str,
    params: QueryParams,
) -> Export:
    """Check the view and its parameters, compute a metrics view, and give the CSV to send;
    measurements are read as the body is sent, never all at once."""
    today = settings.today().isoformat()
    filename = f"kpi-{view}-{today}.csv"
    if view == MEASUREMENTS:
        query = parse(MeasurementExportQuery, params, skip="view")
        return Export(filename, _measurements(database, principal, query))
    entry = VIEWS.get(view)
    if entry is None:
        raise InvalidInput(
            f"Unknown view {view!r}; one of: {', '.join(EXPORTABLE)}.",
            errors=[field_error(["query", "view"], "unknown view")],
        )
    view_query = parse(entry.query, params, skip="view")
    response = await entry.run(session, settings, principal, database, view_query)
    table = entry.table
    return Export(filename, _rows_in_chunks(table.header(), list(table.values(response))))
