"""Cohort rules: the months a report covers, retention weeks in exact hours, what is elapsed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kpi_service.engine.cohorts import (
    Retention,
    cohort_months,
    month_after,
    retention,
    retention_window,
    week_elapsed,
)


def test_cohort_months_run_oldest_first_across_a_year() -> None:
    assert cohort_months(date(2026, 2, 17), 4) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    assert cohort_months(date(2026, 1, 31), 1) == [date(2026, 1, 1)]
    assert len(cohort_months(date(2026, 1, 1), 36)) == 36
    assert cohort_months(date(2026, 1, 1), 36)[0] == date(2023, 2, 1)
    with pytest.raises(ValueError, match="at least 1"):
        cohort_months(date(2026, 1, 1), 0)


def test_month_after() -> None:
    assert month_after(date(2025, 12, 1)) == date(2026, 1, 1)
    assert month_after(date(2026, 1, 1)) == date(2026, 2, 1)


def test_retention_weeks_are_exact_hours_across_a_time_change() -> None:
    # New York leaves summer time on 2 November 2025: a week later is 168 hours later,
    # 11:00 on the wall clock, not 12:00.
    ny = ZoneInfo("America/New_York")
    signup = datetime(2025, 10, 30, 12, 0, tzinfo=ny)
    start, end = retention_window(signup, 1)
    assert start == datetime(2025, 11, 6, 16, 0, tzinfo=UTC)
    assert start.astimezone(ny).hour == 11
    assert end - start == timedelta(hours=168)
    assert retention_window(signup, 12) == (
        signup.astimezone(UTC) + timedelta(hours=2016),
        signup.astimezone(UTC) + timedelta(hours=2184),
    )
    with pytest.raises(ValueError, match="aware"):
        retention_window(datetime(2025, 10, 30, 12, 0), 1)


def test_a_week_is_elapsed_once_its_last_instant_has_passed() -> None:
    signup = datetime(2026, 1, 1, tzinfo=UTC)
    end_of_week_1 = signup + timedelta(days=14)
    assert week_elapsed(signup, 1, end_of_week_1)
    assert not week_elapsed(signup, 1, end_of_week_1 - timedelta(microseconds=1))


def test_retention_counts_only_elapsed_weeks_of_non_empty_cohorts() -> None:
    latest = datetime(2026, 1, 20, tzinfo=UTC)
    now = latest + timedelta(days=20)  # week 1 ended (day 14), week 4 not (day 35)
    assert retention(8, 3, latest, 1, now) == Retention(1, 3, Decimal("37.500000"))
    assert retention(8, 0, latest, 1, now) == Retention(1, 0, Decimal(0))
    assert retention(8, 3, latest, 4, now) == Retention(4, None, None)
    assert retention(0, 0, None, 1, now) == Retention(1, None, None)
    assert retention(3, 1, latest, 1, now) == Retention(1, 1, Decimal("33.333333"))
