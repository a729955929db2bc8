from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, localcontext

import pytest

from kpi_service.engine.achievement import (
    achievement,
    change_pct,
    change_since,
    movement,
    overall_score,
    quantize,
    score,
    status,
    trend,
)
from kpi_service.engine.vocabulary import Movement, Status, TargetType, Trend
from tests.support.engine import EXACT, HIGHER, LOWER, d

# --- quantize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", "100.000000"),
        ("0", "0.000000"),
        ("1.0000005", "1.000000"),  # half to even: 0 stays
        ("1.0000015", "1.000002"),  # half to even: 1 becomes 2
        ("1.00000051", "1.000001"),  # above half rounds up
        ("-2.0000025", "-2.000002"),
        ("33.33333333333333333333333333", "33.333333"),
        ("-0.0000001", "0.000000"),  # no negative zero in output
        ("-0", "0.000000"),
        ("1E+40", "10000000000000000000000000000000000000000.000000"),
    ],
)
def test_quantize(value: str, expected: str) -> None:
    result = quantize(d(value))
    assert result is not None
    assert str(result) == expected


def test_quantize_none() -> None:
    assert quantize(None) is None


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_quantize_rejects_non_finite(value: str) -> None:
    with pytest.raises(ValueError):
        quantize(d(value))


# --- achievement: no data -----------------------------------------------------------------


@pytest.mark.parametrize("target_type", list(TargetType))
@pytest.mark.parametrize(("actual", "target"), [(None, "10"), ("10", None), (None, None)])
def test_achievement_without_data_is_none(
    target_type: TargetType, actual: str | None, target: str | None
) -> None:
    actual_value = None if actual is None else d(actual)
    target_value = None if target is None else d(target)
    assert achievement(actual_value, target_value, target_type) is None
    assert achievement(actual_value, target_value, target_type, baseline=d("0")) is None


# --- achievement: higher is better --------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "target", "expected"),
    [
        ("80", "100", "80"),  # 80 / 100 * 100
        ("100", "100", "100"),
        ("150", "100", "150"),  # 150 / 100 * 100
        ("1", "3", "33.333333"),  # 1 / 3 * 100 = 33.3333...
        ("2", "3", "66.666667"),  # 2 / 3 * 100 = 66.6666... rounds up
        ("5000", "1", "500000"),  # 5000 / 1 * 100: far above the old 999.99 column
        ("0", "50", "0"),  # 0 / 50 * 100
        ("-5", "10", "-50"),  # -5 / 10 * 100: the ratio itself, not floored
        ("0", "0", "100"),  # t == 0: a >= 0 meets it
        ("7", "0", "100"),
        ("-1", "0", "0"),  # t == 0: a < 0 misses it
        # Negative target: scored as lower-is-better on the negated values.
        ("-5", "-5", "100"),
        ("-10", "-5", "50"),  # 5 / 10 * 100: twice as far below is worse
        ("-2.5", "-5", "200"),  # 5 / 2.5 * 100
        ("0", "-5", "100"),
        ("3", "-5", "100"),
    ],
)
def test_achievement_higher_better(actual: str, target: str, expected: str) -> None:
    assert achievement(d(actual), d(target), HIGHER) == d(expected)


# --- achievement: lower is better ---------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "target", "expected"),
    [
        ("5", "4", "80"),  # 4 / 5 * 100
        ("4", "4", "100"),
        ("2", "4", "200"),  # 4 / 2 * 100
        ("9", "3", "33.333333"),  # 3 / 9 * 100 = 33.3333...
        ("1", "5000", "500000"),  # 5000 / 1 * 100
        ("0", "4", "100"),  # a == 0: formula undefined, counted as 100
        ("-1", "4", "100"),  # below zero beats any positive target
        ("0", "0", "100"),  # t == 0: a <= 0 meets it
        ("-2", "0", "100"),
        ("0.5", "0", "0"),  # t == 0: a > 0 misses it
        # Negative target: scored as higher-is-better on the negated values.
        ("-10", "-5", "200"),  # 10 / 5 * 100
        ("-5", "-5", "100"),
        ("-4", "-5", "80"),  # 4 / 5 * 100
        ("0", "-5", "0"),  # 0 / 5 * 100
        ("5", "-5", "-100"),  # -5 / 5 * 100
    ],
)
def test_achievement_lower_better(actual: str, target: str, expected: str) -> None:
    assert achievement(d(actual), d(target), LOWER) == d(expected)


