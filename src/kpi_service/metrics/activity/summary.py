"""The executive summary: organisation KPIs (ended, in progress, over a range) and how the
users' measurements of ended periods stand."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.alert_service import open_alerts
from kpi_service.core.auth import Principal
from kpi_service.core.settings import Settings
from kpi_service.engine.funnels import over_periods
from kpi_service.engine.periods import Period, between, containing, custom, is_final, latest_final
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.metrics.activity.measurement_repository import (
    BUCKET_EDGES,
    ActivityMeasurementRepository,
    DistributionRow,
)
from kpi_service.metrics.activity.schemas import (
    AchievementBucket,
    Distribution,
    EndedValue,
    InProgressValue,
    KpiDistribution,
    OpenAlert,
    OrganizationKpi,
    RangeValue,
    SummaryPeriod,
    SummaryQuery,
    SummaryRead,
)
from kpi_service.metrics.pace import pace_of

# The summary shows the newest open alerts; the alerts list pages through all of them.
OPEN_ALERTS_SHOWN = 50


async def summarize(
    session: AsyncSession, settings: Settings, principal: Principal, query: SummaryQuery
) -> SummaryRead:
    """The summary the query asks for (the caller may read the organisation)."""
    today = settings.today()
    kinds = [PeriodKind(query.period_kind)] if query.period_kind else list(PeriodKind)
    asked = _asked_days(query, today)
    # Only ended periods are judged: the distribution's, and the KPIs' `current`.
    last_day = min(asked.end, today - timedelta(days=1))
    periods = (
        [containing(kind, query.date) for kind in kinds]
        if query.date is not None
        else [latest_final(kind, last_day + timedelta(days=1)) for kind in kinds]
    )
    ended = [p for p in periods if is_final(p, today)]
    running = [p for p in (containing(kind, today) for kind in kinds) if _overlap(p, asked)]
    repo = ActivityMeasurementRepository(session)
    rows = await repo.organization_kpis(principal.tenant_id, kinds, last_day)
    exact = await repo.organization_periods(
        principal.tenant_id, running + (ended if query.date is not None else [])
    )
    ranged: dict[str, list[tuple[date, Decimal | None]]] = {}
    if query.start is not None:
        ranged = await repo.stage_values(
            principal.tenant_id,
            {r.definition_key: SubjectType.ORGANIZATION for r in rows},
            SubjectType.ORGANIZATION,
            principal.tenant_id,
            asked.start,
            asked.end,
        )
    kpis = []
    for r in rows:
        kind = PeriodKind(r.aggregation_period)
        current = None
        if query.date is not None:
            held = containing(kind, query.date)
            if is_final(held, today):
                current = _ended(held, exact.get((r.definition_key, held.start)))
        elif r.period_start is not None:
            current = _ended(None, r)
        now = containing(kind, today)
        in_progress = None
        if _overlap(now, asked):
            at_now = exact.get((r.definition_key, now.start))
            in_progress = _in_progress(settings, now, at_now, r)
        within = None
        if query.start is not None:
            within = _range(kind, asked, ranged.get(r.definition_key, []), r.rollup, today)
        # The row names the KPI as the answer does (key, name, unit, period kind, rollup).
        kpis.append(
            OrganizationKpi.model_validate(
                {**r._mapping, "current": current, "in_progress": in_progress, "range": within}
            )
        )
    distribution = await repo.distribution(principal.tenant_id, ended)
    alerts = [
        OpenAlert.model_validate(a.model_dump())
        for a in await open_alerts(session, principal, limit=OPEN_ALERTS_SHOWN)
    ]
    return SummaryRead(
        today=today,
        start=query.start,
        end=query.end,
        kpis=kpis,
        periods=[
            SummaryPeriod(
                period_kind=str(p.kind),
                period_start=p.start,
                period_end=p.end,
                is_final=is_final(p, today),
            )
            for p in periods
        ],
        distribution=[_kpi_distribution(d) for d in distribution],
        overall=_overall(distribution),
        open_alerts=alerts,
    )


def _asked_days(query: SummaryQuery, today: date) -> Period:
    """The days the caller asks about: the range, the date, or (by default) today."""
    if query.start is not None and query.end is not None:
        return custom(query.start, query.end)
    return custom(query.date or today, query.date or today)


def _overlap(period: Period, other: Period) -> bool:
    return period.start <= other.end and other.start <= period.end


def _ended(period: Period | None, row: Any) -> EndedValue:
    """An ended period's block: the row's measurement, or the period unmeasured (no row:
    every field null but the period's)."""
    if row is None:
        assert period is not None
        measured: dict[str, Any] = {"period_start": period.start, "period_end": period.end}
    else:
        measured = dict(row._mapping)
    return EndedValue.model_validate(
        {**dict.fromkeys(EndedValue.model_fields), **measured, "is_final": True}
    )


def _in_progress(settings: Settings, period: Period, row: Any, kpi: Any) -> InProgressValue:
    """The period in progress: value so far and pace, without any judgement (`kpi`: the row
    naming the KPI, with its rollup and window)."""
    value = row.value if row is not None else None
    return InProgressValue(
        period_start=period.start,
        period_end=period.end,
        is_final=False,
        value=value,
        target=row.target if row is not None else None,
        pace=pace_of(
            settings,
            period,
            kpi.rollup,
            value,
            row.calculated_at if row is not None else None,
            window=kpi.window,
        ),
    )


def _range(
    kind: PeriodKind,
    asked: Period,
    values: list[tuple[date, Decimal | None]],
    rollup: str,
    today: date,
) -> RangeValue:
    """A KPI's periods lying wholly inside the range, combined by its rollup."""
    inside = [
        p
        for p in between(kind, asked.start, asked.end)
        if p.start >= asked.start and p.end <= asked.end
    ]
    return RangeValue(
        start=asked.start,
        end=asked.end,
        rollup=rollup,
        value=over_periods(values, rollup),
        periods_in_range=len(inside),
        periods_measured=sum(1 for _, value in values if value is not None),
        includes_in_progress=any(p.contains(today) for p in inside),
    )


def _buckets(counts: list[int]) -> list[AchievementBucket]:
    bounds: list[Decimal | None] = [None, *BUCKET_EDGES, None]
    return [
        AchievementBucket(lower=lower, upper=upper, count=n)
        for lower, upper, n in zip(bounds, bounds[1:], counts, strict=False)
    ]


def _kpi_distribution(row: DistributionRow) -> KpiDistribution:
    """One KPI's counts for its period, named as the row names them (statuses spread)."""
    return KpiDistribution.model_validate(
        {**asdict(row), **row.statuses, "buckets": _buckets(row.buckets)}
    )


def _overall(rows: list[DistributionRow]) -> Distribution:
    """Every KPI's counts added: each user measurement counts once, in its KPI."""
    buckets = [sum(r.buckets[i] for r in rows) for i in range(len(BUCKET_EDGES) + 1)]
    return Distribution(
        assignments=sum(r.assignments for r in rows),
        met=sum(r.statuses["met"] for r in rows),
        at_risk=sum(r.statuses["at_risk"] for r in rows),
        off_track=sum(r.statuses["off_track"] for r in rows),
        no_value=sum(r.no_value for r in rows),
        buckets=_buckets(buckets),
    )
