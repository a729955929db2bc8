"""The default start of an install: the first day of the earliest month with data."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable
from kpi_service.events.repository import EventRepository
from kpi_service.packs.model import Pack, SourceKind, SourceRead
from kpi_service.packs.source_tables import read_table

# Where an install with no data to cover starts: far enough back for the history a tenant
# feeds after installing (a pack is usually installed first, then fed).
NO_DATA_START = date(2000, 1, 1)


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(
        f"The earliest data could not be read from the pack's source tables: {reason}; "
        "give a start_date.",
        errors=[field_error(["body", "start_date"], reason)],
    )


def _local_day(value: object, settings: Settings) -> date | None:
    if isinstance(value, datetime):
        # A column without a time zone holds local times already (the sandbox sets the zone).
        return value.astimezone(settings.tz).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else None


async def _first_day(
    engine: AsyncEngine, settings: Settings, tenant_id: str, source: SourceRead
) -> date | None:
    # Names from the pack's catalogue (ours), quoted; no tenant text reaches this statement.
    sql = f'SELECT min("{source.dated_by}") FROM "{source.name}"'  # noqa: S608
    column = f"{source.name}.{source.dated_by}"
    rows = await read_table(engine, settings, tenant_id, sql, column, 1)
    earliest = rows[0][0] if rows else None
    day = _local_day(earliest, settings)
    if earliest is not None and day is None:
        raise SourceUnavailable(f"{column}: holds {type(earliest).__name__}, not dates")
    return day


async def default_start(
    session: AsyncSession, sources: Sources, settings: Settings, tenant_id: str, pack: Pack
) -> date:
    """The first day of the earliest month in which the pack's source tables have rows or
    its events occurred; without any, `NO_DATA_START`, so that data fed after the install
    is covered whatever its dates. A table that does not exist yet has no rows; a source
    that cannot be read is refused (422 on `start_date`)."""
    found: list[date] = []
    tables = [r for r in pack.reads if r.kind is SourceKind.TABLE and r.dated_by]
    if tables:
        try:
            engine = await sources.engine(tenant_id, None)
            for source in tables:
                if (day := await _first_day(engine, settings, tenant_id, source)) is not None:
                    found.append(day)
        except SourceUnavailable as exc:
            raise _refused(str(exc)) from None
    types = [r.name for r in pack.reads if r.kind is SourceKind.EVENTS]
    if types:
        first = await EventRepository(session).first_occurrence(tenant_id, types)
        if (day := _local_day(first, settings)) is not None:
            found.append(day)
    return min(found, default=NO_DATA_START).replace(day=1)
