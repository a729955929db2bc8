"""Seed 004's KPI value history: a manual KPI's assignment with every value recorded for it,
its latest value's trend against the one recorded before, and the quick value update."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.service import get_visible_with_definition
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict
from kpi_service.core.settings import Settings
from kpi_service.engine.achievement import change_since, movement
from kpi_service.measurements import service
from kpi_service.measurements.history_repository import HistoryRepository
from kpi_service.measurements.schemas import (
    ManualValue,
    RecordedValue,
    ValueHistory,
    ValueHistoryQuery,
    ValueUpdate,
)
from kpi_service.models import Assignment, CalculationType, Definition


class HistoryNotKept(Conflict):
    """Only values recorded by hand have a recording history."""

    def __init__(self, key: str, calculation_type: str) -> None:
        super().__init__(
            f"KPI '{key}' is computed ({calculation_type}); a value history is kept for KPIs "
            "recorded by hand. Its values over time are at GET /metrics/timeseries."
        )


async def value_history(
    session: AsyncSession,
    principal: Principal,
    assignment_id: int,
    query: ValueHistoryQuery,
    *,
    now: datetime | None = None,
) -> ValueHistory:
    """A visible manual KPI's assignment with its values recorded in the last `query.days`
    days (at most `query.limit`, newest first) and its latest value's trend."""
    assignment, definition = await get_visible_with_definition(session, principal, assignment_id)
    if definition.calculation_type != CalculationType.MANUAL:
        raise HistoryNotKept(definition.key, definition.calculation_type)
    return await _history(session, assignment, definition, query, now)


async def update_value(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    assignment_id: int,
    body: ValueUpdate,
) -> ValueHistory:
    """Record the value of the period in progress as `recordMeasurement` does, and answer the
    history of the last 30 days (100 values at most)."""
    assignment, definition = await service.recordable(session, principal, assignment_id)
    value = ManualValue(value=body.current_value, comment=body.comment)
    await service.record_today(session, settings, principal, assignment, definition, value)
    return await _history(session, assignment, definition, ValueHistoryQuery(), None)


async def _history(
    session: AsyncSession,
    assignment: Assignment,
    definition: Definition,
    query: ValueHistoryQuery,
    now: datetime | None,
) -> ValueHistory:
    since = (now or datetime.now(UTC)) - timedelta(days=query.days)
    rows = await HistoryRepository(session).recordings(
        assignment.tenant_id, assignment.id, since, query.limit
    )
    latest = rows[0] if rows else None
    before = rows[1] if len(rows) > 1 else None
    current = None if latest is None else latest.value
    previous = None if before is None else before.value
    return ValueHistory(
        assignment_id=assignment.id,
        definition_key=definition.key,
        name=definition.name,
        unit=definition.unit,
        current_value=current,
        target=None if latest is None else latest.target,
        percentage_complete=None if latest is None else latest.achievement,
        trend=movement(current, previous),
        percentage_change=change_since(current, previous),
        updated_at=None if latest is None else latest.recorded_at,
        history=[
            RecordedValue(
                value=row.value,
                target=row.target,
                percentage_complete=row.achievement,
                recorded_at=row.recorded_at,
                period_start=row.period_start,
                period_end=row.period_end,
            )
            for row in rows
            if row.shown
        ],
    )
