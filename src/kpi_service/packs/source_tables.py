"""Reading a pack's source tables, as an install does for its default start and its users:
on the tenant's default source, in the sandbox every tenant query runs in (read-only,
timeout, row cap). A table that does not exist yet holds nothing; any other failure makes
the source unusable (`SourceUnavailable`), which an install refuses and a run logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.core.errors import sqlstate
from kpi_service.core.settings import Settings
from kpi_service.core.sources import SourceUnavailable, describe_failure, sandbox

UNDEFINED_TABLE = "42P01"


async def read_table(
    engine: AsyncEngine, settings: Settings, tenant_id: str, sql: str, column: str, limit: int
) -> Sequence[Row[Any]]:
    """Up to `limit` rows of a statement over one of the pack's tables (`column`, as
    `table.column`, names what it reads); none while the table does not exist."""
    try:
        async with sandbox(engine, settings, tenant_id, settings.timezone) as conn:
            return (await conn.execute(text(sql))).fetchmany(limit)
    except DBAPIError as exc:
        if sqlstate(exc) == UNDEFINED_TABLE:
            return []
        why = describe_failure(exc, f"tenant {tenant_id}, {column}")
        raise SourceUnavailable(f"{column}: {why}") from None
