"""One statement per series: a subject's (or its members') measurements combined per bucket."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Numeric,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Grouping

from kpi_service.assignments.repository import in_force_during, target_as_of
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Assignment, Measurement

_AGGREGATES: dict[str, Callable[[Any], Any]] = {
    "sum": func.sum,
    "avg": func.avg,
    "min": func.min,
    "max": func.max,
}
# Plain table columns: the rows are read as tuples, without the ORM's per-row work.
_A = Assignment.__table__.c
_M = Measurement.__table__.c
_PLACES = 6


class BucketRow(NamedTuple):
    """A bucket's combined value, target and baseline, with counts; for a bucket that is one
    stored measurement, its stored achievement and status, and whether they still hold."""

    bucket: int
    value: Decimal | None
    target: Decimal | None
    baseline: Decimal | None
    measured: int
    final: bool
    calculated_at: datetime | None
    members_measured: int | None
    achievement: Decimal | None = None
    status: str | None = None
    stored: bool = False


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
    # The native periods read, by start day in ascending order, and the index of the bucket
    # each one goes to.
    starts: Sequence[date]
    indexes: Sequence[int]
    range_start: date
    range_end: date
    derive: bool
    # The period whose target in force (per member, combined) the forecast needs.
    target_for: Period | None = None
    # Every bucket is one native period (no roll-up).
    native: bool = False
    # The definition's version: stored scores of another version are not reused.
    version: int | None = None


@dataclass(frozen=True, slots=True)
class _Shape:
    """What changes the statement's text; everything else is a bound parameter, so each
    shape is built and compiled once and prepared once per connection."""

    rollup: str
    # Whose measurements: the subject's own assignment only, or else its members'.
    members: SubjectType | None
    # One subject and one native period per bucket: the rows are the measurements.
    native: bool
    target: bool


def _combine(rollup: str, value: Any) -> Any:
    # Within one period of one subject there is a single row, so `last` is any aggregate.
    return _AGGREGATES.get(rollup, func.max)(value)


def _whole(rollup: str, part: Any, value: Any) -> Any:
    """A target's or baseline's combination over the rows with a value, only when every one of
    them has one: a combined value judged against the targets of some of its parts would
    overstate it (an assignment without a target is left out of achievement, not counted)."""
    has = value.isnot(None)
    return case(
        (func.count(part).filter(has) == func.count(value), _combine(rollup, part).filter(has))
    )


def _latest(value: Any, order: Any, having: Any) -> Any:
    ordered = func.array_agg(aggregate_order_by(value, order.desc()), type_=ARRAY(Numeric))
    return ordered.filter(having)[1]


def _members_condition(members: SubjectType) -> ColumnElement[bool]:
    if members is SubjectType.TEAM:
        return and_(
            _A.subject_type == SubjectType.USER, _A.team_id == bindparam("subject_id", type_=Text)
        )
    return _A.subject_type != SubjectType.ORGANIZATION


def _exact(value: Any) -> ColumnElement[bool]:
    # Stored with at most six decimals: the series' rounding leaves the value as it is.
    return or_(value.is_(None), value == func.round(value, literal_column(str(_PLACES))))


def _target(shape: _Shape, src: Any) -> Any:
    if not shape.target:
        return literal(None, Numeric).label("target_in_force")
    start, end = bindparam("target_start", type_=Date), bindparam("target_end", type_=Date)
    in_force = (
        select(target_as_of(bindparam("tenant_id", type_=Text), src.c.id, end).label("target"))
        .ext(distinct_on(src.c.subject_id))
        .where(in_force_during(src.c.start_date, src.c.end_date, start, end))
        .order_by(src.c.subject_id, src.c.start_date.desc())
        .subquery("in_force")
    )
    # Members without a target leave the combined target out, as `_whole` does.
    combined = _combine(shape.rollup, in_force.c.target)
    return select(case((func.count(in_force.c.target) == func.count(), combined))).scalar_subquery()


@functools.cache
def _statement(shape: _Shape) -> Select[Any]:
    """The series statement of a shape, with every value a bound parameter."""
    tenant = bindparam("tenant_id", type_=Text)
    definition = bindparam("definition_id", type_=BigInteger)
    cols = (_A.id, _A.subject_id, _A.start_date, _A.end_date, _A.baseline_value, _A.updated_at)
    mine = and_(_A.tenant_id == tenant, _A.definition_id == definition)
    own = (
        select(*cols)
        .where(
            mine,
            _A.subject_type == bindparam("subject_type", type_=Text),
            _A.subject_id == bindparam("subject_id", type_=Text),
        )
        .cte("own")
    )
    src = own
    if shape.members is not None:
        members = select(*cols).where(
            mine, _members_condition(shape.members), ~exists(select(own.c.id))
        )
        src = union_all(select(*own.c), members).cte("src")

    # The periods read, ascending, and their buckets: width_bucket finds a period's place by
    # binary search, so the statement needs no join whose size a generic plan cannot know.
    # (Grouped: PostgreSQL subscripts a cast parameter only in parentheses.)
    starts = Grouping(bindparam("starts", type_=ARRAY(Date)))
    indexes = Grouping(bindparam("indexes", type_=ARRAY(Integer)))
    place = func.width_bucket(_M.period_start, starts, type_=Integer)
    stored = and_(
        _M.definition_version == bindparam("version", type_=Integer),
        # The assignment (its baseline) has not changed since the row was scored.
        _M.calculated_at >= src.c.updated_at,
        _exact(_M.actual_value),
        _exact(_M.target_value),
        _exact(src.c.baseline_value),
    )
    scores = (_M.achievement, _M.status, stored.label("stored")) if shape.native else ()
    chosen = (
        select(
            src.c.subject_id,
            _M.period_start,
            _M.actual_value.label("value"),
            _M.target_value.label("target"),
            src.c.baseline_value.label("baseline"),
            _M.is_final,
            _M.calculated_at,
            indexes[place].label("bucket"),
            *scores,
        )
        # A subject with two assignments in one period counts once: the newer one. A
        # measurement of a period after its assignment ended (superseded) is history only.
        .ext(distinct_on(src.c.subject_id, _M.period_start))
        .select_from(src)
        .join(Measurement.__table__, and_(_M.tenant_id == tenant, _M.assignment_id == src.c.id))
        .where(
            _M.definition_id == definition,
            _M.aligned.is_(True),
            in_force_during(src.c.start_date, src.c.end_date, _M.period_start, _M.period_end),
            _M.period_start >= bindparam("first", type_=Date),
            _M.period_start <= bindparam("last", type_=Date),
            starts[place] == _M.period_start,
        )
        .order_by(src.c.subject_id, _M.period_start, src.c.start_date.desc())
        .cte("chosen")
    )
    range_start = bindparam("range_start", type_=Date)
    range_end = bindparam("range_end", type_=Date)
    in_range = in_force_during(src.c.start_date, src.c.end_date, range_start, range_end)
    own_count = select(func.count()).select_from(own).scalar_subquery()
    member_count = select(func.count(distinct(src.c.subject_id))).where(in_range).scalar_subquery()
    one = select(literal(1).label("one")).subquery("one")
    head = (own_count, member_count, _target(shape, src))
    if shape.native:
        c = chosen.c
        has = c.value.isnot(None)
        return (
            select(
                *head,
                c.bucket,
                c.value,
                case((has, c.target)),
                case((has, c.baseline)),
                case((has, 1), else_=0),
                c.is_final,
                c.calculated_at,
                null(),
                c.achievement,
                c.status,
                c.stored,
            )
            .select_from(one)
            .outerjoin(chosen, true())
            .order_by(c.bucket)
        )
    buckets = _rolled_up(shape, chosen)
    b = buckets.c
    return (
        select(
            *head,
            b.bucket,
            b.value,
            b.target,
            b.baseline,
            b.measured,
            b.final,
            b.calculated_at,
            b.members_measured,
        )
        .select_from(one)
        .outerjoin(buckets, true())
        .order_by(b.bucket)
    )


def _rolled_up(shape: _Shape, chosen: Any) -> Any:
    """Each bucket's periods combined: first the subjects of a period, then the periods."""
    c = chosen.c
    rollup = shape.rollup
    ranked: Any = chosen
    newcomers: Any = cast(null(), Integer)
    if shape.members is not None:
        # Members with a value in a bucket, counted at their first valued period of it.
        first = (
            func.row_number().over(
                partition_by=(c.bucket, c.subject_id), order_by=(c.value.is_(None), c.period_start)
            )
            == 1
        )
        ranked = select(chosen, first.label("first")).subquery("ranked")
        newcomers = func.count().filter(and_(ranked.c.first, ranked.c.value.isnot(None)))
    r = ranked.c
    per_period = (
        select(
            r.bucket,
            r.period_start,
            _combine(rollup, r.value).label("value"),
            _whole(rollup, r.target, r.value).label("target"),
            _whole(rollup, r.baseline, r.value).label("baseline"),
            func.bool_and(r.is_final).label("final"),
            func.max(r.calculated_at).label("calculated_at"),
            newcomers.label("newcomers"),
        )
        .group_by(r.bucket, r.period_start)
        .cte("per_period")
    )
    p = per_period.c
    has_p = p.value.isnot(None)
    if rollup in _AGGREGATES:
        combine = _AGGREGATES[rollup]
        value = combine(p.value)
        target, baseline = _whole(rollup, p.target, p.value), _whole(rollup, p.baseline, p.value)
    else:
        value = _latest(p.value, p.period_start, has_p)
        target = _latest(p.target, p.period_start, has_p)
        baseline = _latest(p.baseline, p.period_start, has_p)
    return (
        select(
            p.bucket,
            value.label("value"),
            target.label("target"),
            baseline.label("baseline"),
            func.count(p.value).label("measured"),
            func.bool_and(p.final).label("final"),
            func.max(p.calculated_at).label("calculated_at"),
            func.sum(p.newcomers).cast(Integer).label("members_measured"),
        )
        .group_by(p.bucket)
        .subquery("buckets")
    )


