"""A straight line by ordinary least squares, its prediction intervals, and Student t laws."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import stdtr, stdtrit

# Two points always lie on a line: a residual spread needs a third.
MIN_POINTS = 3
# Residuals below this share of the values' size are floating-point rounding, not spread.
_NOISE = 1e-12


def t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with df degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    return float(stdtr(df, x))


def t_quantile(p: float, df: float) -> float:
    """The x with P(T <= x) = p for Student's t with df degrees of freedom (0 < p < 1)."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if not 0 < p < 1:
        raise ValueError("p must lie strictly between 0 and 1")
    return float(stdtrit(df, p))


@dataclass(frozen=True, slots=True)
class LineFit:
    """y = intercept + slope * x fitted to n points, with what prediction needs."""

    n: int
    slope: float
    intercept: float
    x_mean: float
    sxx: float
    residual_se: float

    @property
    def df(self) -> int:
        """Degrees of freedom of the residuals: n - 2."""
        return self.n - 2

    def predict(self, x: float) -> float:
        """The fitted line's value at x."""
        return self.intercept + self.slope * x

    def prediction_se(self, x: float) -> float:
        """Standard error of a new observation at x: s * sqrt(1 + 1/n + (x - mean)^2 / Sxx)."""
        return self.residual_se * math.sqrt(1 + 1 / self.n + (x - self.x_mean) ** 2 / self.sxx)

    def prediction_interval(self, x: float, level: float) -> tuple[float, float]:
        """The two-sided prediction interval at x holding a new observation with this level."""
        if not 0 < level < 1:
            raise ValueError("level must lie strictly between 0 and 1")
        half = t_quantile((1 + level) / 2, self.df) * self.prediction_se(x)
        centre = self.predict(x)
        return centre - half, centre + half

    def probability_at_most(self, x: float, threshold: float) -> float:
        """P(a new observation at x <= threshold) under the fitted model (t with n-2 df)."""
        se = self.prediction_se(x)
        centre = self.predict(x)
        if se == 0:
            # A perfect fit predicts exactly: the outcome is certain either way.
            return 1.0 if centre <= threshold else 0.0
        return t_cdf((threshold - centre) / se, self.df)

    def probability_at_least(self, x: float, threshold: float) -> float:
        """P(a new observation at x >= threshold) under the fitted model."""
        se = self.prediction_se(x)
        centre = self.predict(x)
        if se == 0:
            return 1.0 if centre >= threshold else 0.0
        return 1.0 - t_cdf((threshold - centre) / se, self.df)

    def probability_between(self, x: float, low: float, high: float) -> float:
        """P(low <= a new observation at x <= high) under the fitted model."""
        if high < low:
            raise ValueError("high is below low")
        se = self.prediction_se(x)
        centre = self.predict(x)
        if se == 0:
            return 1.0 if low <= centre <= high else 0.0
        return t_cdf((high - centre) / se, self.df) - t_cdf((low - centre) / se, self.df)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LineFit:
    """Ordinary least squares of ys on xs; at least three points over two distinct xs."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    if n < MIN_POINTS:
        raise ValueError(f"a line with a residual spread needs {MIN_POINTS} points, got {n}")
    x_mean = math.fsum(xs) / n
    y_mean = math.fsum(ys) / n
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all xs are equal: the slope is undefined")
    sxy = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = y_mean - slope * x_mean
    # Residuals summed directly: Syy - slope * Sxy can cancel to a small negative number.
    sse = math.fsum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    scale = max(1.0, *(abs(y) for y in ys))
    if math.sqrt(sse / n) <= _NOISE * scale:
        # Points on a line leave only rounding noise: the spread is zero, not 1e-16.
        sse = 0.0
    return LineFit(
        n=n,
        slope=slope,
        intercept=intercept,
        x_mean=x_mean,
        sxx=sxx,
        residual_se=math.sqrt(sse / (n - 2)),
    )
