"""Reporting periods: aligned calendar periods and custom inclusive date ranges."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import assert_never
from zoneinfo import ZoneInfo

from kpi_service.engine.vocabulary import PeriodKind

_ONE_DAY = timedelta(days=1)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _bounds(kind: PeriodKind, day: date) -> tuple[date, date]:
    match kind:
        case PeriodKind.DAILY:
            return day, day
        case PeriodKind.WEEKLY:
            # ISO weeks run Monday to Sunday, whatever the calendar year.
            monday = day - timedelta(days=day.weekday())
            return monday, monday + timedelta(days=6)
        case PeriodKind.MONTHLY:
            return day.replace(day=1), _month_end(day.year, day.month)
        case PeriodKind.QUARTERLY:
            first_month = (day.month - 1) // 3 * 3 + 1
            return date(day.year, first_month, 1), _month_end(day.year, first_month + 2)
        case PeriodKind.YEARLY:
            return date(day.year, 1, 1), date(day.year, 12, 31)
        case _:
            assert_never(kind)


# From the finest grain to the coarsest.
GRAINS = (
    PeriodKind.DAILY,
    PeriodKind.WEEKLY,
    PeriodKind.MONTHLY,
    PeriodKind.QUARTERLY,
    PeriodKind.YEARLY,
)


def is_finer(grain: PeriodKind, than: PeriodKind) -> bool:
    """Whether grain is finer than `than` (a KPI's values cannot be split into finer periods)."""
    return GRAINS.index(grain) < GRAINS.index(than)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # Where local midnight falls in a DST gap (America/Santiago, America/Havana), fold=0
    # reads 00:00 with the pre-transition offset, which is exactly the instant the day
    # begins; the UTC round trip then shows it as the real wall time (01:00 new offset).
    # A day skipped entirely (Pacific/Apia 2011-12-30) becomes an empty range.
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start.astimezone(UTC).astimezone(tz)


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of days, aligned to a calendar kind or custom when kind is None."""

    kind: PeriodKind | None
    start: date
    end: date

    def __post_init__(self) -> None:
        """Reject empty ranges and aligned kinds whose bounds are not their calendar period."""
        if self.end < self.start:
            raise ValueError(f"period end {self.end} is before its start {self.start}")
        if self.kind is not None and _bounds(self.kind, self.start) != (self.start, self.end):
            raise ValueError(f"{self.start}..{self.end} is not a {self.kind} period")

    def instants(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Return the half-open aware range [first day 00:00, day after the last 00:00) in tz."""
        return local_midnight(self.start, tz), local_midnight(self.end + _ONE_DAY, tz)

    def contains(self, day: date) -> bool:
        """Return whether day lies within the period."""
        return self.start <= day <= self.end

    @property
    def days(self) -> int:
        """Number of days in the period, both ends included."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """Return the period of the same kind just before this one."""
        return containing(self._aligned_kind(), self.start - _ONE_DAY)

    def next(self) -> Period:
        """Return the period of the same kind just after this one."""
        return containing(self._aligned_kind(), self.end + _ONE_DAY)

    @property
    def is_aligned(self) -> bool:
        """Whether the period is a calendar period of some kind rather than a custom range."""
        return self.kind is not None

    def _aligned_kind(self) -> PeriodKind:
        if self.kind is None:
            raise ValueError("a custom period has no previous or next period")
        return self.kind


def containing(kind: PeriodKind, day: date) -> Period:
    """Return the period of the given kind that holds day."""
    start, end = _bounds(kind, day)
    return Period(kind, start, end)


def custom(start: date, end: date) -> Period:
    """Return a custom inclusive period from start to end."""
    return Period(None, start, end)


def aligned_or_custom(kind: PeriodKind, start: date, end: date) -> Period:
    """Return the aligned period of kind if it is exactly [start, end], else a custom period."""
    aligned = containing(kind, start)
    return aligned if (aligned.start, aligned.end) == (start, end) else custom(start, end)


def between(kind: PeriodKind, first: date, last: date) -> list[Period]:
    """Return every period of kind overlapping [first, last], oldest first."""
    if last < first:
        raise ValueError(f"range end {last} is before its start {first}")
    periods = [containing(kind, first)]
    while periods[-1].end < last:
        periods.append(periods[-1].next())
    return periods


def has_ended(last_day: date, today: date) -> bool:
    """Return whether a span ending on `last_day` is over on `today`."""
    return last_day < today


def is_final(period: Period, today: date) -> bool:
    """Return whether the period's last day is over, so its values can no longer change."""
    return has_ended(period.end, today)


def latest_final(kind: PeriodKind, today: date) -> Period:
    """Return the newest period of kind that is final on today."""
    return containing(kind, today).previous()


def local_today(tz: ZoneInfo, now: datetime) -> date:
    """Return the calendar date in tz at the aware instant now."""
    if now.utcoffset() is None:
        # A naive datetime would silently be read as the server's local time.
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def elapsed_fraction(period: Period, today: date) -> Decimal:
    """Return the share of the period's days that lie strictly before today, from 0 to 1."""
    elapsed = min(max((today - period.start).days, 0), period.days)
    return Decimal(elapsed) / Decimal(period.days)
