"""Rules of the activity views: who may read them, what each stage or slice means."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.alert_service import open_alerts
from kpi_service.calculators.sql_guard import UnsafeSql
from kpi_service.calculators.subjects import SubjectMode, source_config, subject_mode
from kpi_service.core.access import require_readable
from kpi_service.core.auth import Principal
from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable, describe_failure
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine import cohorts as cohort_rules
from kpi_service.engine.achievement import quantize
from kpi_service.engine.funnels import (
    across_members,
    conversions,
    no_count_reason,
    over_periods,
    percent,
)
from kpi_service.engine.periods import (
    Period,
    PeriodKind,
    between,
    containing,
    custom,
    is_final,
    latest_final,
)
from kpi_service.engine.rollup import MEMBER_ROLLUPS
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.metrics.activity.event_repository import (
    ActivityEventRepository,
    EventRange,
    EventSlice,
)
from kpi_service.metrics.activity.measurement_repository import (
    BUCKET_EDGES,
    ActivityMeasurementRepository,
    DistributionRow,
)
from kpi_service.metrics.activity.schemas import (
    AchievementBucket,
    BreakdownQuery,
    BreakdownRead,
    BreakdownRow,
    CohortRead,
    CohortsQuery,
    CohortsRead,
    Distribution,
    EndedValue,
    FunnelQuery,
    FunnelRead,
    FunnelStage,
    InProgressValue,
    KpiDistribution,
    OpenAlert,
    OrganizationKpi,
    RangeValue,
    SummaryPeriod,
    SummaryQuery,
    SummaryRead,
)
from kpi_service.metrics.activity.source_repository import (
    SourceSlice,
    SourceSplitError,
    split_query,
)
from kpi_service.metrics.pace import pace_of
from kpi_service.models import CalculationType, Definition, SubjectType

# The summary shows the newest open alerts; the alerts list pages through all of them.
OPEN_ALERTS_SHOWN = 50


async def summary(
    session: AsyncSession, settings: Settings, principal: Principal, query: SummaryQuery
) -> SummaryRead:
    """Organisation KPIs (latest ended period, the period in progress with its pace, a range
    combined by rollup) and how the users' measurements of ended periods stand."""
    await require_readable(session, principal, SubjectType.ORGANIZATION, principal.tenant_id)
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
            {r.key: SubjectType.ORGANIZATION for r in rows},
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
                current = _ended(held, exact.get((r.key, held.start)))
        elif r.period_start is not None:
            current = _ended(None, r)
        now = containing(kind, today)
        kpis.append(
            OrganizationKpi(
                definition_key=r.key,
                name=r.name,
                unit=r.unit,
                aggregation_period=r.aggregation_period,
                rollup=r.rollup,
                current=current,
                in_progress=(
                    _in_progress(settings, now, exact.get((r.key, now.start)), r.rollup)
                    if _overlap(now, asked)
                    else None
                ),
                range=(
                    _range(kind, asked, ranged.get(r.key, []), r.rollup, today)
                    if query.start is not None
                    else None
                ),
            )
        )
    distribution = await repo.distribution(principal.tenant_id, ended)
    per_kpi = [
        KpiDistribution(
            definition_key=d.definition_key,
            name=d.name,
            period_start=d.period_start,
            period_end=d.period_end,
            **_counts(d),
        )
        for d in distribution
    ]
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
        distribution=per_kpi,
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
    """An ended period's block: the row's measurement, or the period unmeasured (no row)."""
    if row is None:
        assert period is not None
        return EndedValue(
            period_start=period.start,
            period_end=period.end,
            is_final=True,
            value=None,
            target=None,
            achievement=None,
            status=None,
            previous_value=None,
            change_pct=None,
            trend=None,
        )
    return EndedValue(
        period_start=row.period_start,
        period_end=row.period_end,
        is_final=True,
        value=row.actual_value,
        target=row.target_value,
        achievement=row.achievement,
        status=row.status,
        previous_value=row.previous_value,
        change_pct=row.change_pct,
        trend=row.trend,
    )


