"""A query KPI split by an extra column of its SQL, run in the calculator's read-only sandbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.calculators.sql_guard import check_select, wrap_for_run
from kpi_service.core.settings import Settings
from kpi_service.core.sources import sandbox


class SourceSplitError(ValueError):
    """The KPI's query cannot be split as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class SourceSlice:
    """One dimension value of a query KPI's rows for the asked subjects."""

    dimension_value: str | None
    rows: int
    total: Decimal | None
    avg: Decimal | None
    min: Decimal | None
    max: Decimal | None


def _split_statement(config: Mapping[str, Any], dimension: str, row_cap: int) -> str:
    """The KPI's checked, capped statement grouped by `dimension` (a validated plain name)."""
    if "query_key" in config:
        raise SourceSplitError(
            f"built-in query {config['query_key']!r} returns no column besides subject_id and value"
        )
    capped = wrap_for_run(check_select(config["sql"]), row_cap, extra_column=dimension)
    mine = "b.subject_id = ANY(CAST(:subject_ids AS text[]))"
    # Every row counts against the cap, the asked subjects' or not (as in the calculator).
    return (
        "SELECT b.dimension, "  # noqa: S608 (names checked; the body is the sandbox's)
        f"count(*) FILTER (WHERE {mine}), sum(b.value) FILTER (WHERE {mine}), "
        f"avg(b.value) FILTER (WHERE {mine}), min(b.value) FILTER (WHERE {mine}), "
        f"max(b.value) FILTER (WHERE {mine}), sum(count(*)) OVER () "
        f"FROM ({capped}) AS b GROUP BY b.dimension"
    )


async def split_query(
    engine: AsyncEngine,
    settings: Settings,
    config: Mapping[str, Any],
    dimension: str,
    *,
    tenant_id: str,
    subject_ids: Sequence[str],
    instants: tuple[datetime, datetime],
    tz_name: str,
) -> list[SourceSlice]:
    """The KPI's rows for these subjects and instants, per value of the dimension column; one
    statement in a READ ONLY transaction with the statement timeout and the row cap."""
    cap = settings.query_row_cap
    statement = _split_statement(config, dimension, cap)
    params = {
        "subject_ids": list(subject_ids),
        "period_start": instants[0].astimezone(UTC),
        "period_end": instants[1].astimezone(UTC),
        "tenant_id": tenant_id,
    }
    async with sandbox(engine, settings, tenant_id, tz_name) as conn:
        rows = (await conn.execute(text(statement), params)).all()
    if rows and rows[0][6] > cap:
        raise SourceSplitError(f"the query returned more than {cap} rows (the row cap)")
    return [SourceSlice(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows if r[1] > 0]
