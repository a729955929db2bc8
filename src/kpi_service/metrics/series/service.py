"""Series views: a KPI's values over time for a subject, and where they are heading."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Literal, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.access import readable_subject
from kpi_service.core.auth import Principal
from kpi_service.core.errors import InvalidInput, field_error, found
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine import achievement as ach
from kpi_service.engine.periods import Period, is_final, is_finer
from kpi_service.engine.rollup import MEMBER_ROLLUPS
from kpi_service.engine.series import (
    Bucket,
    Valued,
    layout,
    native_count,
    summarize,
)
from kpi_service.engine.vocabulary import PeriodKind, SubjectType, TargetType
from kpi_service.metrics.pace import IN_PROGRESS, PeriodPace, in_progress, pace_of
from kpi_service.metrics.series.forecast import pace_of_current, project, scored, window
from kpi_service.metrics.series.repository import (
    BucketRow,
    SeriesRepository,
    SeriesRequest,
    SeriesRows,
)
from kpi_service.metrics.series.schemas import (
    ForecastQuery,
    ForecastRead,
    TimeseriesQuery,
    TimeseriesRead,
)
from kpi_service.models import Definition

# Five years of daily values: the most native periods one series reads.
MAX_PERIODS = 5 * 366


async def _definition(session: AsyncSession, principal: Principal, key: str) -> Definition:
    definition = await DefinitionRepository(session).get_by_key(principal.tenant_id, key)
    return found(definition, f"KPI {key!r} not found.")


def _source(
    rows: SeriesRows, kind: SubjectType, definition: Definition
) -> Literal["own", "members", "none"]:
    if rows.own:
        return "own"
    if kind is SubjectType.USER:
        return "none"
    if definition.rollup not in MEMBER_ROLLUPS:
        raise InvalidInput(
            f"The {kind} has no assignment of KPI {definition.key!r}, and its members' values "
            f"cannot be combined by the rollup '{definition.rollup}'.",
            errors=[field_error(["query", "subject_type"], "no own assignment to show")],
        )
    return "members" if rows.members else "none"


def _head(
    definition: Definition, kind: SubjectType, subject_id: str, rows: SeriesRows
) -> dict[str, object]:
    source = _source(rows, kind, definition)
    return {
        "definition_key": definition.key,
        "subject_type": kind.value,
        "subject_id": subject_id,
        "unit": definition.unit,
        "target_type": definition.target_type,
        "rollup": definition.rollup,
        "window": definition.window,
        "native_grain": definition.aggregation_period,
        "source": source,
        "members": rows.members if source == "members" else None,
    }


async def _series(
    session: AsyncSession,
    principal: Principal,
    definition: Definition,
    subject: tuple[SubjectType, str],
    starts: Sequence[date],
    indexes: Sequence[int],
    first: date,
    last: date,
    *,
    target_for: Period | None = None,
    native: bool = True,
) -> tuple[dict[str, object], SeriesRows, dict[int, BucketRow]]:
    """The subject's rows of the KPI for these native periods (placed in the buckets
    `indexes`), with the answer's head and the rows by bucket."""
    kind, subject_id = subject
    rows = await SeriesRepository(session).series(
        SeriesRequest(
            tenant_id=principal.tenant_id,
            definition_id=definition.id,
            subject_type=kind.value,
            subject_id=subject_id,
            rollup=definition.rollup,
            starts=starts,
            indexes=indexes,
            range_start=first,
            range_end=last,
            derive=kind is not SubjectType.USER and definition.rollup in MEMBER_ROLLUPS,
            target_for=target_for,
            native=native,
            version=definition.version,
        )
    )
    head = _head(definition, kind, subject_id, rows)
    return head, rows, {row.bucket: row for row in rows.buckets}


class _Point(TypedDict):
    """A point as plain values (SeriesPoint's fields), validated with the whole answer."""

    period_start: date
    period_end: date
    value: Decimal | None
    target: Decimal | None
    achievement: Decimal | None
    status: str | None
    is_final: bool
    complete: bool
    periods_expected: int
    periods_in_range: int
    periods_measured: int
    members_measured: int | None
    pace: PeriodPace | None


def _point(
    definition: Definition,
    settings: Settings,
    period: Period,
    expected: int,
    in_range: int,
    row: BucketRow | None,
    derived: bool,
    today: date,
) -> _Point:
    value = target = achievement = None
    status: str | None = None
    if row is not None and row.value is not None:
        if row.stored:
            # One measurement, scored by this version of the definition against the same
            # target and baseline, all within six decimals: its stored score is the score.
            value, target, achievement, status = row.value, row.target, row.achievement, row.status
        else:
            value, target = ach.quantize(row.value), ach.quantize(row.target)
            achievement, status = scored(definition, value, target, ach.quantize(row.baseline))
    measured = row.measured if row else 0
    pace = None
    if in_progress(period, today):
        # Not judged before it ends: no status colour, its pace instead.
        status = IN_PROGRESS if value is not None else None
        pace = pace_of(
            settings,
            period,
            definition.rollup,
            value,
            row.calculated_at if row else None,
            window=definition.window,
        )
    return {
        "period_start": period.start,
        "period_end": period.end,
        "value": value,
        "target": target,
        "achievement": achievement,
        "status": status,
        "is_final": is_final(period, today) and (row.final if row else True),
        "complete": measured == expected,
        "periods_expected": expected,
        "periods_in_range": in_range,
        "periods_measured": measured,
        "members_measured": (row.members_measured if row else 0) if derived else None,
        "pace": pace,
    }


