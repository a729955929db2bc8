"""One statement per series: a subject's (or its members') measurements combined per bucket."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    Integer,
    Numeric,
    and_,
    case,
    column,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.engine.periods import Period
from kpi_service.models import Assignment, AssignmentTarget, Measurement

_AGGREGATES: dict[str, Callable[[Any], Any]] = {
    "sum": func.sum, "avg": func.avg, "min": func.min, "max": func.max}


@dataclass(frozen=True, slots=True)
class BucketRow:
    """A bucket's combined value, target and baseline, with counts."""

    bucket: int
    value: Decimal | None
    target: Decimal | None
    baseline: Decimal | None
    measured: int
    final: bool
    calculated_at: datetime | None
    members_measured: int


@dataclass(frozen=True, slots=True)
class SeriesRows:
    """What the statement found: whose values these are, and the buckets that have rows."""

    own: bool
    members: int
    target_in_force: Decimal | None
    buckets: list[BucketRow]


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    """Which measurements to combine, and how."""

    tenant_id: str
    definition_id: int
    subject_type: str
    subject_id: str
    rollup: str
    # Native period start -> bucket index; only these periods are read.
    buckets: Sequence[tuple[date, int]]
    range_start: date
    range_end: date
    derive: bool
    # The period whose target in force (per member, combined) the forecast needs.
    target_for: Period | None = None


def _combine(rollup: str, value: Any) -> Any:
    # Within one period of one subject there is a single row, so `last` is any aggregate.
    return _AGGREGATES.get(rollup, func.max)(value)


def _latest(value: Any, order: Any, having: Any) -> Any:
    ordered = func.array_agg(aggregate_order_by(value, order.desc()), type_=ARRAY(Numeric))
    return ordered.filter(having)[1]


def _members_condition(subject_type: str, subject_id: str) -> ColumnElement[bool]:
    if subject_type == "team":
        return and_(Assignment.subject_type == "user", Assignment.team_id == subject_id)
    return Assignment.subject_type != "organization"


def _target_in_force(assignment_id: Any, tenant_id: str, day: date) -> Any:
    def pick(*conditions: Any, newest: bool) -> Any:
        order = AssignmentTarget.effective_from
        return (select(AssignmentTarget.target_value)
                .where(AssignmentTarget.tenant_id == tenant_id,
                       AssignmentTarget.assignment_id == assignment_id, *conditions)
                .order_by(order.desc() if newest else order.asc()).limit(1).scalar_subquery())
    # Before its first target took effect, an assignment's first target is the one it has.
    return func.coalesce(pick(AssignmentTarget.effective_from <= day, newest=True),
                         pick(newest=False))


class SeriesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def series(self, request: SeriesRequest) -> SeriesRows:
        """Every bucket's combined values, in one statement."""
        r = request
        cols = (Assignment.id, Assignment.subject_id, Assignment.start_date,
                Assignment.end_date, Assignment.baseline_value)
        mine = and_(Assignment.tenant_id == r.tenant_id,
                    Assignment.definition_id == r.definition_id)
        own = select(*cols).where(mine, Assignment.subject_type == r.subject_type,
                                  Assignment.subject_id == r.subject_id).cte("own")
        src = own
        if r.derive:
            members = select(*cols).where(mine, _members_condition(r.subject_type, r.subject_id),
                                          ~exists(select(own.c.id)))
            src = union_all(select(*own.c), members).cte("src")

        starts = literal([s for s, _ in r.buckets], ARRAY(Date))
        indexes = literal([b for _, b in r.buckets], ARRAY(Integer))
        mapping = (func.unnest(starts, indexes)
                   .table_valued(column("period_start", Date), column("bucket", Integer))
                   .render_derived(name="period_map"))
        m = Measurement
        first = min((s for s, _ in r.buckets), default=r.range_start)
        last = max((s for s, _ in r.buckets), default=r.range_start)
        chosen = (
            select(src.c.subject_id, m.period_start, m.actual_value.label("value"),
                   m.target_value.label("target"), src.c.baseline_value.label("baseline"),
                   m.is_final, m.calculated_at, mapping.c.bucket)
            # A subject with two assignments in one period counts once: the newer one.
            .ext(distinct_on(src.c.subject_id, m.period_start))
            .select_from(src)
            .join(m, and_(m.tenant_id == r.tenant_id, m.assignment_id == src.c.id))
            .join(mapping, mapping.c.period_start == m.period_start)
            .where(m.definition_id == r.definition_id, m.aligned.is_(True),
                   m.period_start >= first, m.period_start <= last)
            .order_by(src.c.subject_id, m.period_start, src.c.start_date.desc())
            .cte("chosen")
        )
        c = chosen.c
        has = c.value.isnot(None)
        per_period = select(
            c.bucket, c.period_start, _combine(r.rollup, c.value).label("value"),
            _combine(r.rollup, c.target).filter(has).label("target"),
            case((func.count(c.baseline).filter(has) == func.count(c.value),
                  _combine(r.rollup, c.baseline).filter(has))).label("baseline"),
            func.bool_and(c.is_final).label("final"),
            func.max(c.calculated_at).label("calculated_at"),
        ).group_by(c.bucket, c.period_start).cte("per_period")
        p = per_period.c
        has_p = p.value.isnot(None)
        if r.rollup in _AGGREGATES:
            combine = _AGGREGATES[r.rollup]
            value, target = combine(p.value), combine(p.target).filter(has_p)
            baseline = case((func.count(p.baseline).filter(has_p) == func.count(p.value),
                             combine(p.baseline).filter(has_p)))
        else:
            value = _latest(p.value, p.period_start, has_p)
            target = _latest(p.target, p.period_start, has_p)
            baseline = _latest(p.baseline, p.period_start, has_p)
        buckets = select(
            p.bucket, value.label("value"), target.label("target"),
            baseline.label("baseline"), func.count(p.value).label("measured"),
            func.bool_and(p.final).label("final"),
            func.max(p.calculated_at).label("calculated_at"),
        ).group_by(p.bucket).subquery("buckets")
        counted = select(c.bucket, func.count(distinct(c.subject_id)).filter(has).label("n")
                         ).group_by(c.bucket).subquery("counted")

        in_range = and_(src.c.start_date <= r.range_end,
                        or_(src.c.end_date.is_(None), src.c.end_date >= r.range_start))
        own_count = select(func.count()).select_from(own).scalar_subquery()
        member_count = (select(func.count(distinct(src.c.subject_id))).where(in_range)
                        .scalar_subquery())
        one = select(literal(1).label("one")).subquery("one")
        stmt = (
            select(own_count, member_count, self._target(r, src), buckets.c.bucket,
                   buckets.c.value, buckets.c.target, buckets.c.baseline, buckets.c.measured,
                   buckets.c.final, buckets.c.calculated_at, counted.c.n)
            .select_from(one)
            .outerjoin(buckets.join(counted, counted.c.bucket == buckets.c.bucket), true())
            .order_by(buckets.c.bucket)
        )
        rows = (await self.session.execute(stmt)).all()
        head = rows[0]
        return SeriesRows(
            own=head[0] > 0, members=head[1], target_in_force=head[2],
            buckets=[BucketRow(row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10])
                     for row in rows if row[3] is not None])

    def _target(self, r: SeriesRequest, src: Any) -> Any:
        if r.target_for is None:
            return literal(None).label("target_in_force")
        period = r.target_for
        in_force = (
            select(_target_in_force(src.c.id, r.tenant_id, period.end).label("target"))
            .ext(distinct_on(src.c.subject_id))
            .where(src.c.start_date <= period.end,
                   or_(src.c.end_date.is_(None), src.c.end_date >= period.start))
            .order_by(src.c.subject_id, src.c.start_date.desc())
            .subquery("in_force")
        )
        return select(_combine(r.rollup, in_force.c.target)).scalar_subquery()
