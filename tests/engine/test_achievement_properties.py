"""Properties of achievement, score, status, trend and overall score over generated values
(split from test_achievement.py, which holds the worked examples)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from kpi_service.engine.achievement import (
    achievement,
    change_pct,
    overall_score,
    quantize,
    score,
    status,
    trend,
)
from kpi_service.engine.vocabulary import Status, TargetType, Trend
from tests.support.engine import EXACT, HIGHER, LOWER, d


def numbers(low: str = "-1000000", high: str = "1000000") -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=d(low), max_value=d(high), places=4, allow_nan=False, allow_infinity=False
    )


# --- properties ---------------------------------------------------------------------------


@given(first=numbers(), second=numbers(), target=numbers("0.0001", "1000000"))
def test_higher_better_monotone_in_actual(first: Decimal, second: Decimal, target: Decimal) -> None:
    low, high = sorted((first, second))
    low_value = achievement(low, target, HIGHER)
    high_value = achievement(high, target, HIGHER)
    assert low_value is not None and high_value is not None
    assert low_value <= high_value


@given(
    first=numbers(),
    second=numbers(),
    target=numbers("0.0001", "1000"),
    gap=numbers("0.0001", "1000"),
)
def test_higher_better_with_baseline_monotone_and_floored(
    first: Decimal, second: Decimal, target: Decimal, gap: Decimal
) -> None:
    baseline = target - gap
    low, high = sorted((first, second))
    low_value = achievement(low, target, HIGHER, baseline)
    high_value = achievement(high, target, HIGHER, baseline)
    assert low_value is not None and high_value is not None
    assert Decimal(0) <= low_value <= high_value


@given(first=numbers("0.0001"), second=numbers("0.0001"), target=numbers("0.0001"))
def test_lower_better_antitone_for_positive_actual(
    first: Decimal, second: Decimal, target: Decimal
) -> None:
    low, high = sorted((first, second))
    low_value = achievement(low, target, LOWER)
    high_value = achievement(high, target, LOWER)
    assert low_value is not None and high_value is not None
    assert low_value >= high_value


@given(actual=numbers(), target=numbers("-1000000", "-0.0001"))
def test_negative_target_mirrors_the_opposite_direction(actual: Decimal, target: Decimal) -> None:
    assert achievement(actual, target, HIGHER) == achievement(-actual, -target, LOWER)
    assert achievement(actual, target, LOWER) == achievement(-actual, -target, HIGHER)


@given(actual=numbers(), target=numbers())
def test_exact_within_zero_and_hundred(actual: Decimal, target: Decimal) -> None:
    value = achievement(actual, target, EXACT)
    assert value is not None
    assert Decimal(0) <= value <= Decimal(100)
    # Stored to six decimals: 100 exactly, or a miss too small to show at that precision.
    if target != 0:
        invisible = abs(actual - target) / abs(target) * 100 < Decimal("0.0000005")
        assert (value == 100) == (actual == target or invisible)
    else:
        assert (value == 100) == (actual == target)


@given(value=numbers("-100000000", "100000000"), cap=numbers("0", "1000"))
def test_score_within_zero_and_cap(value: Decimal, cap: Decimal) -> None:
    result = score(value, cap)
    assert result is not None
    assert Decimal(0) <= result <= cap
    if Decimal(0) <= value <= cap:
        assert result == value


@given(
    actual=numbers(),
    target=numbers(),
    target_type=st.sampled_from(list(TargetType)),
    baseline=st.none() | numbers(),
    cap=numbers("0", "1000"),
)
def test_pipeline_is_quantized_and_consistent(
    actual: Decimal,
    target: Decimal,
    target_type: TargetType,
    baseline: Decimal | None,
    cap: Decimal,
) -> None:
    value = achievement(actual, target, target_type, baseline)
    assert value is not None
    assert value.as_tuple().exponent == -6
    assert quantize(value) == value
    capped = score(value, cap)
    assert capped is not None and Decimal(0) <= capped <= cap
    expected = Status.MET if value >= 100 else Status.AT_RISK if value >= 80 else Status.OFF_TRACK
    assert status(value) is expected


@given(actual=numbers(), previous=numbers())
def test_trend_agrees_with_change_pct(actual: Decimal, previous: Decimal) -> None:
    assume(previous != 0)
    change = change_pct(actual, previous)
    assert change is not None
    direction = trend(actual, previous, HIGHER)
    if change > 0:
        assert direction is Trend.IMPROVING
        assert trend(actual, previous, LOWER) is Trend.DECLINING
    elif actual == previous:
        assert direction is Trend.FLAT
        assert trend(actual, previous, LOWER) is Trend.FLAT


@given(
    pairs=st.lists(
        st.tuples(numbers("0", "10"), st.none() | numbers("0", "150")), min_size=1, max_size=8
    )
)
def test_overall_score_between_min_and_max(pairs: list[tuple[Decimal, Decimal | None]]) -> None:
    counted = [s for w, s in pairs if s is not None and w > 0]
    result = overall_score(pairs)
    if not counted:
        assert result is None
    else:
        low, high = quantize(min(counted)), quantize(max(counted))
        assert result is not None and low is not None and high is not None
        assert low <= result <= high