# --- achievement: exact -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "target", "expected"),
    [
        ("100", "100", "100"),
        ("90", "100", "90"),  # 100 - 10 / 100 * 100
        ("110", "100", "90"),  # 100 - 10 / 100 * 100
        ("199", "100", "1"),  # 100 - 99
        ("200", "100", "0"),  # 100 - 100
        ("250", "100", "0"),  # 100 - 150 = -50, floored at 0
        ("0", "100", "0"),  # 100 - 100
        ("-40", "-50", "80"),  # 100 - 10 / 50 * 100
        ("1", "3", "33.333333"),  # 100 - 2 / 3 * 100 = 33.3333...
        ("0", "0", "100"),  # t == 0: only a == 0 meets it
        ("0.001", "0", "0"),
        ("-1", "0", "0"),
    ],
)
def test_achievement_exact(actual: str, target: str, expected: str) -> None:
    assert achievement(d(actual), d(target), EXACT) == d(expected)


def test_achievement_exact_ignores_baseline() -> None:
    # 100 - 10 / 100 * 100 whatever the baseline.
    assert achievement(d("90"), d("100"), EXACT, baseline=d("50")) == d("90")
    assert achievement(d("90"), d("100"), EXACT, baseline=d("100")) == d("90")


# --- achievement: with a baseline ---------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "target", "baseline", "expected"),
    [
        ("75", "100", "50", "50"),  # (75 - 50) / (100 - 50) * 100
        ("100", "100", "50", "100"),
        ("150", "100", "50", "200"),  # (150 - 50) / 50 * 100: not capped
        ("50", "100", "50", "0"),  # at the baseline
        ("40", "100", "50", "0"),  # (40 - 50) / 50 * 100 = -20, floored at 0
        ("80", "100", "0", "80"),  # a zero baseline equals the plain ratio
        ("-5", "0", "-10", "50"),  # (-5 + 10) / (0 + 10) * 100
        ("60", "70", "40", "66.666667"),  # 20 / 30 * 100 = 66.6666...
        ("50050", "51", "50", "5000000"),  # 50000 / 1 * 100
        ("50", "50", "50", "100"),  # t == b: at the target
        ("60", "50", "50", "100"),  # t == b: above the target
        ("49", "50", "50", "0"),  # t == b: below the target
    ],
)
def test_achievement_higher_better_with_baseline(
    actual: str, target: str, baseline: str, expected: str
) -> None:
    assert achievement(d(actual), d(target), HIGHER, baseline=d(baseline)) == d(expected)


@pytest.mark.parametrize(
    ("actual", "target", "baseline", "expected"),
    [
        ("4", "2", "10", "75"),  # (4 - 10) / (2 - 10) * 100 = -6 / -8 * 100
        ("2", "2", "10", "100"),
        ("1", "2", "10", "112.5"),  # -9 / -8 * 100: not capped
        ("10", "2", "10", "0"),  # at the baseline
        ("12", "2", "10", "0"),  # 2 / -8 * 100 = -25, floored at 0
        ("0", "2", "10", "125"),  # -10 / -8 * 100
        ("-1", "2", "10", "137.5"),  # -11 / -8 * 100
        ("50", "50", "50", "100"),  # t == b: at the target
        ("40", "50", "50", "100"),  # t == b: below the target is better
        ("51", "50", "50", "0"),  # t == b: above the target is worse
    ],
)
def test_achievement_lower_better_with_baseline(
    actual: str, target: str, baseline: str, expected: str
) -> None:
    assert achievement(d(actual), d(target), LOWER, baseline=d(baseline)) == d(expected)


