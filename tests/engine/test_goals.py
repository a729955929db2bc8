"""Goal ranges and progress: hand-worked examples and a plain-Python recomputation."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_service.engine.goals import (
    MAX_CUSTOM_DAYS,
    GoalPeriodError,
    Measured,
    check_fits,
    first_start_in,
    goal_period,
    goal_progress,
    is_achieved,
    rolled_value,
    settles_on,
    stamped_too_early,
)
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import GoalPeriodKind, GoalStatus, PeriodKind

D = Decimal
MONTHLY, QUARTERLY, YEARLY, CUSTOM = (
    GoalPeriodKind.MONTHLY,
    GoalPeriodKind.QUARTERLY,
    GoalPeriodKind.YEARLY,
    GoalPeriodKind.CUSTOM,
)


@pytest.mark.parametrize(
    ("kind", "day", "start", "end"),
    [
        (MONTHLY, date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 28)),
        (MONTHLY, date(2028, 2, 29), date(2028, 2, 1), date(2028, 2, 29)),
        (MONTHLY, date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
        (QUARTERLY, date(2026, 5, 20), date(2026, 4, 1), date(2026, 6, 30)),
        (QUARTERLY, date(2026, 10, 1), date(2026, 10, 1), date(2026, 12, 31)),
        (YEARLY, date(2026, 7, 4), date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_calendar_goals_cover_the_period_holding_any_of_its_days(
    kind: GoalPeriodKind, day: date, start: date, end: date
) -> None:
    assert goal_period(kind, day, None) == Period(PeriodKind(kind.value), start, end)
    # Its own last day may be repeated; any other is refused.
    assert goal_period(kind, day, end).end == end
    with pytest.raises(GoalPeriodError) as refused:
        goal_period(kind, day, end - timedelta(days=1))
    assert refused.value.field == "period_end"


def test_custom_goals_are_exactly_their_dates() -> None:
    period = goal_period(CUSTOM, date(2026, 3, 10), date(2026, 4, 9))
    assert (period.kind, period.start, period.end) == (None, date(2026, 3, 10), date(2026, 4, 9))
    assert goal_period(CUSTOM, date(2026, 3, 10), date(2026, 3, 10)).days == 1
    longest = date(2026, 1, 1) + timedelta(days=MAX_CUSTOM_DAYS - 1)
    assert goal_period(CUSTOM, date(2026, 1, 1), longest).days == MAX_CUSTOM_DAYS
    for start, end, reason in (
        (date(2026, 3, 10), None, "needs a period_end"),
        (date(2026, 3, 10), date(2026, 3, 9), "before"),
        (date(2026, 1, 1), longest + timedelta(days=1), "at most"),
    ):
        with pytest.raises(GoalPeriodError, match=reason) as refused:
            goal_period(CUSTOM, start, end)
        assert refused.value.field == "period_end"


@pytest.mark.parametrize(
    ("kpi", "start", "end", "first"),
    [
        (PeriodKind.DAILY, date(2026, 3, 10), date(2026, 3, 10), date(2026, 3, 10)),
        # 2026-03-10 is a Tuesday: the first week starting in range is Monday the 16th.
        (PeriodKind.WEEKLY, date(2026, 3, 10), date(2026, 3, 16), date(2026, 3, 16)),
        (PeriodKind.WEEKLY, date(2026, 3, 10), date(2026, 3, 15), None),
        (PeriodKind.WEEKLY, date(2026, 3, 9), date(2026, 3, 9), date(2026, 3, 9)),
        (PeriodKind.MONTHLY, date(2026, 1, 2), date(2026, 1, 31), None),
        (PeriodKind.MONTHLY, date(2026, 1, 2), date(2026, 2, 1), date(2026, 2, 1)),
        (PeriodKind.QUARTERLY, date(2026, 2, 1), date(2026, 4, 1), date(2026, 4, 1)),
        (PeriodKind.YEARLY, date(2026, 1, 1), date(2026, 12, 31), date(2026, 1, 1)),
    ],
)
def test_first_period_start_in_a_range(
    kpi: PeriodKind, start: date, end: date, first: date | None
) -> None:
    assert first_start_in(kpi, Period(None, start, end)) == first


def test_a_goal_must_be_able_to_count_a_period() -> None:
    january = goal_period(MONTHLY, date(2026, 1, 1), None)
    for kpi in (PeriodKind.DAILY, PeriodKind.WEEKLY, PeriodKind.MONTHLY):
        check_fits(MONTHLY, january, kpi)
    # A month is finer than a quarter, even January, which holds one's start.
    for kpi in (PeriodKind.QUARTERLY, PeriodKind.YEARLY):
        with pytest.raises(GoalPeriodError, match="cannot be set") as refused:
            check_fits(MONTHLY, january, kpi)
        assert refused.value.field == "period_kind"
    check_fits(YEARLY, goal_period(YEARLY, date(2026, 5, 1), None), PeriodKind.QUARTERLY)
    with pytest.raises(GoalPeriodError, match="no monthly period") as refused:
        check_fits(CUSTOM, Period(None, date(2026, 1, 2), date(2026, 1, 31)), PeriodKind.MONTHLY)
    assert refused.value.field == "period_end"
    check_fits(CUSTOM, Period(None, date(2026, 1, 31), date(2026, 2, 1)), PeriodKind.MONTHLY)


def test_rollups_over_hand_worked_periods() -> None:
    # Periods 4, 1.5, 7, 2.5 in time order: total 15, mean 3.75, min 1.5, max 7, last 2.5.
    measured = Measured(4, D("15"), D("1.5"), D("7"), D("2.5"))
    assert [rolled_value(measured, r) for r in ("sum", "avg", "min", "max", "last")] == [
        D("15"),
        D("3.75"),
        D("1.5"),
        D("7"),
        D("2.5"),
    ]
    # A mean that does not end is kept to six places, half to even, like stored values.
    assert rolled_value(Measured(3, D(2), D(0), D(1), D(1)), "avg") == D("0.666667")
    assert rolled_value(Measured(0), "sum") is None
    with pytest.raises(ValueError, match="unknown rollup"):
        rolled_value(Measured(1, D(1), D(1), D(1), D(1)), "median")


@pytest.mark.parametrize(
    ("value", "target", "target_type", "progress", "judged"),
    [
        ("45", "60", "higher_better", "75", GoalStatus.OFF_TRACK),
        ("50", "60", "higher_better", "83.333333", GoalStatus.AT_RISK),
        ("90", "60", "higher_better", "150", GoalStatus.MET),
        ("3", "2", "lower_better", "66.666667", GoalStatus.OFF_TRACK),
        ("0", "2", "lower_better", "100", GoalStatus.MET),
        ("1", "2", "lower_better", "200", GoalStatus.MET),
        ("11", "10", "exact", "90", GoalStatus.AT_RISK),
        ("9", "10", "exact", "90", GoalStatus.AT_RISK),
        ("30", "10", "exact", "0", GoalStatus.OFF_TRACK),
        ("0", "0", "higher_better", "100", GoalStatus.MET),
        ("0", "0", "lower_better", "100", GoalStatus.MET),
        ("1", "0", "lower_better", "0", GoalStatus.OFF_TRACK),
        ("0", "0", "exact", "100", GoalStatus.MET),
        ("0.5", "0", "exact", "0", GoalStatus.OFF_TRACK),
    ],
)
def test_progress_is_achievement_against_the_goal(
    value: str, target: str, target_type: str, progress: str, judged: GoalStatus
) -> None:
    result = goal_progress(
        Measured(2, D(value), D(value), D(value), D(value)),
        rollup="sum",
        target=D(target),
        target_type=target_type,
        warning_threshold=D(80),
    )
    assert (result.current_value, result.progress, result.status) == (D(value), D(progress), judged)
    assert result.periods_counted == 2 and result.reason is None
    assert result.reached is (D(progress) >= 100)


def test_the_warning_threshold_is_the_definitions() -> None:
    measured = Measured(1, D(70), D(70), D(70), D(70))
    at = goal_progress(
        measured, rollup="last", target=D(100), target_type="higher_better", warning_threshold=D(60)
    )
    assert at.status is GoalStatus.AT_RISK
    off = goal_progress(
        measured, rollup="last", target=D(100), target_type="higher_better", warning_threshold=D(75)
    )
    assert off.status is GoalStatus.OFF_TRACK


def test_no_period_means_no_progress_never_zero() -> None:
    result = goal_progress(
        Measured(0),
        rollup="sum",
        target=D(10),
        target_type="higher_better",
        warning_threshold=D(80),
    )
    assert (result.current_value, result.progress, result.status) == (
        None,
        None,
        GoalStatus.NO_DATA,
    )
    assert result.periods_counted == 0 and result.reason and not result.reached


values = st.lists(
    st.decimals(
        min_value=D("-1000"), max_value=D("100000"), places=2, allow_nan=False, allow_infinity=False
    ),
    min_size=1,
    max_size=40,
)


@given(
    values,
    st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2),
    st.sampled_from(["sum", "avg", "min", "max", "last"]),
    st.sampled_from(["higher_better", "lower_better", "exact"]),
)
def test_progress_matches_a_plain_recomputation(
    periods: list[Decimal], target: Decimal, rollup: str, target_type: str
) -> None:
    measured = Measured(len(periods), sum(periods, D(0)), min(periods), max(periods), periods[-1])
    result = goal_progress(
        measured, rollup=rollup, target=target, target_type=target_type, warning_threshold=D(80)
    )
    plain_by_rollup: dict[str, Decimal | float] = {
        "sum": sum(periods, D(0)),
        "min": min(periods),
        "max": max(periods),
        "last": periods[-1],
        "avg": statistics.fmean(float(p) for p in periods),
    }
    plain = plain_by_rollup[rollup]
    assert result.current_value is not None and result.progress is not None
    assert float(result.current_value) == pytest.approx(float(plain), abs=1e-6)
    a, t = float(result.current_value), float(target)
    expected = {
        "higher_better": a / t * 100,
        "lower_better": 100.0 if a <= 0 else t / a * 100,
        "exact": max(0.0, 100 - abs(a - t) / t * 100),
    }[target_type]
    assert float(result.progress) == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert result.progress == result.progress.quantize(D("0.000001"), rounding=ROUND_HALF_EVEN)


DEC = Period(PeriodKind.MONTHLY, date(2026, 12, 1), date(2026, 12, 31))
SIXTH, JAN_2 = date(2026, 12, 6), date(2027, 1, 2)


def _achieved(
    values: list[str],
    target: str,
    target_type: str,
    rollup: str,
    today: date,
    goal: Period = DEC,
    kind: PeriodKind = PeriodKind.WEEKLY,
) -> bool:
    numbers = [Decimal(v) for v in values]
    measured = Measured(
        len(numbers), sum(numbers, Decimal(0)), min(numbers), max(numbers), numbers[-1]
    )
    progress = goal_progress(
        measured,
        rollup=rollup,
        target=Decimal(target),
        target_type=target_type,
        warning_threshold=Decimal(80),
    )
    return is_achieved(
        progress,
        measured,
        rollup=rollup,
        target_type=target_type,
        goal=goal,
        kpi_kind=kind,
        today=today,
    )


def test_a_growing_total_is_achieved_as_soon_as_it_reaches_its_target() -> None:
    # 6 + 5 = 11 conversions against 10, on the 6th: no later week can take them back.
    assert _achieved(["6", "5"], "10", "higher_better", "sum", SIXTH)
    assert not _achieved(["6", "3"], "10", "higher_better", "sum", SIXTH)
    # A refund (a negative value) shows the total can fall: wait for the range's end.
    assert not _achieved(["12", "-1"], "10", "higher_better", "sum", SIXTH)


@pytest.mark.parametrize(
    ("values", "target", "target_type", "rollup"),
    [
        (["3", "5"], "4", "higher_better", "avg"),  # average 4: later weeks can lower it
        (["2", "1"], "2", "lower_better", "avg"),  # 1.5 hours, at or under 2
        (["10"], "10", "exact", "sum"),  # a sum hitting an exact target
        (["3", "5"], "5", "higher_better", "last"),
        (["5", "6"], "5", "higher_better", "min"),
        (["1", "9"], "9", "higher_better", "max"),
        (["4"], "5", "lower_better", "sum"),
    ],
)
def test_any_other_goal_waits_for_its_range_to_end(
    values: list[str], target: str, target_type: str, rollup: str
) -> None:
    assert not _achieved(values, target, target_type, rollup, SIXTH)
    # December's last week (28 Dec - 3 Jan) counts whole: the goal settles on 4 January.
    assert not _achieved(values, target, target_type, rollup, JAN_2)
    assert _achieved(values, target, target_type, rollup, date(2027, 1, 4))
    assert settles_on(DEC, PeriodKind.WEEKLY) == date(2027, 1, 3)
    assert settles_on(DEC, PeriodKind.MONTHLY) == date(2026, 12, 31)


def test_a_stamp_before_the_result_was_settled_is_too_early() -> None:
    measured = Measured(1, Decimal(4), Decimal(4), Decimal(4), Decimal(4))
    early: dict[str, Any] = {
        "rollup": "avg",
        "target_type": "higher_better",
        "goal": DEC,
        "kpi_kind": PeriodKind.MONTHLY,
    }
    assert stamped_too_early(SIXTH, measured, **early)
    assert not stamped_too_early(JAN_2, measured, **early)
    # A growing total reached on the 6th was settled then.
    assert not stamped_too_early(
        SIXTH,
        measured,
        rollup="sum",
        target_type="higher_better",
        goal=DEC,
        kpi_kind=PeriodKind.MONTHLY,
    )
