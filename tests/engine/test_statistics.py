"""Least squares, prediction intervals and Student t, against hand-worked numbers, closed
forms and the standard library's `statistics.linear_regression`."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kpi_service.engine.statistics import fit_line, t_cdf, t_quantile

# Student t quantiles as printed in the usual tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2).
TABLE = [  # (df, upper-tail probability, t)
    (1, 0.10, 3.078),
    (1, 0.025, 12.706),
    (2, 0.05, 2.920),
    (3, 0.025, 3.182),
    (5, 0.10, 1.476),
    (10, 0.025, 2.228),
    (10, 0.10, 1.372),
    (20, 0.05, 1.725),
    (30, 0.005, 2.750),
    (100, 0.025, 1.984),
]


@pytest.mark.parametrize(("df", "tail", "expected"), TABLE)
def test_t_quantiles_match_the_printed_table(df: int, tail: float, expected: float) -> None:
    assert t_quantile(1 - tail, df) == pytest.approx(expected, abs=5e-4)
    assert t_cdf(expected, df) == pytest.approx(1 - tail, abs=5e-4)


probabilities = st.floats(min_value=0.001, max_value=0.999)
reals = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@given(x=reals)
def test_t_cdf_with_one_and_two_degrees_has_its_closed_forms(x: float) -> None:
    # One degree of freedom is the Cauchy law; two has F(x) = 1/2 + x / (2 sqrt(x^2 + 2)).
    # scipy's stdtr loses about 2e-9 to cancellation with one degree near 0 (it gives 0.5
    # for x = 6e-9, where the law gives 0.5 + 1.9e-9): far below what a p-value needs.
    assert t_cdf(x, 1) == pytest.approx(0.5 + math.atan(x) / math.pi, abs=1e-8)
    assert t_cdf(x, 2) == pytest.approx(0.5 + x / (2 * math.sqrt(x * x + 2)), abs=1e-9)


@given(p=probabilities)
def test_t_quantile_with_one_and_two_degrees_has_its_closed_forms(p: float) -> None:
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9, abs=1e-9)
    assert t_quantile(p, 2) == pytest.approx(
        (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9, abs=1e-9
    )


@given(p=probabilities, df=st.integers(min_value=1, max_value=500))
def test_t_quantile_inverts_the_cdf_and_is_symmetric(p: float, df: int) -> None:
    x = t_quantile(p, df)
    assert t_cdf(x, df) == pytest.approx(p, abs=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-x, rel=1e-7, abs=1e-9)


def test_refusals() -> None:
    for call in (
        lambda: t_quantile(0, 3),
        lambda: t_quantile(1, 3),
        lambda: t_cdf(1, 0),
        lambda: fit_line([1, 2], [1, 2]),
        lambda: fit_line([1, 1, 1], [1, 2, 3]),
        lambda: fit_line([1, 2, 3], [1, 2]),
    ):
        with pytest.raises(ValueError):
            call()
    fit = fit_line([0, 1, 2], [1, 2, 4])
    with pytest.raises(ValueError):
        fit.prediction_interval(3, 1.0)
    with pytest.raises(ValueError):
        fit.probability_between(3, 2, 1)


def test_a_hand_worked_fit_and_interval() -> None:
    # x = 0..4, y = 1 3 2 5 4: mean x 2, mean y 3, Sxx 10, Sxy 8 -> slope 0.8, intercept 1.4;
    # fitted 1.4 2.2 3.0 3.8 4.6, residuals -.4 .8 -1 1.2 -.6, SSE 3.6, s^2 = 3.6 / 3 = 1.2.
    fit = fit_line([0, 1, 2, 3, 4], [1, 3, 2, 5, 4])
    assert (fit.n, fit.df) == (5, 3)
    assert fit.slope == pytest.approx(0.8) and fit.intercept == pytest.approx(1.4)
    assert fit.residual_se == pytest.approx(math.sqrt(1.2))
    # At x0 = 5: y = 5.4, se = sqrt(1.2 * (1 + 1/5 + 9/10)) = sqrt(2.52); t(0.975, 3) = 3.182446.
    assert fit.predict(5) == pytest.approx(5.4)
    assert fit.prediction_se(5) == pytest.approx(math.sqrt(2.52))
    low, high = fit.prediction_interval(5, 0.95)
    assert low == pytest.approx(5.4 - 3.182446 * math.sqrt(2.52), abs=1e-5)
    assert high == pytest.approx(5.4 + 3.182446 * math.sqrt(2.52), abs=1e-5)
    # P(Y >= 5.4) is one half; P(Y >= the 95% upper bound) is 2.5%.
    assert fit.probability_at_least(5, 5.4) == pytest.approx(0.5)
    assert fit.probability_at_least(5, high) == pytest.approx(0.025)
    assert fit.probability_at_most(5, low) == pytest.approx(0.025)
    assert fit.probability_between(5, low, high) == pytest.approx(0.95)


@st.composite
def samples(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    n = draw(st.integers(min_value=3, max_value=30))
    xs = sorted(
        draw(
            st.lists(st.integers(min_value=-50, max_value=200), min_size=n, max_size=n, unique=True)
        )
    )
    ys = draw(
        st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=n, max_size=n)
    )
    return [float(x) for x in xs], ys


@given(samples())
def test_the_fit_matches_the_standard_library_and_the_hand_formulas(
    data: tuple[list[float], list[float]],
) -> None:
    xs, ys = data
    fit = fit_line(xs, ys)
    expected = statistics.linear_regression(xs, ys)
    scale = max(1.0, *map(abs, ys))
    assert fit.slope == pytest.approx(expected.slope, abs=1e-9 * scale)
    assert fit.intercept == pytest.approx(expected.intercept, abs=1e-7 * scale)
    residuals = [y - (expected.intercept + expected.slope * x) for x, y in zip(xs, ys, strict=True)]
    s = math.sqrt(sum(r * r for r in residuals) / (len(xs) - 2))
    assert fit.residual_se == pytest.approx(s, rel=1e-6, abs=1e-9 * scale)


@given(samples(), st.floats(min_value=-100, max_value=300))
def test_intervals_hold_the_prediction_and_95_is_wider_than_80(
    data: tuple[list[float], list[float]], x: float
) -> None:
    fit = fit_line(*data)
    low80, high80 = fit.prediction_interval(x, 0.80)
    low95, high95 = fit.prediction_interval(x, 0.95)
    centre = fit.predict(x)
    assert low95 <= low80 <= centre <= high80 <= high95
    assert (high80 + low80) / 2 == pytest.approx(centre, abs=1e-6 * max(1, abs(centre)))
    if fit.residual_se > 0:
        assert high95 - low95 > high80 - low80


@given(samples(), st.floats(min_value=0, max_value=200), st.floats(min_value=0.1, max_value=100))
def test_intervals_widen_with_distance_from_the_mean_x(
    data: tuple[list[float], list[float]], near: float, further: float
) -> None:
    fit = fit_line(*data)
    assume(fit.residual_se > 0)
    closer = fit.x_mean + near
    farther = fit.x_mean + near + further
    low, high = fit.prediction_interval(closer, 0.8)
    far_low, far_high = fit.prediction_interval(farther, 0.8)
    assert far_high - far_low > high - low
    mirrored_low, mirrored_high = fit.prediction_interval(fit.x_mean - near, 0.8)
    assert mirrored_high - mirrored_low == pytest.approx(high - low, rel=1e-9)


@given(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-50, max_value=50),
    st.lists(st.integers(min_value=-100, max_value=400), min_size=3, max_size=25, unique=True),
    st.floats(min_value=-100, max_value=500),
)
def test_points_on_a_line_give_zero_width_intervals(
    intercept: int, slope: int, xs: list[int], x: float
) -> None:
    ys = [intercept + slope * v for v in xs]
    fit = fit_line([float(v) for v in xs], [float(y) for y in ys])
    assert fit.residual_se == 0
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    low, high = fit.prediction_interval(x, 0.95)
    assert low == high == fit.predict(x)
    # The outcome is certain: met at or beyond the line, missed otherwise.
    centre = fit.predict(x)
    assert fit.probability_at_least(x, centre - 1) == 1.0
    assert fit.probability_at_least(x, centre + 1) == 0.0
    assert fit.probability_at_most(x, centre + 1) == 1.0
    assert fit.probability_between(x, centre - 1, centre + 1) == 1.0


@given(samples(), st.floats(min_value=-1e4, max_value=1e4), st.floats(min_value=0, max_value=1e3))
def test_probabilities_are_complementary_and_monotone(
    data: tuple[list[float], list[float]], threshold: float, step: float
) -> None:
    fit = fit_line(*data)
    assume(fit.residual_se > 0)
    x = max(data[0]) + 1
    above, below = fit.probability_at_least(x, threshold), fit.probability_at_most(x, threshold)
    assert above + below == pytest.approx(1.0)
    assert 0 <= above <= 1
    assert fit.probability_at_least(x, threshold + step) <= above + 1e-12
    assert fit.probability_between(x, threshold, threshold + step) == pytest.approx(
        fit.probability_at_most(x, threshold + step) - below, abs=1e-12
    )
