"""The default start of an install: the first day of the earliest month with data."""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable, describe_failure, sandbox
from kpi_service.events.repository import EventRepository
from kpi_service.packs.model import Pack, SourceKind, SourceRead

log = logging.getLogger(__name__)

# Where an install with no data to cover starts: far enough back for the history a tenant
# feeds after installing (a pack is usually installed first, then fed).
NO_DATA_START = date(2000, 1, 1)


def _local_day(value: object, settings: Settings) -> date | None:
    if isinstance(value, datetime):
        # A column without a time zone holds local times already (the sandbox sets the zone).
        return value.astimezone(settings.tz).date() if value.tzinfo else value.date()
    return value if isinstance(value, date) else None


async def _first_row(
    engine: AsyncEngine, settings: Settings, tenant_id: str, source: SourceRead
) -> date | None:
    # Names from the pack's catalogue (ours), quoted; no tenant text reaches this statement.
    sql = f'SELECT min("{source.dated_by}") FROM "{source.name}"'  # noqa: S608
    try:
        async with sandbox(engine, settings, tenant_id, settings.timezone) as conn:
            first = await conn.scalar(text(sql))
    except SourceUnavailable:
        return None
    except DBAPIError as exc:
        # Most often the table is not there yet: there is no data to cover.
        describe_failure(exc, f"tenant {tenant_id}, earliest row of {source.name}")
        return None
    return _local_day(first, settings)


async def _source(sources: Sources, tenant_id: str) -> AsyncEngine | None:
    try:
        return await sources.engine(tenant_id, None)
    except SourceUnavailable:
        return None


async def default_start(
    session: AsyncSession, sources: Sources, settings: Settings, tenant_id: str, pack: Pack
) -> date:
    """The first day of the earliest month in which the pack's source tables have rows or
    its events occurred; without any, `NO_DATA_START`, so that data fed after the install
    is covered whatever its dates."""
    found: list[date] = []
    tables = [r for r in pack.reads if r.kind is SourceKind.TABLE and r.dated_by]
    engine = await _source(sources, tenant_id) if tables else None
    if engine is not None:
        for source in tables:
            if (day := await _first_row(engine, settings, tenant_id, source)) is not None:
                found.append(day)
    types = [r.name for r in pack.reads if r.kind is SourceKind.EVENTS]
    if types:
        first = await EventRepository(session).first_occurrence(tenant_id, types)
        if (day := _local_day(first, settings)) is not None:
            found.append(day)
    return min(found, default=NO_DATA_START).replace(day=1)