def _named(valued: Valued | None) -> dict[str, object] | None:
    if valued is None:
        return None
    return {
        "period_start": valued.period.start,
        "period_end": valued.period.end,
        "value": valued.value,
    }


@functools.lru_cache(maxsize=32)
def _plan(
    native: PeriodKind, grain: PeriodKind, first: date, last: date
) -> tuple[tuple[Bucket, ...], tuple[date, ...], tuple[int, ...]]:
    """A range's buckets, and the native periods read (ascending) with their bucket's index.

    Kept for the ranges asked most (a year up to today, for every user alike): laying out
    a year of days is a tenth of the request. Immutable, so the cached values are shared.
    """
    buckets = tuple(layout(native, grain, first, last))
    placed = [(p.start, i) for i, b in enumerate(buckets) for p in b.in_range]
    return buckets, tuple(s for s, _ in placed), tuple(i for _, i in placed)


async def timeseries(
    session: AsyncSession, settings: Settings, principal: Principal, query: TimeseriesQuery
) -> TimeseriesRead:
    """A KPI's values for a subject over a range, at its grain or rolled up to a coarser one."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    definition = await _definition(session, principal, query.definition_key)
    native = PeriodKind(definition.aggregation_period)
    grain = PeriodKind(query.grain) if query.grain is not None else native
    if is_finer(grain, native):
        raise InvalidInput(
            f"KPI {definition.key!r} is measured {native}; it can be shown "
            f"{native} or coarser, not {grain}.",
            errors=[field_error(["query", "grain"], "finer than the KPI's own")],
        )
    today = settings.today()
    first = query.start
    last = query.end if query.end is not None else today
    if last < first:
        # Only an omitted end can get here: a given one is checked by the query model.
        raise InvalidInput(
            f"The range starts after today ({last}), its default end.",
            errors=[field_error(["query", "start"], "after today, the default end")],
        )
    if native_count(native, first, last) > MAX_PERIODS:
        raise InvalidInput(
            f"The range holds more than {MAX_PERIODS} {native} periods; ask for a shorter one.",
            errors=[field_error(["query", "start"], "range too long")],
        )
    buckets, starts, indexes = _plan(native, grain, first, last)
    head, _, found = await _series(
        session,
        principal,
        definition,
        (query.subject_type, subject_id),
        starts,
        indexes,
        first,
        last,
        native=grain is native,
    )
    derived = head["source"] == "members"
    points = [
        _point(
            definition,
            settings,
            b.period,
            b.expected,
            len(b.in_range),
            found.get(i),
            derived,
            today,
        )
        for i, b in enumerate(buckets)
    ]
    # The summary compares ended periods only: a period in progress is not a result yet.
    summary = summarize(
        [
            (b.period, p["value"], p["achievement"])
            if p["pace"] is None and not in_progress(b.period, today)
            else (b.period, None, None)
            for b, p in zip(buckets, points, strict=True)
        ],
        TargetType(definition.target_type),
    )
    # Plain values validated once, in pydantic's core, rather than a model per point.
    return TimeseriesRead.model_validate(
        {
            **head,
            "grain": grain.value,
            "range_start": first,
            "range_end": last,
            "points": points,
            "summary": {
                "points_with_value": summary.points_with_value,
                "latest": _named(summary.latest),
                "minimum": _named(summary.minimum),
                "maximum": _named(summary.maximum),
                "best": _named(summary.best),
                "change": summary.change,
                "change_pct": summary.change_pct,
                "change_from_previous_pct": summary.change_from_previous_pct,
            },
        }
    )


async def forecast(
    session: AsyncSession, settings: Settings, principal: Principal, query: ForecastQuery
) -> ForecastRead:
    """Pace of the current period, a linear trend of the next ones with prediction
    intervals, and how likely the current period's target is to be met."""
    subject_id = await readable_subject(session, principal, query.subject_type, query.subject_id)
    definition = await _definition(session, principal, query.definition_key)
    today = settings.today()
    periods = window(PeriodKind(definition.aggregation_period), today, query.history)
    current = periods[-1]
    head, rows, found = await _series(
        session,
        principal,
        definition,
        (query.subject_type, subject_id),
        [p.start for p in periods],
        range(len(periods)),
        periods[0].start,
        current.end,
        target_for=current,
    )
    now_row = found.get(query.history)
    target = ach.quantize(
        now_row.target if now_row and now_row.target is not None else rows.target_in_force
    )
    pace, pace_reason = pace_of_current(definition, settings, current, now_row, target)
    trend, trend_reason, projections, outlook = project(
        definition, periods, found, target, query.horizon
    )
    return ForecastRead.model_validate(
        {
            **head,
            "today": today,
            "current_period_start": current.start,
            "current_period_end": current.end,
            "pace": pace,
            "pace_reason": pace_reason,
            "trend": trend,
            "trend_reason": trend_reason,
            "projections": projections,
            "outlook": outlook,
        }
    )
