"""A date range laid out as buckets of a grain over a KPI's own (native) periods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Context, Decimal, localcontext
from typing import NamedTuple

from kpi_service.engine.achievement import change_pct, quantize
from kpi_service.engine.periods import Period, between, containing, is_finer
from kpi_service.engine.vocabulary import PeriodKind, TargetType

_THURSDAY = timedelta(days=3)
_WEEK_TAIL = timedelta(days=6)
# Differences of stored values are exact with this much precision (they hold 28+6 digits).
_CONTEXT = Context(prec=50)


def anchor(native: PeriodKind, grain: PeriodKind, period: Period) -> date:
    """The day that places a native period in its bucket of grain.

    A period's first day, except for an ISO week in a month, quarter or year: its Thursday,
    so the week goes where most of its days are (as ISO 8601 gives weeks to years).
    """
    if native is PeriodKind.WEEKLY and grain is not PeriodKind.WEEKLY:
        return period.start + _THURSDAY
    return period.start


def bucket_of(native: PeriodKind, grain: PeriodKind, period: Period) -> Period:
    """The period of grain that a native period rolls up into."""
    return containing(grain, anchor(native, grain, period))


def native_count(kind: PeriodKind, first: date, last: date) -> int:
    """How many periods of kind overlap [first, last], counted without listing them."""
    if last < first:
        raise ValueError(f"range end {last} is before its start {first}")
    if kind is PeriodKind.DAILY:
        return (last - first).days + 1
    if kind is PeriodKind.WEEKLY:
        return (containing(kind, last).start - containing(kind, first).start).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    if kind is PeriodKind.MONTHLY:
        return months + 1
    if kind is PeriodKind.QUARTERLY:
        return (last.year - first.year) * 4 + (last.month - 1) // 3 - (first.month - 1) // 3 + 1
    return last.year - first.year + 1


class Bucket(NamedTuple):
    """One point of a series: its period, how many native periods it holds, and which of
    them overlap the requested range."""

    period: Period
    expected: int
    in_range: tuple[Period, ...]


def _natives(native: PeriodKind, grain: PeriodKind, bucket: Period) -> list[Period]:
    if native is grain:
        return [bucket]
    # A week anchored in the bucket may begin up to six days before it.
    start = bucket.start - _WEEK_TAIL if native is PeriodKind.WEEKLY else bucket.start
    return [p for p in between(native, start, bucket.end) if bucket_of(native, grain, p) == bucket]


def layout(native: PeriodKind, grain: PeriodKind, first: date, last: date) -> list[Bucket]:
    """The buckets of grain overlapping [first, last], oldest first, each with its native
    periods (those overlapping the range listed as in range)."""
    if is_finer(grain, native):
        raise ValueError(f"a {native} KPI cannot be shown {grain}")
    if native is grain:
        # Every period is a bucket of its own, and overlaps the range.
        return [Bucket(period, 1, (period,)) for period in between(native, first, last)]
    buckets = []
    for period in between(grain, first, last):
        natives = _natives(native, grain, period)
        in_range = tuple(p for p in natives if p.start <= last and p.end >= first)
        buckets.append(Bucket(period, len(natives), in_range))
    return buckets


@dataclass(frozen=True, slots=True)
class Valued:
    """A bucket with a value, and its achievement if it had a target."""

    period: Period
    value: Decimal
    achievement: Decimal | None


@dataclass(frozen=True, slots=True)
class Summary:
    """The first things a reader looks for in a series."""

    points_with_value: int
    latest: Valued | None
    minimum: Valued | None
    maximum: Valued | None
    best: Valued | None
    change: Decimal | None
    change_pct: Decimal | None
    change_from_previous_pct: Decimal | None


def _best(valued: list[Valued], target_type: TargetType) -> Valued | None:
    if target_type is TargetType.HIGHER_BETTER:
        return max(valued, key=lambda v: v.value)
    if target_type is TargetType.LOWER_BETTER:
        return min(valued, key=lambda v: v.value)
    # Exact: the point nearest its target, read as the highest achievement.
    scored = [v for v in valued if v.achievement is not None]
    return max(scored, key=lambda v: v.achievement or 0) if scored else None


def summarize(
    points: Sequence[tuple[Period, Decimal | None, Decimal | None]], target_type: TargetType
) -> Summary:
    """Latest, lowest, highest and best points (ties: the earliest) and the changes, from
    (period, value, achievement) oldest first; points without a value are skipped."""
    valued = [Valued(p, v, a) for p, v, a in points if v is not None]
    if not valued:
        return Summary(0, None, None, None, None, None, None, None)
    first, latest = valued[0], valued[-1]
    before = [v for p, v, _ in points if p.end < latest.period.start]
    previous = before[-1] if before else None
    with localcontext(_CONTEXT):
        change = quantize(latest.value - first.value)
    return Summary(
        points_with_value=len(valued),
        latest=latest,
        minimum=min(valued, key=lambda v: v.value),
        maximum=max(valued, key=lambda v: v.value),
        best=_best(valued, target_type),
        change=change,
        change_pct=change_pct(latest.value, first.value),
        change_from_previous_pct=change_pct(latest.value, previous),
    )
