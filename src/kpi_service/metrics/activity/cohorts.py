"""Signup cohorts: each month's signups and how many were active in weeks 1, 4 and 12
after signing up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.settings import Settings
from kpi_service.engine import cohorts as cohort_rules
from kpi_service.engine.periods import custom
from kpi_service.metrics.activity.event_repository import ActivityEventRepository
from kpi_service.metrics.activity.schemas import CohortRead, CohortsQuery, CohortsRead


async def retention_by_month(
    session: AsyncSession, settings: Settings, tenant_id: str, query: CohortsQuery
) -> CohortsRead:
    """The cohorts the query asks for (the caller may read the organisation)."""
    now = datetime.now(UTC)
    months = cohort_rules.cohort_months(query.last_month or settings.today(now), query.months)
    last_day = cohort_rules.month_after(months[-1]) - timedelta(days=1)
    window = custom(months[0], last_day).instants(settings.tz)
    weeks = cohort_rules.RETENTION_WEEKS
    active = (
        window[0] + min(weeks) * cohort_rules.WEEK,
        window[1] + (max(weeks) + 1) * cohort_rules.WEEK,
    )
    rows = {
        r.month: r
        for r in await ActivityEventRepository(session).cohorts(
            tenant_id,
            signup_type=query.signup_type,
            activity_type=query.activity_type,
            window=window,
            active=active,
            tz_name=settings.timezone,
            weeks=weeks,
        )
    }
    out = []
    for month in months:
        row = rows.get(month)
        size = row.size if row else 0
        fields: dict[str, object] = {}
        for week in weeks:
            kept = cohort_rules.retention(
                size,
                row.retained[week] if row else 0,
                row.latest_signup if row else None,
                week,
                now,
            )
            fields[f"week_{week}_retained"] = kept.retained
            fields[f"week_{week}_pct"] = kept.percent
        out.append(CohortRead.model_validate({"month": month, "size": size, **fields}))
    return CohortsRead(
        signup_type=query.signup_type, activity_type=query.activity_type, cohorts=out
    )
