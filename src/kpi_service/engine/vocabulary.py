"""The closed vocabularies the engine reasons in: subjects, periods, targets, statuses,
rollups, goals and alerts. The tables hold them too; `kpi_service.models.vocabulary` has the
rest."""

from __future__ import annotations

from enum import StrEnum


# What a KPI is measured for (DESIGN.md section 3): the `subject_type` of an assignment,
# and the `scope` of a definition. No docstring: it would become the API schema's description.
class SubjectType(StrEnum):
    USER = "user"
    TEAM = "team"
    ORGANIZATION = "organization"


class PeriodKind(StrEnum):
    """Granularity of an aligned reporting period."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class TargetType(StrEnum):
    """Which direction of a KPI value counts as good."""

    HIGHER_BETTER = "higher_better"
    LOWER_BETTER = "lower_better"
    EXACT = "exact"


class Status(StrEnum):
    """Traffic-light classification of an achievement."""

    MET = "met"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"


class Trend(StrEnum):
    """Direction of a KPI value against the previous period, judged by its target type."""

    IMPROVING = "improving"
    DECLINING = "declining"
    FLAT = "flat"


class Movement(StrEnum):
    """Direction of a value against the one recorded before it, whatever the KPI's direction
    (seed 004's `trend`)."""

    UP = "up"
    DOWN = "down"
    NEUTRAL = "neutral"


class Rollup(StrEnum):
    """How a KPI's values combine: over its periods, and over a team's members."""

    SUM = "sum"
    AVG = "avg"
    LAST = "last"
    MIN = "min"
    MAX = "max"


class GoalPeriodKind(StrEnum):
    """The calendar periods a goal may cover, or `custom` dates."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    CUSTOM = "custom"


class GoalStatus(StrEnum):
    """Where a goal stands: the achievement statuses, or no data yet."""

    MET = "met"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"
    IN_PROGRESS = "in_progress"


class Verdict(StrEnum):
    """How one period of one subject stands against a rule."""

    BREACH = "breach"
    HOLD = "hold"
    CLEAR = "clear"
    UNKNOWN = "unknown"


class Direction(StrEnum):
    """Which side of a threshold, or which way of a change, breaches."""

    ABOVE = "above"
    BELOW = "below"


class ChangeDirection(StrEnum):
    """Which changes versus the previous period breach."""

    UP = "up"
    DOWN = "down"
    EITHER = "either"


class AlertStatus(StrEnum):
    """Where an alert is in its life: pending, then firing, then resolved."""

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Notice(StrEnum):
    """Transitions that are notified to the rule's channels."""

    FIRING = "firing"
    RESOLVED = "resolved"


class ToDate(StrEnum):
    """The calendar period a period-to-date window starts at."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
