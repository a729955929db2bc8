"""The activity views' entry points: who may read each view, before it is computed (one
module per view: `summary`, `funnel`, `breakdown`, `cohorts`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.access import readable_subject, require_readable
from kpi_service.core.auth import Principal
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.metrics.activity import schemas
from kpi_service.metrics.activity.breakdown import split_kpi
from kpi_service.metrics.activity.cohorts import retention_by_month
from kpi_service.metrics.activity.funnel import count_stages
from kpi_service.metrics.activity.summary import summarize


async def summary(
    session: AsyncSession, settings: Settings, principal: Principal, query: schemas.SummaryQuery
) -> schemas.SummaryRead:
    """Organisation KPIs (latest ended period, the period in progress with its pace, a range
    combined by rollup) and how the users' measurements of ended periods stand."""
    await require_readable(session, principal, SubjectType.ORGANIZATION, principal.tenant_id)
    return await summarize(session, settings, principal, query)


async def funnel(
    session: AsyncSession, settings: Settings, principal: Principal, query: schemas.FunnelQuery
) -> schemas.FunnelRead:
    """Stage counts for a subject over a date range, with conversions between stages."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    return await count_stages(session, settings, principal.tenant_id, query, subject_id)


async def breakdown(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    query: schemas.BreakdownQuery,
    *,
    sources: Sources,
) -> schemas.BreakdownRead:
    """A KPI split by an event property (event KPIs) or a column of its SQL (query KPIs, on
    the tenant's source)."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    return await split_kpi(
        session, settings, principal.tenant_id, query, subject_id, sources=sources
    )


async def cohorts(
    session: AsyncSession, settings: Settings, principal: Principal, query: schemas.CohortsQuery
) -> schemas.CohortsRead:
    """Monthly signup cohorts with retention in weeks 1, 4 and 12 after signing up."""
    await require_readable(session, principal, SubjectType.ORGANIZATION, principal.tenant_id)
    return await retention_by_month(session, settings, principal.tenant_id, query)