def _in_progress(settings: Settings, period: Period, row: Any, rollup: str) -> InProgressValue:
    """The period in progress: value so far and pace, without any judgement."""
    value = row.actual_value if row is not None else None
    return InProgressValue(
        period_start=period.start,
        period_end=period.end,
        is_final=False,
        value=value,
        target=row.target_value if row is not None else None,
        pace=pace_of(
            settings, period, rollup, value, row.calculated_at if row is not None else None
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


def _counts(row: DistributionRow) -> dict[str, object]:
    return {
        "assignments": row.assignments,
        **row.statuses,
        "no_value": row.no_value,
        "buckets": _buckets(row.buckets),
    }


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


async def funnel(
    session: AsyncSession, settings: Settings, principal: Principal, query: FunnelQuery
) -> FunnelRead:
    """Stage counts for a subject over a date range, with conversions between stages."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    stages = [tuple(s.split(":", 1)) for s in query.stages]
    keys = [key for kind, key in stages if kind == "kpi"]
    types = [key for kind, key in stages if kind == "event"]
    counts: dict[str, Decimal | None] = {}
    reasons: dict[str, str] = {}
    if keys:
        definitions = {
            d.key: d
            for d in await DefinitionRepository(session).find(principal.tenant_id, keys=keys)
        }
        for i, (kind, key) in enumerate(stages):
            if kind == "kpi":
                _check_kpi_stage(definitions.get(key), key, query.subject_type, i)
        values = await ActivityMeasurementRepository(session).stage_values(
            principal.tenant_id,
            {key: definitions[key].scope for key in keys},
            query.subject_type,
            subject_id,
            query.start,
            query.end,
        )
        subject = (
            "the organisation"
            if query.subject_type is SubjectType.ORGANIZATION
            else f"{query.subject_type} {subject_id!r}"
        )
        for key in keys:
            counts[f"kpi:{key}"] = across_members(values.get(key, []), definitions[key].rollup)
            if counts[f"kpi:{key}"] is None:
                reasons[f"kpi:{key}"] = no_count_reason(
                    key,
                    PeriodKind(definitions[key].aggregation_period),
                    query.start,
                    query.end,
                    subject,
                )
    if types:
        scope = EventRange(
            principal.tenant_id,
            query.subject_type,
            subject_id,
            *custom(query.start, query.end).instants(settings.tz),
        )
        found = await ActivityEventRepository(session).stage_counts(scope, types)
        for event_type in types:
            events, users = found.get(event_type, (0, 0))
            counts[f"event:{event_type}"] = Decimal(users if query.count == "users" else events)
    converted = conversions([counts[stage] for stage in query.stages])
    return FunnelRead(
        subject_type=query.subject_type,
        subject_id=subject_id,
        start=query.start,
        end=query.end,
        count=query.count,
        stages=[
            FunnelStage(
                stage=stage,
                kind=kind,
                key=key,
                count=c.count,
                reason=reasons.get(stage),
                conversion_from_previous=c.from_previous,
                conversion_from_first=c.from_first,
            )
            for stage, (kind, key), c in zip(query.stages, stages, converted, strict=True)
        ],
    )


# Which KPI scopes a funnel subject can read: its own, or its members' combined per period.
_STAGE_SCOPES = {
    SubjectType.USER: (SubjectType.USER,),
    SubjectType.TEAM: (SubjectType.TEAM, SubjectType.USER),
    SubjectType.ORGANIZATION: (SubjectType.ORGANIZATION, SubjectType.TEAM, SubjectType.USER),
}


def _check_kpi_stage(
    definition: Definition | None, key: str, subject_type: SubjectType, index: int
) -> None:
    """Refuse a KPI stage that does not exist or cannot be read for the subject."""
    loc: list[str | int] = ["query", "stages", index]
    if definition is None:
        raise InvalidInput(
            f"No KPI with key {key!r}.", errors=[field_error(loc, "no such KPI definition")]
        )
    reason = None
    if definition.scope not in _STAGE_SCOPES[subject_type]:
        reason = f"KPI {key!r} is measured per {definition.scope}, not for a {subject_type}"
    elif definition.scope != subject_type and definition.rollup not in MEMBER_ROLLUPS:
        reason = (
            f"KPI {key!r} rolls up by '{definition.rollup}', which cannot combine the "
            f"{subject_type}'s members"
        )
    if reason:
        raise InvalidInput(f"{reason}.", errors=[field_error(loc, reason)])


async def cohorts(
    session: AsyncSession, settings: Settings, principal: Principal, query: CohortsQuery
) -> CohortsRead:
    """Monthly signup cohorts with retention in weeks 1, 4 and 12 after signing up."""
    await require_readable(session, principal, SubjectType.ORGANIZATION, principal.tenant_id)
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
            principal.tenant_id,
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


async def readable_subject(
    session: AsyncSession, principal: Principal, subject_type: SubjectType, subject_id: str | None
) -> str:
    """The subject's id (the tenant for the organisation) once the caller may read it."""
    if subject_type is SubjectType.ORGANIZATION:
        if subject_id not in (None, principal.tenant_id):
            raise InvalidInput(
                "The organisation's subject_id is the tenant's.",
                errors=[field_error(["query", "subject_id"], "omit it for the organization")],
            )
        subject_id = principal.tenant_id
    await require_readable(session, principal, subject_type, subject_id)
    assert subject_id is not None  # the query model requires it for users and teams
    return subject_id


async def breakdown(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    query: BreakdownQuery,
    *,
    sources: Sources,
) -> BreakdownRead:
    """A KPI split by an event property (event KPIs) or a column of its SQL (query KPIs, on
    the tenant's source)."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    definition = await DefinitionRepository(session).get_by_key(
        principal.tenant_id, query.definition_key
    )
    if definition is None:
        raise InvalidInput(
            f"No KPI with key {query.definition_key!r}.",
            errors=[field_error(["query", "definition_key"], "no such KPI definition")],
        )
    instants = custom(query.start, query.end).instants(settings.tz)
    if definition.calculation_type == CalculationType.EVENT:
        scope = EventRange(principal.tenant_id, query.subject_type, subject_id, *instants)
        slices = await ActivityEventRepository(session).breakdown(
            scope,
            definition.config,
            query.dimension,
            convert_type=query.convert_type,
            convert_property=query.convert_property,
            limit=query.limit,
        )
        rows = [_event_row(s) for s in slices]
    elif definition.calculation_type == CalculationType.QUERY:
        if query.convert_type is not None:
            raise InvalidInput(
                "Conversions are counted for event KPIs only.",
                errors=[field_error(["query", "convert_type"], "only for event KPIs")],
            )
        subjects = await _source_subjects(
            session, definition, query.subject_type, subject_id, query
        )
        rows = await _query_rows(
            sources, settings, definition, query.dimension, principal.tenant_id, subjects, instants
        )
        rows = rows[: query.limit + 1]
    else:
        raise InvalidInput(
            f"KPI {definition.key!r} is a {definition.calculation_type} KPI; "
            "only event and query KPIs can be split.",
            errors=[field_error(["query", "definition_key"], "not an event or query KPI")],
        )
    return BreakdownRead(
        definition_key=definition.key,
        calculation_type=definition.calculation_type,
        dimension=query.dimension,
        subject_type=query.subject_type,
        subject_id=subject_id,
        start=query.start,
        end=query.end,
        rows=rows[: query.limit],
        truncated=len(rows) > query.limit,
    )


def _event_row(s: EventSlice) -> BreakdownRow:
    conversions = s.conversions
    return BreakdownRow(
        dimension_value=s.dimension_value,
        count=s.count,
        value=_six(s.value),
        total=_six(s.total),
        conversions=conversions,
        conversion_rate=None
        if conversions is None
        else percent(Decimal(conversions), Decimal(s.count)),
        conversion_value=_six(s.conversion_value),
    )


async def _source_subjects(
    session: AsyncSession,
    definition: Definition,
    subject_type: SubjectType,
    subject_id: str,
    query: BreakdownQuery,
) -> list[str]:
    """Whom the KPI's SQL is asked about: the subject itself when the KPI passes its own
    subjects to the source, else users (a team's or the organisation's members)."""
    mode = subject_mode(definition.scope, definition.calculation_type, definition.config)
    if mode is SubjectMode.OWN:
        if definition.scope != subject_type:
            reason = (
                f"KPI {definition.key!r} asks its source about each {definition.scope}, "
                f"not a {subject_type}"
            )
            raise InvalidInput(
                f"{reason}.", errors=[field_error(["query", "subject_type"], reason)]
            )
        return [subject_id]
    if subject_type is SubjectType.USER:
        return [subject_id]
    teams = [subject_id] if subject_type is SubjectType.TEAM else None
    members = await MeasurementRepository(session).members(
        definition.tenant_id, teams, query.start, query.end
    )
    return members.get(subject_id, [])


async def _query_rows(
    sources: Sources,
    settings: Settings,
    definition: Definition,
    dimension: str,
    tenant_id: str,
    subjects: list[str],
    instants: tuple[datetime, datetime],
) -> list[BreakdownRow]:
    """The rows of a query KPI's split, busiest value first."""
    loc = ["query", "dimension"]
    config = source_config(definition.config)
    try:
        engine = await sources.engine(tenant_id, config.get("source"))
        slices = await split_query(
            engine,
            settings,
            config,
            dimension,
            tenant_id=tenant_id,
            subject_ids=subjects,
            instants=instants,
            tz_name=settings.timezone,
        )
    except (SourceSplitError, UnsafeSql, SourceUnavailable) as exc:
        raise InvalidInput(
            f"KPI {definition.key!r} cannot be split: {exc}", errors=[field_error(loc, str(exc))]
        ) from None
    except DBAPIError as exc:
        failure = describe_failure(exc, f"tenant {tenant_id}, breakdown of {definition.key}")
        reason = (
            f"the KPI's query returns no column {dimension!r}"
            if failure.endswith("(SQLSTATE 42703)")
            else f"the KPI's query failed on the source database: {failure}"
        )
        raise InvalidInput(
            f"KPI {definition.key!r} cannot be split: {reason}.", errors=[field_error(loc, reason)]
        ) from None
    slices.sort(key=lambda s: (-s.rows, s.dimension_value is None, s.dimension_value or ""))
    rolled = _ROLLED.get(definition.rollup)
    return [
        BreakdownRow(
            dimension_value=s.dimension_value,
            count=s.rows,
            value=_six(rolled(s)) if rolled else None,
            total=_six(s.total),
            conversions=None,
            conversion_rate=None,
            conversion_value=None,
        )
        for s in slices
    ]


# A query KPI's value for a slice: its subjects' values combined as a team's members' are
# (`last` orders periods, not subjects, so it gives none).
_ROLLED: dict[str, Callable[[SourceSlice], Decimal | None]] = {
    "sum": attrgetter("total"),
    "avg": attrgetter("avg"),
    "min": attrgetter("min"),
    "max": attrgetter("max"),
}


def _six(value: Decimal | None) -> Decimal | None:
    """Six places, as the engine stores every derived number (PostgreSQL gives doubles for
    percentiles and long fractions for averages)."""
    return None if value is None else quantize(Decimal(value))
