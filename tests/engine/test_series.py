"""Buckets of a grain over a KPI's own periods, and the summary of a series."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.periods import GRAINS, Period, between, containing, is_finer
from kpi_service.engine.series import (
    bucket_of,
    layout,
    native_count,
    summarize,
)
from kpi_service.engine.vocabulary import PeriodKind, TargetType

D, W, M, Q, Y = GRAINS


def test_weeks_go_to_the_month_of_their_thursday() -> None:
    # Mon 2026-06-29 .. Sun 2026-07-05: Thursday July 2 -> July (four of its days are July's).
    week = containing(W, date(2026, 6, 29))
    assert bucket_of(W, M, week) == containing(M, date(2026, 7, 1))
    # Mon 2026-03-30 .. Sun 2026-04-05: Thursday April 2 -> April, so Q2 too.
    spring = containing(W, date(2026, 3, 30))
    assert bucket_of(W, M, spring).start == date(2026, 4, 1)
    assert bucket_of(W, Q, spring).start == date(2026, 4, 1)
    # Mon 2024-12-30 .. Sun 2025-01-05 is ISO week 1 of 2025: Thursday January 2.
    assert bucket_of(W, Y, containing(W, date(2024, 12, 30))).start == date(2025, 1, 1)
    # Mon 2026-12-28 .. Sun 2027-01-03: Thursday December 31 -> 2026.
    assert bucket_of(W, Y, containing(W, date(2026, 12, 28))).start == date(2026, 1, 1)
    # Days and months go by their start.
    assert bucket_of(D, W, containing(D, date(2026, 3, 1))).start == date(2026, 2, 23)
    assert bucket_of(M, Q, containing(M, date(2026, 6, 1))).start == date(2026, 4, 1)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_a_week_lies_mostly_in_its_bucket(day: date) -> None:
    week = containing(W, day)
    for grain in (M, Q, Y):
        bucket = bucket_of(W, grain, week)
        inside = sum(1 for i in range(7) if bucket.contains(week.start + timedelta(days=i)))
        assert inside >= 4
        assert bucket.contains(week.start + timedelta(days=3))


def test_grain_order() -> None:
    assert [g.value for g in GRAINS] == ["daily", "weekly", "monthly", "quarterly", "yearly"]
    assert is_finer(D, W) and is_finer(M, Y) and not is_finer(W, W) and not is_finer(Y, D)
    with pytest.raises(ValueError):
        layout(M, W, date(2026, 1, 1), date(2026, 3, 1))


@given(
    st.sampled_from(GRAINS),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 1, 1)),
    st.integers(min_value=0, max_value=800),
)
def test_native_count_counts_what_between_lists(kind: PeriodKind, first: date, days: int) -> None:
    last = first + timedelta(days=days)
    assert native_count(kind, first, last) == len(between(kind, first, last))


def test_a_daily_kpi_by_month_over_a_range_cutting_both_ends() -> None:
    buckets = layout(D, M, date(2026, 1, 15), date(2026, 3, 10))
    assert [(b.period.start, b.period.end, b.expected, len(b.in_range)) for b in buckets] == [
        (date(2026, 1, 1), date(2026, 1, 31), 31, 17),
        (date(2026, 2, 1), date(2026, 2, 28), 28, 28),
        (date(2026, 3, 1), date(2026, 3, 31), 31, 10),
    ]
    assert buckets[0].in_range[0] == Period(D, date(2026, 1, 15), date(2026, 1, 15))


def test_a_weekly_kpi_by_month_counts_four_or_five_weeks() -> None:
    buckets = layout(W, M, date(2026, 3, 1), date(2026, 4, 30))
    # March 2026: Thursdays 5, 12, 19, 26 -> 4 weeks; April: 2, 9, 16, 23, 30 -> 5 weeks.
    assert [(b.period.start, b.expected) for b in buckets] == [
        (date(2026, 3, 1), 4),
        (date(2026, 4, 1), 5),
    ]
    assert [w.start for w in buckets[0].in_range] == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 23),
    ]
    # The week of Monday March 30 (Thursday April 2) is April's, and overlaps the range.
    assert buckets[1].in_range[0].start == date(2026, 3, 30)
    assert len(buckets[1].in_range) == 5


def test_native_grain_is_one_period_per_bucket() -> None:
    buckets = layout(W, W, date(2026, 3, 4), date(2026, 3, 18))
    assert [(b.period.start, b.expected, len(b.in_range)) for b in buckets] == [
        (date(2026, 3, 2), 1, 1),
        (date(2026, 3, 9), 1, 1),
        (date(2026, 3, 16), 1, 1),
    ]


@given(
    st.sampled_from(GRAINS),
    st.sampled_from(GRAINS),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=0, max_value=400),
)
def test_every_native_period_in_the_range_lands_in_exactly_one_bucket(
    native: PeriodKind, grain: PeriodKind, first: date, days: int
) -> None:
    if is_finer(grain, native):
        return
    last = first + timedelta(days=days)
    buckets = layout(native, grain, first, last)
    placed = [p for b in buckets for p in b.in_range]
    assert placed == [
        p
        for p in between(native, first, last)
        if bucket_of(native, grain, p) in {b.period for b in buckets}
    ]
    assert len(placed) == len(set(placed))
    for b in buckets:
        assert all(bucket_of(native, grain, p) == b.period for p in b.in_range)
        assert len(b.in_range) <= b.expected


def _points(*values: int | None) -> list[tuple[Period, Decimal | None, Decimal | None]]:
    start = date(2026, 1, 1)
    out = []
    for i, v in enumerate(values):
        month = containing(M, start.replace(month=i + 1))
        out.append(
            (
                month,
                None if v is None else Decimal(v),
                None if v is None else Decimal(100 - abs(v - 10)),
            )
        )
    return out


def test_summary_by_direction_with_ties_and_gaps() -> None:
    points = _points(12, None, 7, 12, 7, None, 9)
    higher = summarize(points, TargetType.HIGHER_BETTER)
    assert higher.points_with_value == 5
    assert higher.latest is not None and higher.latest.value == 9
    assert higher.maximum is not None and higher.maximum.period.start == date(2026, 1, 1)
    assert higher.minimum is not None and higher.minimum.period.start == date(2026, 3, 1)
    assert higher.best == higher.maximum
    assert higher.change == Decimal(-3) and higher.change_pct == Decimal("-25.000000")
    # The point before the latest (June) has no value: no change from the previous point.
    assert higher.change_from_previous_pct is None
    lower = summarize(points, TargetType.LOWER_BETTER)
    assert lower.best == lower.minimum
    exact = summarize(points, TargetType.EXACT)
    # Nearest the target of 10: 9 in July.
    assert exact.best is not None and exact.best.period.start == date(2026, 7, 1)
    tie = summarize(_points(12, 8), TargetType.EXACT)  # both 2 away from 10: the earlier
    assert tie.best is not None and tie.best.value == 12
    recent = summarize(_points(4, 5), TargetType.HIGHER_BETTER)
    assert recent.change_from_previous_pct == Decimal("25.000000")


def test_summary_of_nothing() -> None:
    empty = summarize(_points(None, None), TargetType.HIGHER_BETTER)
    assert empty.points_with_value == 0 and empty.latest is None and empty.best is None
    assert empty.change is None and empty.change_pct is None
