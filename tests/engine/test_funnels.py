"""Funnel arithmetic: conversions by hand, zero and missing stages, values over periods."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.funnels import (
    StageConversion,
    across_members,
    conversions,
    over_periods,
    percent,
    whole_periods,
)
from kpi_service.engine.vocabulary import PeriodKind

D = Decimal


def test_conversions_by_hand_from_seed_003() -> None:
    # Seed 003's funnel: 47 assigned, 40 contacted, 34 interested, 32 converted.
    got = conversions([D(47), D(40), D(34), D(32)])
    assert got == [
        StageConversion(D(47), None, D("100.000000")),
        StageConversion(D(40), D("85.106383"), D("85.106383")),
        StageConversion(D(34), D("85.000000"), D("72.340426")),
        StageConversion(D(32), D("94.117647"), D("68.085106")),
    ]


def test_a_zero_or_missing_stage_gives_no_rate_after_it_never_an_error() -> None:
    got = conversions([D(10), D(0), D(5), None, D(2)])
    assert [(c.from_previous, c.from_first) for c in got] == [
        (None, D(100)),
        (D(0), D(0)),
        (None, D(50)),
        (None, None),
        (None, D(20)),
    ]
    assert [(c.from_previous, c.from_first) for c in conversions([D(0), D(3)])] == [
        (None, None),
        (None, None),
    ]
    assert [(c.from_previous, c.from_first) for c in conversions([None, D(3)])] == [
        (None, None),
        (None, None),
    ]
    assert conversions([]) == []


def test_percent_rounds_half_to_even_at_six_places() -> None:
    assert percent(D(1), D(3)) == D("33.333333")
    assert percent(D(2), D(3)) == D("66.666667")
    assert percent(D("0.0000005"), D(100)) == D("0.000000")  # exactly half: to even
    assert percent(D("0.0000015"), D(100)) == D("0.000002")
    assert percent(D(5), D(4)) == D(125)  # a later stage may exceed an earlier one
    assert percent(D(1), D(0)) is None and percent(None, D(1)) is None


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12))
def test_conversions_agree_with_a_direct_computation(counts: list[int]) -> None:
    got = conversions([D(c) for c in counts])
    for i, c in enumerate(got):
        assert c.count == counts[i]
        previous = counts[i - 1] if i else 0
        assert c.from_previous == (percent(D(counts[i]), D(previous)) if i and previous else None)
        assert c.from_first == (percent(D(counts[i]), D(counts[0])) if counts[0] else None)


WEEKS = [
    (date(2026, 3, 2), D(6)),
    (date(2026, 3, 16), D(2)),
    (date(2026, 3, 9), None),
    (date(2026, 3, 23), D("1.5")),
]


@pytest.mark.parametrize(
    ("rollup", "expected"),
    [
        ("sum", D("9.5")),
        ("avg", D("3.166667")),
        ("min", D("1.5")),
        ("max", D(6)),
        ("last", D("1.5")),
    ],
)
def test_over_periods_uses_the_rollup_and_skips_periods_without_value(
    rollup: str, expected: Decimal
) -> None:
    assert over_periods(WEEKS, rollup) == expected


def test_over_periods_last_is_the_latest_period_with_a_value_not_the_last_given() -> None:
    assert over_periods(
        [(date(2026, 3, 9), D(4)), (date(2026, 3, 2), D(8)), (date(2026, 3, 16), None)], "last"
    ) == D(4)


def test_over_periods_without_any_value_is_none() -> None:
    assert over_periods([], "sum") is None
    assert over_periods([(date(2026, 3, 2), None)], "avg") is None


MEMBERS = [
    (date(2026, 3, 2), D(50)),
    (date(2026, 3, 2), D(70)),
    (date(2026, 3, 9), D(90)),
    (date(2026, 3, 9), None),
    (date(2026, 3, 16), None),
]


@pytest.mark.parametrize(
    ("rollup", "expected"),
    [
        # per week: sum 120, 90; avg 60, 90; min 50, 90; max 70, 90
        ("sum", D(210)),
        ("avg", D(75)),
        ("min", D(50)),
        ("max", D(90)),
    ],
)
def test_across_members_combines_each_period_then_the_periods(
    rollup: str, expected: Decimal
) -> None:
    assert across_members(MEMBERS, rollup) == expected


def test_across_members_of_one_subject_is_over_periods_even_for_last() -> None:
    own = [(date(2026, 3, 2), D(5)), (date(2026, 3, 9), D(7))]
    assert across_members(own, "last") == D(7) == over_periods(own, "last")
    assert across_members([], "sum") is None
    with pytest.raises(ValueError, match="cannot combine"):
        across_members(MEMBERS, "last")


@given(
    st.sampled_from(list(PeriodKind)),
    st.dates(date(2024, 11, 1), date(2027, 2, 1)),
    st.integers(0, 500),
)
def test_whole_periods_are_those_whose_days_all_lie_in_the_range(
    kind: PeriodKind, start: date, days: int
) -> None:
    end = start + timedelta(days=days)

    def period_of(day: date) -> tuple[Any, ...]:
        # Which period a day belongs to, computed from the calendar directly.
        iso = day.isocalendar()
        return {
            PeriodKind.DAILY: (day,),
            PeriodKind.WEEKLY: (iso.year, iso.week),
            PeriodKind.MONTHLY: (day.year, day.month),
            PeriodKind.QUARTERLY: (day.year, (day.month - 1) // 3),
            PeriodKind.YEARLY: (day.year,),
        }[kind]

    spans: dict[tuple[Any, ...], list[date]] = {}
    for i in range(-400, days + 401):  # every period touching the range, whole
        day = start + timedelta(days=i)
        spans.setdefault(period_of(day), []).append(day)
    whole = sorted(
        d for span in spans.values() if start <= min(span) and max(span) <= end for d in span
    )
    assert whole_periods(kind, start, end) == ((whole[0], whole[-1]) if whole else None)
