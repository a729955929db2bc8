"""Claims of scheduled occurrences: the run of one (tenant, period kind, period), once
across replicas."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.models import CalculationRun, RunTrigger
from kpi_service.runs.plan import new_run, order_pairs
from kpi_service.runs.repository import RunRepository


async def scheduled_tenants(session: AsyncSession, kind: PeriodKind) -> list[str]:
    """Tenants with an active KPI of this period kind."""
    return await DefinitionRepository(session).tenants_with(kind.value)


async def claim_occurrence(
    session: AsyncSession, tenant_id: str, kind: PeriodKind, period: Period
) -> int | None:
    """The run of a scheduled occurrence, if this process is first to claim it; else None.

    Its pairs are the tenant's active KPIs of that period kind, for that one period.
    """
    definitions = [
        d
        for d in await DefinitionRepository(session).active(tenant_id)
        if d.aggregation_period == kind.value
    ]
    pairs = order_pairs(definitions, period.start, period.end)
    if not pairs:
        return None
    run = new_run(
        tenant_id,
        RunTrigger.SCHEDULE,
        pairs,
        first=period.start,
        last=period.end,
        filters={},
        requested_by=None,
    )
    values = {
        c.key: getattr(run, c.key)
        for c in CalculationRun.__table__.columns
        if getattr(run, c.key) is not None
    }
    return await RunRepository(session).add_occurrence(values)
