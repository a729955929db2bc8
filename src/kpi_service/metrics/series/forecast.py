"""A forecast's maths over a KPI's series: the pace of the period in progress, a linear
trend of the ended ones with prediction intervals, and how likely the target is to be met."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from kpi_service.core.settings import Settings
from kpi_service.engine import achievement as ach
from kpi_service.engine.periods import Period, containing
from kpi_service.engine.statistics import MIN_POINTS, LineFit, fit_line
from kpi_service.engine.vocabulary import PeriodKind, TargetType
from kpi_service.metrics.pace import pace_of
from kpi_service.metrics.series.repository import BucketRow
from kpi_service.metrics.series.schemas import Outlook, PaceRead, Projection, TrendRead, Verdict
from kpi_service.models import Definition

# A target is `likely` met from this probability on, `unlikely` below its complement.
LIKELY = 0.75
LEVELS = (0.80, 0.95)


def scored(
    definition: Definition, value: Decimal | None, target: Decimal | None, baseline: Decimal | None
) -> tuple[Decimal | None, str | None]:
    """The achievement and status of a value against the target, by the KPI's rules."""
    achievement = ach.achievement(value, target, TargetType(definition.target_type), baseline)
    status = ach.status(achievement, definition.warning_threshold)
    return achievement, None if status is None else status.value


def window(native: PeriodKind, today: date, history: int) -> list[Period]:
    """The `history` ended periods before the current one, then the current one."""
    periods = [containing(native, today)]
    for _ in range(history):
        periods.append(periods[-1].previous())
    return periods[::-1]


def _decimal(x: float) -> Decimal:
    quantized = ach.quantize(Decimal(repr(x)))
    assert quantized is not None
    return quantized


def pace_of_current(
    definition: Definition,
    settings: Settings,
    period: Period,
    row: BucketRow | None,
    target: Decimal | None,
) -> tuple[PaceRead | None, str | None]:
    """Where the current period's value is heading, or why that cannot be said."""
    if definition.window is not None:
        return None, (
            "the KPI has a window: its value covers the window, not the period so far, "
            "so there is no pace to project"
        )
    if row is None or row.value is None or row.calculated_at is None:
        return None, "no value has been recorded for the current period yet"
    value = ach.quantize(row.value)
    assert value is not None
    # The pace every view shows, judged against the target as the period's value would be.
    # No window here (refused above), so the pace projects.
    pace = pace_of(settings, period, definition.rollup, value, row.calculated_at, window=None)
    if pace is None or pace.projected is None:
        return None, "the current period's value was taken before any of it had elapsed"
    baseline = ach.quantize(row.baseline)
    achievement, status = scored(definition, pace.projected, target, baseline)
    return PaceRead(
        value=value, **pace.model_dump(), target=target, achievement=achievement, status=status
    ), None


def _probability(
    definition: Definition, fit: LineFit, x: float, target: Decimal, baseline: Decimal | None
) -> float:
    """P(the period's value meets its target) under the fit; an exact KPI counts as met
    within its warning band, since a continuous value hits a point with probability 0."""
    t = float(target)
    kind = TargetType(definition.target_type)
    if kind is TargetType.EXACT:
        tolerance = abs(t) * (100 - float(definition.warning_threshold)) / 100
        return fit.probability_between(x, t - tolerance, t + tolerance)
    # With a baseline, achievement grows from the baseline towards the target, whichever
    # way that is; met means at or beyond the target in that direction.
    at_least = kind is TargetType.HIGHER_BETTER
    if baseline is not None and baseline != target:
        at_least = target > baseline
    return fit.probability_at_least(x, t) if at_least else fit.probability_at_most(x, t)


def _verdict(probability: float) -> Verdict:
    if probability >= LIKELY:
        return "likely"
    return "unlikely" if probability < 1 - LIKELY else "uncertain"


def project(
    definition: Definition,
    periods: list[Period],
    found: dict[int, BucketRow],
    target: Decimal | None,
    horizon: int,
) -> tuple[TrendRead | None, str | None, list[Projection], Outlook]:
    """The trend of the ended periods (or why there is none), the next `horizon` periods'
    projections, and the current period's outlook; `found` holds the rows by period index."""
    current, n = periods[-1], len(periods) - 1
    now_row = found.get(n)
    history = [
        (float(i), float(row.value))
        for i, row in sorted(found.items())
        if i < n and row.value is not None
    ]
    fit, trend, trend_reason, projections = None, None, None, []
    if len(history) < MIN_POINTS:
        trend_reason = (
            f"not enough history: {len(history)} of the last {n} ended periods "
            f"have a value; at least {MIN_POINTS} are needed"
        )
    else:
        fit = fit_line([x for x, _ in history], [y for _, y in history])
        trend = TrendRead(
            window_start=periods[0].start,
            periods_used=fit.n,
            slope=_decimal(fit.slope),
            intercept=_decimal(fit.intercept),
            residual_se=_decimal(fit.residual_se),
        )
        period = current
        for step in range(horizon):
            x = float(n + step)
            (low80, high80), (low95, high95) = (
                fit.prediction_interval(x, level) for level in LEVELS
            )
            projections.append(
                Projection(
                    period_start=period.start,
                    period_end=period.end,
                    value=_decimal(fit.predict(x)),
                    lower_80=_decimal(low80),
                    upper_80=_decimal(high80),
                    lower_95=_decimal(low95),
                    upper_95=_decimal(high95),
                )
            )
            period = period.next()

    probability: float | None = None
    verdict: Verdict
    if target is None:
        verdict = "no_target"
    elif fit is None:
        verdict = "not_enough_history"
    else:
        baseline = ach.quantize(now_row.baseline) if now_row else None
        probability = _probability(definition, fit, float(n), target, baseline)
        verdict = _verdict(probability)
    outlook = Outlook(
        period_start=current.start,
        period_end=current.end,
        target=target,
        expected=_decimal(fit.predict(float(n))) if fit else None,
        probability=None if probability is None else _decimal(probability),
        verdict=verdict,
    )
    return trend, trend_reason, projections, outlook