def test_achievement_is_quantized_and_independent_of_caller_context() -> None:
    with localcontext() as context:
        context.prec = 3
        result = achievement(d("2"), d("3"), HIGHER)
    assert result is not None
    assert str(result) == "66.666667"
    assert result.as_tuple().exponent == -6


# --- score --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cap", "expected"),
    [
        ("80", "120", "80"),
        ("120", "120", "120"),
        ("500000", "120", "120"),  # capped
        ("100.5", "100", "100"),
        ("0", "120", "0"),
        ("-50", "120", "0"),  # floored
        ("33.3333333", "100", "33.333333"),
    ],
)
def test_score(value: str, cap: str, expected: str) -> None:
    result = score(d(value), d(cap))
    assert result == d(expected)
    assert result is not None
    assert result.as_tuple().exponent == -6


def test_score_none() -> None:
    assert score(None, d("120")) is None


# --- status -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500000", Status.MET),
        ("100", Status.MET),
        ("100.000000", Status.MET),
        ("99.999999", Status.AT_RISK),
        ("80", Status.AT_RISK),
        ("79.999999", Status.OFF_TRACK),
        ("0", Status.OFF_TRACK),
        ("-50", Status.OFF_TRACK),
    ],
)
def test_status(value: str, expected: Status) -> None:
    assert status(d(value)) is expected


def test_status_custom_threshold() -> None:
    assert status(d("90"), warning_threshold=d("90")) is Status.AT_RISK
    assert status(d("89.999999"), warning_threshold=d("90")) is Status.OFF_TRACK
    assert status(d("100"), warning_threshold=d("90")) is Status.MET
    assert status(d("50"), warning_threshold=d("0")) is Status.AT_RISK


def test_status_none() -> None:
    assert status(None) is None


# --- change_pct ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "previous", "expected"),
    [
        ("110", "100", "10"),  # 10 / 100 * 100
        ("90", "100", "-10"),
        ("100", "100", "0"),
        ("0", "5", "-100"),  # -5 / 5 * 100
        ("1", "3", "-66.666667"),  # -2 / 3 * 100 = -66.6666...
        ("-50", "-100", "50"),  # (-50 + 100) / |-100| * 100: rose by half its size
        ("-150", "-100", "-50"),  # -50 / 100 * 100
        ("10", "-10", "200"),  # 20 / 10 * 100
        ("5000", "1", "499900"),  # 4999 / 1 * 100
    ],
)
def test_change_pct(actual: str, previous: str, expected: str) -> None:
    assert change_pct(d(actual), d(previous)) == d(expected)


def test_change_pct_zero_change_has_no_sign() -> None:
    assert str(change_pct(d("-3"), d("-3"))) == "0.000000"


# --- seed 004: movement and change since the previous recording -----------------------------


@pytest.mark.parametrize(
    ("actual", "previous", "expected"),
    [
        ("5", "4", Movement.UP),
        ("4", "5", Movement.DOWN),  # direction-blind: even for a lower_better KPI
        ("4", "4.000", Movement.NEUTRAL),
        ("4", None, Movement.NEUTRAL),
        (None, "4", Movement.NEUTRAL),
    ],
)
def test_movement(actual: str | None, previous: str | None, expected: Movement) -> None:
    assert (
        movement(None if actual is None else d(actual), None if previous is None else d(previous))
        == expected
    )


def test_change_since_is_zero_without_a_previous_value_and_none_after_zero() -> None:
    assert change_since(d("45000"), None) == 0
    assert change_since(d("45000"), d("0")) is None
    assert change_since(d("47500"), d("45000")) == d("5.555556")  # 2500 / 45000 * 100


