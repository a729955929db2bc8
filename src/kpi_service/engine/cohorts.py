"""Signup cohorts: the months a report covers and when a retention week can be judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from kpi_service.engine.funnels import percent

# The weeks after signup whose retention is reported.
RETENTION_WEEKS = (1, 4, 12)
WEEK = timedelta(days=7)  # exactly 168 hours: a timedelta knows no daylight saving


def cohort_months(last_day: date, months: int) -> list[date]:
    """The first days of the `months` calendar months ending with the one holding last_day,
    oldest first."""
    if months < 1:
        raise ValueError("months must be at least 1")
    last = last_day.year * 12 + last_day.month - 1
    return [date(n // 12, n % 12 + 1, 1) for n in range(last - months + 1, last + 1)]


def month_after(first_day: date) -> date:
    """The first day of the month after the one starting on first_day."""
    n = first_day.year * 12 + first_day.month
    return date(n // 12, n % 12 + 1, 1)


def retention_window(signup_at: datetime, week: int) -> tuple[datetime, datetime]:
    """The half-open instants of week `week` after a signup: [signup + 7k days, + 7(k+1) days),
    in exact hours whatever the signup's time zone."""
    if signup_at.utcoffset() is None:
        raise ValueError("signup_at must be timezone-aware")
    # In UTC: adding to a zoned datetime would move its wall clock, not the instant.
    at = signup_at.astimezone(UTC)
    return at + week * WEEK, at + (week + 1) * WEEK


def week_elapsed(latest_signup: datetime, week: int, now: datetime) -> bool:
    """Whether week `week` has ended for every member of a cohort whose latest signup is given."""
    return retention_window(latest_signup, week)[1] <= now


@dataclass(frozen=True, slots=True)
class Retention:
    """Members active in one week after their signup; None while that week is not over."""

    week: int
    retained: int | None
    percent: Decimal | None


def retention(
    size: int, retained: int, latest_signup: datetime | None, week: int, now: datetime
) -> Retention:
    """A cohort's retention in a week: counts once the week has ended for all its members;
    an empty cohort has nothing to report."""
    if size == 0 or latest_signup is None or not week_elapsed(latest_signup, week, now):
        return Retention(week, None, None)
    return Retention(week, retained, percent(Decimal(retained), Decimal(size)))
