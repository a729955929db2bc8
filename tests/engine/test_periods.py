"""Calendar periods without a time zone: containing, construction, neighbours, ranges,
finality; time zones are in test_period_instants.py."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.periods import (
    Period,
    aligned_or_custom,
    between,
    containing,
    custom,
    is_final,
    latest_final,
)
from kpi_service.engine.vocabulary import PeriodKind

days_strategy = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
kinds_strategy = st.sampled_from(list(PeriodKind))


def span(start: date, end: date) -> tuple[date, date]:
    return start, end


def bounds(period: Period) -> tuple[date, date]:
    return period.start, period.end


# --- containing: each kind's boundaries ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "day", "expected"),
    [
        (PeriodKind.DAILY, date(2026, 3, 29), span(date(2026, 3, 29), date(2026, 3, 29))),
        # 2026-11-18 is a Wednesday: its week runs Monday 16th to Sunday 22nd.
        (PeriodKind.WEEKLY, date(2026, 11, 18), span(date(2026, 11, 16), date(2026, 11, 22))),
        (PeriodKind.WEEKLY, date(2026, 11, 16), span(date(2026, 11, 16), date(2026, 11, 22))),
        # Sunday belongs to the week that started the Monday before.
        (PeriodKind.WEEKLY, date(2026, 11, 22), span(date(2026, 11, 16), date(2026, 11, 22))),
        # ISO week 53 spanning two years.
        (PeriodKind.WEEKLY, date(2020, 12, 31), span(date(2020, 12, 28), date(2021, 1, 3))),
        (PeriodKind.WEEKLY, date(2021, 1, 3), span(date(2020, 12, 28), date(2021, 1, 3))),
        (PeriodKind.WEEKLY, date(2026, 12, 31), span(date(2026, 12, 28), date(2027, 1, 3))),
        (PeriodKind.WEEKLY, date(2027, 1, 1), span(date(2026, 12, 28), date(2027, 1, 3))),
        # 2019-12-31 is a Tuesday in ISO week 2020-W01.
        (PeriodKind.WEEKLY, date(2019, 12, 31), span(date(2019, 12, 30), date(2020, 1, 5))),
        (PeriodKind.MONTHLY, date(2026, 1, 15), span(date(2026, 1, 1), date(2026, 1, 31))),
        (PeriodKind.MONTHLY, date(2026, 4, 30), span(date(2026, 4, 1), date(2026, 4, 30))),
        (PeriodKind.MONTHLY, date(2026, 12, 1), span(date(2026, 12, 1), date(2026, 12, 31))),
        # Leap years: divisible by 4, except centuries unless divisible by 400.
        (PeriodKind.MONTHLY, date(2024, 2, 29), span(date(2024, 2, 1), date(2024, 2, 29))),
        (PeriodKind.MONTHLY, date(2026, 2, 10), span(date(2026, 2, 1), date(2026, 2, 28))),
        (PeriodKind.MONTHLY, date(2100, 2, 10), span(date(2100, 2, 1), date(2100, 2, 28))),
        (PeriodKind.MONTHLY, date(2000, 2, 10), span(date(2000, 2, 1), date(2000, 2, 29))),
        (PeriodKind.QUARTERLY, date(2026, 1, 1), span(date(2026, 1, 1), date(2026, 3, 31))),
        (PeriodKind.QUARTERLY, date(2026, 3, 31), span(date(2026, 1, 1), date(2026, 3, 31))),
        (PeriodKind.QUARTERLY, date(2026, 4, 1), span(date(2026, 4, 1), date(2026, 6, 30))),
        (PeriodKind.QUARTERLY, date(2026, 6, 30), span(date(2026, 4, 1), date(2026, 6, 30))),
        (PeriodKind.QUARTERLY, date(2026, 7, 1), span(date(2026, 7, 1), date(2026, 9, 30))),
        (PeriodKind.QUARTERLY, date(2026, 9, 30), span(date(2026, 7, 1), date(2026, 9, 30))),
        (PeriodKind.QUARTERLY, date(2026, 10, 1), span(date(2026, 10, 1), date(2026, 12, 31))),
        (PeriodKind.QUARTERLY, date(2026, 12, 31), span(date(2026, 10, 1), date(2026, 12, 31))),
        (PeriodKind.YEARLY, date(2026, 1, 1), span(date(2026, 1, 1), date(2026, 12, 31))),
        (PeriodKind.YEARLY, date(2026, 12, 31), span(date(2026, 1, 1), date(2026, 12, 31))),
    ],
)
def test_containing(kind: PeriodKind, day: date, expected: tuple[date, date]) -> None:
    period = containing(kind, day)
    assert period.kind is kind
    assert bounds(period) == expected
    assert period.contains(day)
    assert period.is_aligned


@pytest.mark.parametrize(
    ("kind", "day", "days"),
    [
        (PeriodKind.DAILY, date(2026, 5, 5), 1),
        (PeriodKind.WEEKLY, date(2026, 5, 5), 7),
        (PeriodKind.MONTHLY, date(2024, 2, 1), 29),
        (PeriodKind.MONTHLY, date(2100, 2, 1), 28),
        (PeriodKind.MONTHLY, date(2026, 1, 1), 31),
        (PeriodKind.QUARTERLY, date(2026, 1, 1), 90),  # 31 + 28 + 31
        (PeriodKind.QUARTERLY, date(2024, 1, 1), 91),  # 31 + 29 + 31
        (PeriodKind.QUARTERLY, date(2026, 4, 1), 91),  # 30 + 31 + 30
        (PeriodKind.QUARTERLY, date(2026, 7, 1), 92),  # 31 + 31 + 30
        (PeriodKind.QUARTERLY, date(2026, 10, 1), 92),  # 31 + 30 + 31
        (PeriodKind.YEARLY, date(2026, 6, 1), 365),
        (PeriodKind.YEARLY, date(2024, 6, 1), 366),
        (PeriodKind.YEARLY, date(2000, 6, 1), 366),
        (PeriodKind.YEARLY, date(2100, 6, 1), 365),
    ],
)
def test_days(kind: PeriodKind, day: date, days: int) -> None:
    assert containing(kind, day).days == days


# --- Period construction ----------------------------------------------------------------


def test_period_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="before"):
        Period(None, date(2026, 1, 2), date(2026, 1, 1))


def test_period_rejects_misaligned_bounds_for_its_kind() -> None:
    # 2026-11-17 is a Tuesday, so it cannot start a week.
    with pytest.raises(ValueError, match="not a weekly period"):
        Period(PeriodKind.WEEKLY, date(2026, 11, 17), date(2026, 11, 23))
    with pytest.raises(ValueError, match="not a monthly period"):
        Period(PeriodKind.MONTHLY, date(2026, 2, 1), date(2026, 2, 27))


def test_period_is_frozen_value() -> None:
    period = containing(PeriodKind.MONTHLY, date(2026, 5, 17))
    assert period == Period(PeriodKind.MONTHLY, date(2026, 5, 1), date(2026, 5, 31))
    assert hash(period) == hash(Period(PeriodKind.MONTHLY, date(2026, 5, 1), date(2026, 5, 31)))
    with pytest.raises(AttributeError):
        period.start = date(2026, 5, 2)  # type: ignore[misc]


def test_custom_period() -> None:
    period = custom(date(2026, 1, 10), date(2026, 1, 20))
    assert period.kind is None
    assert not period.is_aligned
    assert period.days == 11  # 10th to 20th inclusive
    assert custom(date(2026, 1, 10), date(2026, 1, 10)).days == 1
    with pytest.raises(ValueError):
        custom(date(2026, 1, 10), date(2026, 1, 9))


def test_custom_period_has_no_neighbours() -> None:
    period = custom(date(2026, 1, 10), date(2026, 1, 20))
    with pytest.raises(ValueError):
        period.previous()
    with pytest.raises(ValueError):
        period.next()


def test_contains_is_inclusive() -> None:
    period = custom(date(2026, 1, 10), date(2026, 1, 20))
    assert period.contains(date(2026, 1, 10))
    assert period.contains(date(2026, 1, 20))
    assert not period.contains(date(2026, 1, 9))
    assert not period.contains(date(2026, 1, 21))


# --- previous / next ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "day", "previous", "following"),
    [
        (
            PeriodKind.DAILY,
            date(2024, 3, 1),
            span(date(2024, 2, 29), date(2024, 2, 29)),
            span(date(2024, 3, 2), date(2024, 3, 2)),
        ),
        (
            PeriodKind.WEEKLY,
            date(2021, 1, 1),
            span(date(2020, 12, 21), date(2020, 12, 27)),
            span(date(2021, 1, 4), date(2021, 1, 10)),
        ),
        (
            PeriodKind.MONTHLY,
            date(2024, 3, 15),
            span(date(2024, 2, 1), date(2024, 2, 29)),
            span(date(2024, 4, 1), date(2024, 4, 30)),
        ),
        (
            PeriodKind.MONTHLY,
            date(2026, 1, 15),
            span(date(2025, 12, 1), date(2025, 12, 31)),
            span(date(2026, 2, 1), date(2026, 2, 28)),
        ),
        (
            PeriodKind.QUARTERLY,
            date(2026, 2, 1),
            span(date(2025, 10, 1), date(2025, 12, 31)),
            span(date(2026, 4, 1), date(2026, 6, 30)),
        ),
        (
            PeriodKind.QUARTERLY,
            date(2026, 11, 1),
            span(date(2026, 7, 1), date(2026, 9, 30)),
            span(date(2027, 1, 1), date(2027, 3, 31)),
        ),
        (
            PeriodKind.YEARLY,
            date(2026, 7, 7),
            span(date(2025, 1, 1), date(2025, 12, 31)),
            span(date(2027, 1, 1), date(2027, 12, 31)),
        ),
    ],
)
def test_previous_and_next(
    kind: PeriodKind,
    day: date,
    previous: tuple[date, date],
    following: tuple[date, date],
) -> None:
    period = containing(kind, day)
    assert bounds(period.previous()) == previous
    assert bounds(period.next()) == following
    assert period.previous().kind is kind
    assert period.next().kind is kind
    assert period.previous().next() == period
    assert period.next().previous() == period


# --- aligned_or_custom ------------------------------------------------------------------


def test_aligned_or_custom_recognises_aligned_range() -> None:
    period = aligned_or_custom(PeriodKind.MONTHLY, date(2024, 2, 1), date(2024, 2, 29))
    assert period == Period(PeriodKind.MONTHLY, date(2024, 2, 1), date(2024, 2, 29))
    week = aligned_or_custom(PeriodKind.WEEKLY, date(2020, 12, 28), date(2021, 1, 3))
    assert week.kind is PeriodKind.WEEKLY


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 2, 1), date(2024, 2, 28)),  # ends a day early
        (date(2024, 2, 2), date(2024, 2, 29)),  # starts a day late
        (date(2024, 2, 1), date(2024, 3, 31)),  # two months
    ],
)
def test_aligned_or_custom_falls_back_to_custom(start: date, end: date) -> None:
    assert aligned_or_custom(PeriodKind.MONTHLY, start, end) == Period(None, start, end)


def test_aligned_or_custom_rejects_reversed_range() -> None:
    with pytest.raises(ValueError):
        aligned_or_custom(PeriodKind.MONTHLY, date(2024, 2, 29), date(2024, 2, 1))


# --- between ------------------------------------------------------------------------------


def test_between_months_starting_and_ending_mid_period() -> None:
    periods = between(PeriodKind.MONTHLY, date(2023, 12, 15), date(2024, 3, 2))
    assert [bounds(p) for p in periods] == [
        span(date(2023, 12, 1), date(2023, 12, 31)),
        span(date(2024, 1, 1), date(2024, 1, 31)),
        span(date(2024, 2, 1), date(2024, 2, 29)),
        span(date(2024, 3, 1), date(2024, 3, 31)),
    ]
    assert all(p.kind is PeriodKind.MONTHLY for p in periods)


def test_between_weeks_across_iso_week_53() -> None:
    periods = between(PeriodKind.WEEKLY, date(2020, 12, 24), date(2021, 1, 4))
    assert [bounds(p) for p in periods] == [
        span(date(2020, 12, 21), date(2020, 12, 27)),
        span(date(2020, 12, 28), date(2021, 1, 3)),
        span(date(2021, 1, 4), date(2021, 1, 10)),
    ]


def test_between_exact_period_and_single_day() -> None:
    assert between(PeriodKind.QUARTERLY, date(2026, 4, 1), date(2026, 6, 30)) == [
        Period(PeriodKind.QUARTERLY, date(2026, 4, 1), date(2026, 6, 30))
    ]
    assert between(PeriodKind.YEARLY, date(2026, 5, 5), date(2026, 5, 5)) == [
        Period(PeriodKind.YEARLY, date(2026, 1, 1), date(2026, 12, 31))
    ]


def test_between_days_counts_every_day() -> None:
    # 2024-02-27 to 2024-03-02: 27, 28, 29 Feb and 1, 2 Mar.
    periods = between(PeriodKind.DAILY, date(2024, 2, 27), date(2024, 3, 2))
    assert [p.start for p in periods] == [
        date(2024, 2, 27),
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
        date(2024, 3, 2),
    ]


def test_between_quarters_across_years() -> None:
    periods = between(PeriodKind.QUARTERLY, date(2025, 11, 30), date(2026, 4, 1))
    assert [bounds(p) for p in periods] == [
        span(date(2025, 10, 1), date(2025, 12, 31)),
        span(date(2026, 1, 1), date(2026, 3, 31)),
        span(date(2026, 4, 1), date(2026, 6, 30)),
    ]


def test_between_rejects_reversed_range() -> None:
    with pytest.raises(ValueError):
        between(PeriodKind.DAILY, date(2026, 1, 2), date(2026, 1, 1))


# --- is_final / latest_final ------------------------------------------------------------


def test_is_final() -> None:
    week = containing(PeriodKind.WEEKLY, date(2026, 11, 18))  # 16th..22nd
    assert not is_final(week, date(2026, 11, 16))
    assert not is_final(week, date(2026, 11, 22))  # the last day is still running
    assert is_final(week, date(2026, 11, 23))


@pytest.mark.parametrize(
    ("kind", "today", "expected"),
    [
        # 2026-11-23 is a Monday: last week (Mon 16th..Sun 22nd) just closed.
        (PeriodKind.WEEKLY, date(2026, 11, 23), span(date(2026, 11, 16), date(2026, 11, 22))),
        # 2026-11-22 is a Sunday: its own week is still open.
        (PeriodKind.WEEKLY, date(2026, 11, 22), span(date(2026, 11, 9), date(2026, 11, 15))),
        (PeriodKind.DAILY, date(2026, 3, 1), span(date(2026, 2, 28), date(2026, 2, 28))),
        (PeriodKind.MONTHLY, date(2024, 3, 1), span(date(2024, 2, 1), date(2024, 2, 29))),
        (PeriodKind.MONTHLY, date(2024, 3, 31), span(date(2024, 2, 1), date(2024, 2, 29))),
        (PeriodKind.QUARTERLY, date(2026, 1, 1), span(date(2025, 10, 1), date(2025, 12, 31))),
        (PeriodKind.QUARTERLY, date(2026, 3, 31), span(date(2025, 10, 1), date(2025, 12, 31))),
        (PeriodKind.YEARLY, date(2026, 12, 31), span(date(2025, 1, 1), date(2025, 12, 31))),
    ],
)
def test_latest_final(kind: PeriodKind, today: date, expected: tuple[date, date]) -> None:
    assert date(2026, 11, 23).isoweekday() == 1
    period = latest_final(kind, today)
    assert bounds(period) == expected
    assert is_final(period, today)
    assert not is_final(period.next(), today)


# --- properties -------------------------------------------------------------------------


@given(kind=kinds_strategy, day=days_strategy)
def test_containing_holds_the_day(kind: PeriodKind, day: date) -> None:
    period = containing(kind, day)
    assert period.contains(day)
    assert period.kind is kind
    assert containing(kind, period.start) == period
    assert containing(kind, period.end) == period
    assert aligned_or_custom(kind, period.start, period.end) == period


@given(kind=kinds_strategy, day=days_strategy)
def test_previous_next_round_trip(kind: PeriodKind, day: date) -> None:
    period = containing(kind, day)
    assert period.previous().next() == period
    assert period.next().previous() == period


@given(kind=kinds_strategy, day=days_strategy)
def test_consecutive_periods_tile(kind: PeriodKind, day: date) -> None:
    period = containing(kind, day)
    assert period.previous().end + timedelta(days=1) == period.start
    assert period.end + timedelta(days=1) == period.next().start
    assert not period.contains(period.previous().end)
    assert not period.contains(period.next().start)


@given(
    kind=kinds_strategy,
    first=days_strategy,
    length=st.integers(min_value=0, max_value=800),
)
def test_between_covers_range_without_gaps(kind: PeriodKind, first: date, length: int) -> None:
    last = first + timedelta(days=length)
    periods = between(kind, first, last)
    assert periods[0].contains(first)
    assert periods[-1].contains(last)
    for earlier, later in pairwise(periods):
        assert earlier.end + timedelta(days=1) == later.start
        assert earlier.next() == later