@pytest.mark.parametrize(
    ("actual", "previous"),
    [("5", "0"), ("0", "0"), ("5", "0.000"), (None, "5"), ("5", None), (None, None)],
)
def test_change_pct_undefined(actual: str | None, previous: str | None) -> None:
    actual_value = None if actual is None else d(actual)
    previous_value = None if previous is None else d(previous)
    assert change_pct(actual_value, previous_value) is None


# --- trend --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "previous", "target_type", "target", "expected"),
    [
        ("5", "4", HIGHER, None, Trend.IMPROVING),
        ("3", "4", HIGHER, None, Trend.DECLINING),
        ("4", "4.0", HIGHER, None, Trend.FLAT),
        ("-1", "-2", HIGHER, "10", Trend.IMPROVING),
        ("3", "4", LOWER, None, Trend.IMPROVING),  # resolution time fell
        ("5", "4", LOWER, None, Trend.DECLINING),
        ("4", "4", LOWER, None, Trend.FLAT),
        ("98", "95", EXACT, "100", Trend.IMPROVING),  # |-2| < |-5|
        ("102", "95", EXACT, "100", Trend.IMPROVING),  # |2| < |-5|: crossed the target
        ("105", "103", EXACT, "100", Trend.DECLINING),  # |5| > |3|
        ("90", "100", EXACT, "100", Trend.DECLINING),  # left the target
        ("103", "97", EXACT, "100", Trend.FLAT),  # |3| == |-3|
        ("100", "100", EXACT, "100", Trend.FLAT),
    ],
)
def test_trend(
    actual: str, previous: str, target_type: TargetType, target: str | None, expected: Trend
) -> None:
    target_value = None if target is None else d(target)
    assert trend(d(actual), d(previous), target_type, target_value) is expected


@pytest.mark.parametrize("target_type", list(TargetType))
@pytest.mark.parametrize(("actual", "previous"), [(None, "4"), ("4", None), (None, None)])
def test_trend_without_data(
    target_type: TargetType, actual: str | None, previous: str | None
) -> None:
    actual_value = None if actual is None else d(actual)
    previous_value = None if previous is None else d(previous)
    assert trend(actual_value, previous_value, target_type, d("100")) is None


def test_trend_exact_without_target() -> None:
    assert trend(d("98"), d("95"), EXACT) is None


# --- overall_score ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("1", "80"), ("1", "100")], "90"),  # (80 + 100) / 2
        ([("2", "80"), ("1", "110")], "90"),  # (160 + 110) / 3
        ([("0.5", "90"), ("1.5", "70")], "75"),  # (45 + 105) / 2
        ([("1", "100"), ("2", "0")], "33.333333"),  # 100 / 3
        ([("1", "100"), ("1", None)], "100"),  # a missing score does not count as 0
        ([("0", "50"), ("1", "100")], "100"),  # zero weight ignored
        ([("-1", "0"), ("1", "100")], "100"),  # negative weight ignored
        ([("3", "0")], "0"),
    ],
)
def test_overall_score(pairs: list[tuple[str, str | None]], expected: str) -> None:
    weighted = [(d(w), None if s is None else d(s)) for w, s in pairs]
    assert overall_score(weighted) == d(expected)


@pytest.mark.parametrize(
    "pairs",
    [[], [("1", None)], [("0", "80")], [("-2", "80"), ("3", None)]],
)
def test_overall_score_none(pairs: list[tuple[str, str | None]]) -> None:
    weighted = [(d(w), None if s is None else d(s)) for w, s in pairs]
    assert overall_score(weighted) is None


def test_overall_score_accepts_a_generator() -> None:
    def pairs() -> Iterator[tuple[Decimal, Decimal | None]]:
        yield d("1"), d("60")
        yield d("3"), d("100")

    assert overall_score(pairs()) == d("90")  # (60 + 300) / 4
