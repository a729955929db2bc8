"""How an alert rule's condition judges one (subject, period) of measurements: as ended, or
(for a rule that opts in) the period in progress projected on its pace; the rule as it is
judged (`Watch`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from kpi_service.alerts.observation_repository import Point
from kpi_service.alerts.schemas import (
    AchievementBelow,
    Anomaly,
    ChangePct,
    Condition,
    ConsecutiveDeclines,
    ValueThreshold,
    condition_of,
)
from kpi_service.engine import achievement as ach
from kpi_service.engine import alerting
from kpi_service.engine import pace as pace_rules
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import ChangeDirection, Direction, TargetType
from kpi_service.models import AlertRule, Definition


@dataclass(frozen=True, slots=True)
class Watch:
    """A rule to evaluate, with the KPI definition it watches and its condition, parsed once."""

    rule: AlertRule
    definition: Definition
    condition: Condition

    @classmethod
    def of(cls, rule: AlertRule, definition: Definition) -> Watch:
        """The rule with its definition, its stored condition parsed."""
        return cls(rule, definition, condition_of(rule))


def judge(condition: Condition, point: Point) -> alerting.Judgement:
    """How one (subject, period) stands against a measurement-based condition."""
    match condition:
        case AchievementBelow():
            return alerting.below(point.achievement, condition.threshold, condition.clear_margin)
        case ValueThreshold():
            return alerting.value_crosses(
                point.actual_value,
                Direction(condition.direction),
                condition.threshold,
                condition.clear_margin,
            )
        case ChangePct():
            return alerting.change_beyond(
                point.actual_value,
                point.previous_value,
                ChangeDirection(condition.direction),
                condition.limit,
                condition.clear_margin,
            )
        case Anomaly():
            return alerting.anomaly(point.actual_value, point.history, condition.z)
        case ConsecutiveDeclines():
            return alerting.declines(
                point.actual_value is not None, point.declining, condition.periods
            )
    raise ValueError(f"{condition.kind} is not judged from measurements")


def projects(condition: Condition) -> bool:
    """Whether the rule also judges the period in progress, on its pace."""
    return bool(getattr(condition, "on_projection", False))


@dataclass(frozen=True, slots=True)
class Projection:
    """A period in progress as a projecting rule judges it: its point with the value (and
    achievement) projected to the period's end, and what the alert shows of the projection."""

    point: Point
    details: dict[str, Decimal | None]


def on_pace(
    point: Point,
    period: Period,
    definition: Definition,
    tz: ZoneInfo,
) -> Projection | None:
    """The point of a period in progress projected on its pace; None when there is nothing
    to project yet."""
    if point.calculated_at is None:
        return None
    share = pace_rules.elapsed_share(period, tz, point.calculated_at)
    value = pace_rules.projected(point.actual_value, definition.rollup, share)
    if value is None:
        return None
    achieved = ach.achievement(
        value, point.target_value, TargetType(definition.target_type), point.baseline_value
    )
    return Projection(
        dataclasses.replace(point, actual_value=value, achievement=achieved),
        {"projected_value": value, "elapsed_fraction": ach.quantize(share)},
    )


def for_periods(condition: Condition) -> int:
    """Consecutive breaching periods before an alert fires."""
    return getattr(condition, "for_periods", 1)
