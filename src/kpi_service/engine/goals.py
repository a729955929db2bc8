"""Goals: their date ranges, and their progress from the periods measured inside them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from kpi_service.engine.achievement import achievement, quantize, status
from kpi_service.engine.periods import Period, containing, custom, is_finer
from kpi_service.engine.vocabulary import GoalPeriodKind, GoalStatus, PeriodKind, Rollup, TargetType

# A custom goal spans at most this many days (five years, leap days included).
MAX_CUSTOM_DAYS = 5 * 366
_HUNDRED = Decimal(100)


class GoalPeriodError(ValueError):
    """A goal range that cannot be: `field` names the offending input."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def goal_period(kind: GoalPeriodKind, start: date, end: date | None) -> Period:
    """The goal's inclusive range: the calendar period holding `start` (an `end`, if given,
    must be that period's last day), or exactly [start, end] for `custom`."""
    if kind is GoalPeriodKind.CUSTOM:
        if end is None:
            raise GoalPeriodError("period_end", "a custom goal needs a period_end")
        if end < start:
            raise GoalPeriodError("period_end", "must not be before period_start")
        if (end - start).days + 1 > MAX_CUSTOM_DAYS:
            raise GoalPeriodError(
                "period_end", f"a custom goal spans at most {MAX_CUSTOM_DAYS} days"
            )
        return custom(start, end)
    period = containing(PeriodKind(kind.value), start)
    if end is not None and end != period.end:
        raise GoalPeriodError(
            "period_end",
            f"the {kind} period holding {start.isoformat()} ends on {period.end.isoformat()}",
        )
    return period


def first_start_in(kpi_kind: PeriodKind, goal: Period) -> date | None:
    """The first day in the goal's range on which one of the KPI's periods starts, if any."""
    holding = containing(kpi_kind, goal.start)
    first = holding.start if holding.start == goal.start else holding.end + timedelta(days=1)
    return first if first <= goal.end else None


def check_fits(kind: GoalPeriodKind, goal: Period, kpi_kind: PeriodKind) -> None:
    """Refuse a goal that no measurement of the KPI could ever count towards: a calendar goal
    finer than the KPI's periods, or a range in which none of them starts."""
    if kind is not GoalPeriodKind.CUSTOM and is_finer(PeriodKind(kind.value), kpi_kind):
        raise GoalPeriodError(
            "period_kind", f"a {kind} goal cannot be set on a KPI measured {kpi_kind}"
        )
    if first_start_in(kpi_kind, goal) is None:
        raise GoalPeriodError(
            "period_end",
            f"no {kpi_kind} period of the KPI starts in "
            f"{goal.start.isoformat()}..{goal.end.isoformat()}",
        )


@dataclass(frozen=True, slots=True)
class Measured:
    """What the periods counted for a goal hold: how many, their total, extremes and the
    value of the latest one (all None when there is none)."""

    periods: int
    total: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    last: Decimal | None = None


def rolled_value(measured: Measured, rollup: str) -> Decimal | None:
    """The goal's current value: the periods' values combined by the KPI's rollup."""
    if measured.periods == 0:
        return None
    match rollup:
        case Rollup.SUM:
            return measured.total
        case Rollup.AVG:
            assert measured.total is not None
            return quantize(measured.total / Decimal(measured.periods))
        case Rollup.MIN:
            return measured.minimum
        case Rollup.MAX:
            return measured.maximum
        case Rollup.LAST:
            return measured.last
    raise ValueError(f"unknown rollup '{rollup}'")


@dataclass(frozen=True, slots=True)
class GoalProgress:
    """A goal's current value and progress in percent (unbounded), or why there is none."""

    current_value: Decimal | None
    progress: Decimal | None
    status: GoalStatus
    periods_counted: int
    reason: str | None

    @property
    def reached(self) -> bool:
        """Whether the goal is reached now (progress of 100% or more)."""
        return self.progress is not None and self.progress >= _HUNDRED


def goal_progress(
    measured: Measured,
    *,
    rollup: str,
    target: Decimal,
    target_type: str,
    warning_threshold: Decimal,
) -> GoalProgress:
    """Progress against the target, direction-aware exactly as a measurement's achievement."""
    value = rolled_value(measured, rollup)
    if value is None:
        return GoalProgress(
            None,
            None,
            GoalStatus.NO_DATA,
            0,
            "no measured value in a period starting within the goal's range",
        )
    progress = achievement(value, target, TargetType(target_type))
    judged = status(progress, warning_threshold)
    assert progress is not None and judged is not None
    return GoalProgress(value, progress, GoalStatus(judged.value), measured.periods, None)


def settles_on(goal: Period, kpi_kind: PeriodKind) -> date:
    """The last day of data a goal counts: the end of the KPI's period holding the goal's last
    day (a period starting within the range counts whole)."""
    return containing(kpi_kind, goal.end).end


def reaching_is_definitive(measured: Measured, *, rollup: str, target_type: str) -> bool:
    """Whether reaching the target cannot be undone by later periods: a growing total (a
    `sum` of non-negative values, higher better) only grows; an average, a `last`, `min` or
    `max`, a lower-is-better or exact goal can still move away from the target."""
    return (
        target_type == TargetType.HIGHER_BETTER
        and rollup == Rollup.SUM
        and (measured.minimum is None or measured.minimum >= 0)
    )


def is_achieved(
    progress: GoalProgress,
    measured: Measured,
    *,
    rollup: str,
    target_type: str,
    goal: Period,
    kpi_kind: PeriodKind,
    today: date,
) -> bool:
    """Whether the goal counts achieved on `today`: reached, and either its range has ended
    (its last counted period too) or reaching it is definitive."""
    if not progress.reached:
        return False
    return today > settles_on(goal, kpi_kind) or reaching_is_definitive(
        measured, rollup=rollup, target_type=target_type
    )


def stamped_too_early(
    stamped_on: date,
    measured: Measured,
    *,
    rollup: str,
    target_type: str,
    goal: Period,
    kpi_kind: PeriodKind,
) -> bool:
    """Whether an achievement stamped on that (local) day came before the result was settled."""
    return stamped_on <= settles_on(goal, kpi_kind) and not reaching_is_definitive(
        measured, rollup=rollup, target_type=target_type
    )
