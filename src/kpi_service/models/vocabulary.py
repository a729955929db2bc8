"""The closed vocabularies the tables hold that the engine does not reason in; those it
reasons in (subject types, periods, targets, rollups, goals, alerts) are in
`kpi_service.engine.vocabulary`."""

from __future__ import annotations

from enum import StrEnum


class Unit(StrEnum):
    """What a KPI's values count or measure."""

    COUNT = "count"
    PERCENT = "percent"
    CURRENCY = "currency"
    HOURS = "hours"
    MINUTES = "minutes"
    DAYS = "days"
    NONE = "none"


class CalculationType(StrEnum):
    """Where a KPI's values come from: recorded by hand or computed by a calculator."""

    MANUAL = "manual"
    QUERY = "query"
    EVENT = "event"
    API = "api"
    FORMULA = "formula"
    SUBSCRIPTION = "subscription"


class MeasurementSource(StrEnum):
    """How a measurement's value got there."""

    CALCULATED = "calculated"
    MANUAL = "manual"
    IMPORTED = "imported"


class RunTrigger(StrEnum):
    """What started a calculation run."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"


class RunStatus(StrEnum):
    """Where a calculation run is: waiting, running, or done and how well."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class RuleKind(StrEnum):
    """The condition an alert rule watches."""

    ACHIEVEMENT_BELOW = "achievement_below"
    VALUE_THRESHOLD = "value_threshold"
    CHANGE_PCT = "change_pct"
    ANOMALY = "anomaly"
    CONSECUTIVE_DECLINES = "consecutive_declines"
    MISSING_VALUE = "missing_value"


class Severity(StrEnum):
    """How urgent a rule's alerts are."""

    WARNING = "warning"
    CRITICAL = "critical"


class DeliveryStatus(StrEnum):
    """Where one notification to one channel is: queued, sent, given up, or called off."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