def _shape(r: SeriesRequest) -> _Shape:
    members: SubjectType | None = None
    if r.derive:
        members = (
            SubjectType.TEAM if r.subject_type == SubjectType.TEAM else SubjectType.ORGANIZATION
        )
    return _Shape(
        rollup=r.rollup,
        members=members,
        native=r.native and members is None,
        target=r.target_for is not None,
    )


class SeriesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def series(self, request: SeriesRequest) -> SeriesRows:
        """Every bucket's combined values, in one statement."""
        r = request
        shape = _shape(r)
        starts = r.starts
        params: dict[str, Any] = {
            "tenant_id": r.tenant_id,
            "definition_id": r.definition_id,
            "subject_type": r.subject_type,
            "subject_id": r.subject_id,
            "starts": list(starts),
            "indexes": list(r.indexes),
            "first": starts[0] if starts else r.range_start,
            "last": starts[-1] if starts else r.range_start,
            "range_start": r.range_start,
            "range_end": r.range_end,
            # No version matches -1: without one, stored scores are never reused.
            "version": r.version if r.version is not None else -1,
        }
        if r.target_for is not None:
            params.update(target_start=r.target_for.start, target_end=r.target_for.end)
        rows = (await self.session.execute(_statement(shape), params)).all()
        head = rows[0]
        end = None if shape.native else 11
        buckets = [BucketRow(*row[3:end]) for row in rows if row[3] is not None]
        return SeriesRows(
            own=head[0] > 0, members=head[1], target_in_force=head[2], buckets=buckets
        )
