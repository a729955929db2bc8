"""Achievement, score, status and trend of a KPI value against its target, in percent."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import ParamSpec, TypeVar, assert_never

from kpi_service.engine.vocabulary import Movement, Status, TargetType, Trend

_P = ParamSpec("_P")
_R = TypeVar("_R")

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-_PLACES)
_PRECISION = 50
# Results must not depend on whatever decimal context the calling thread happens to use.
_CONTEXT = Context(prec=_PRECISION, rounding=ROUND_HALF_EVEN)


def _in_context(function: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(_CONTEXT):
            return function(*args, **kwargs)

    return wrapper


@_in_context
def quantize(value: Decimal | None) -> Decimal | None:
    """Round value to six decimal places, half to even, keeping None as None."""
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"cannot quantize {value}")
    # Enough precision for the integer digits too, so huge percentages never trap.
    context = Context(prec=max(_PRECISION, value.adjusted() + 1 + _PLACES))
    rounded = value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=context)
    # Avoid "-0.000000" leaking into reports.
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _ratio(actual: Decimal, target: Decimal, higher_better: bool) -> Decimal:
    if target < 0:
        # Plain ratios invert below zero (a/t rewards -10 over -5 for higher_better), so a
        # negative target is scored as the mirrored KPI: negate both and flip the direction.
        return _ratio(-actual, -target, not higher_better)
    if target == 0:
        met = actual >= 0 if higher_better else actual <= 0
        return _HUNDRED if met else _ZERO
    if higher_better:
        return actual / target * _HUNDRED
    if actual <= 0:
        # t / a is undefined at zero and turns negative below it, yet zero or less already
        # beats any positive lower-is-better target.
        return _HUNDRED
    return target / actual * _HUNDRED


def _exact(actual: Decimal, target: Decimal) -> Decimal:
    if target == 0:
        return _HUNDRED if actual == 0 else _ZERO
    return max(_ZERO, _HUNDRED - abs(actual - target) / abs(target) * _HUNDRED)


def _from_baseline(
    actual: Decimal, target: Decimal, baseline: Decimal, higher_better: bool
) -> Decimal:
    if target == baseline:
        met = actual >= target if higher_better else actual <= target
        return _HUNDRED if met else _ZERO
    return max(_ZERO, (actual - baseline) / (target - baseline) * _HUNDRED)


@_in_context
def achievement(
    actual: Decimal | None,
    target: Decimal | None,
    target_type: TargetType,
    baseline: Decimal | None = None,
) -> Decimal | None:
    """Return how far actual reaches target in percent, uncapped, or None without data."""
    if actual is None or target is None:
        return None
    match target_type:
        case TargetType.EXACT:
            return quantize(_exact(actual, target))
        case TargetType.HIGHER_BETTER | TargetType.LOWER_BETTER:
            higher_better = target_type is TargetType.HIGHER_BETTER
            if baseline is None:
                return quantize(_ratio(actual, target, higher_better))
            return quantize(_from_baseline(actual, target, baseline, higher_better))
        case _:
            assert_never(target_type)


@_in_context
def score(achievement: Decimal | None, cap: Decimal) -> Decimal | None:
    """Return the achievement limited to [0, cap], or None without an achievement."""
    if achievement is None:
        return None
    return quantize(max(_ZERO, min(achievement, cap)))


def status(achievement: Decimal | None, warning_threshold: Decimal = Decimal(80)) -> Status | None:
    """Classify an achievement as met, at risk or off track, or None without an achievement."""
    if achievement is None:
        return None
    if achievement >= _HUNDRED:
        return Status.MET
    if achievement >= warning_threshold:
        return Status.AT_RISK
    return Status.OFF_TRACK


@_in_context
def change_pct(actual: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """Return the change from previous to actual in percent of |previous|, or None if undefined."""
    if actual is None or previous is None or previous == 0:
        return None
    return quantize((actual - previous) / abs(previous) * _HUNDRED)


def movement(actual: Decimal | None, previous: Decimal | None) -> Movement:
    """Return whether actual is above, below or level with previous (neutral without both)."""
    if actual is None or previous is None or actual == previous:
        return Movement.NEUTRAL
    return Movement.UP if actual > previous else Movement.DOWN


def change_since(actual: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """Return `change_pct`, but 0 when there is no previous value (seed 004's default)."""
    if previous is None:
        return _ZERO
    return change_pct(actual, previous)


def _compare(better: Decimal, worse: Decimal) -> Trend:
    if better > worse:
        return Trend.IMPROVING
    if better < worse:
        return Trend.DECLINING
    return Trend.FLAT


@_in_context
def trend(
    actual: Decimal | None,
    previous: Decimal | None,
    target_type: TargetType,
    target: Decimal | None = None,
) -> Trend | None:
    """Return whether actual improved on previous in the KPI's direction, or None without data."""
    if actual is None or previous is None:
        return None
    match target_type:
        case TargetType.HIGHER_BETTER:
            return _compare(actual, previous)
        case TargetType.LOWER_BETTER:
            return _compare(previous, actual)
        case TargetType.EXACT:
            if target is None:
                return None
            return _compare(abs(previous - target), abs(actual - target))
        case _:
            assert_never(target_type)


@_in_context
def overall_score(weighted_scores: Iterable[tuple[Decimal, Decimal | None]]) -> Decimal | None:
    """Return the weighted mean of present scores with positive weight, or None if none."""
    total_weight = _ZERO
    total = _ZERO
    for weight, item_score in weighted_scores:
        if item_score is not None and weight > 0:
            total_weight += weight
            total += weight * item_score
    if total_weight == 0:
        return None
    return quantize(total / total_weight)
