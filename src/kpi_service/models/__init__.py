"""All tables, on one metadata for Alembic."""

from kpi_service.models.alert import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertRule,
)
from kpi_service.models.base import SCHEMA, Base
from kpi_service.models.definition import (
    Assignment,
    AssignmentTarget,
    Definition,
    SubjectType,
)
from kpi_service.models.event import PARTITION_PREFIX, Event
from kpi_service.models.goal import Goal
from kpi_service.models.measurement import (
    AuditEntry,
    CalculationRun,
    ClosedPeriod,
    Measurement,
    MeasurementRevision,
)

__all__ = [
    "PARTITION_PREFIX",
    "SCHEMA",
    "Alert",
    "AlertChannel",
    "AlertDelivery",
    "AlertDeliveryAttempt",
    "AlertRule",
    "Assignment",
    "AssignmentTarget",
    "AuditEntry",
    "Base",
    "CalculationRun",
    "ClosedPeriod",
    "Definition",
    "Event",
    "Goal",
    "Measurement",
    "MeasurementRevision",
    "SubjectType",
]
