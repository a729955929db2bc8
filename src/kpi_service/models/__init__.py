"""All tables, on one metadata for Alembic, and the vocabularies their columns hold.

The vocabularies the engine already reasons in (subject types, periods, targets, rollups,
goals, alerts) are in `kpi_service.engine.vocabulary`; the models use them.
"""

from kpi_service.models.alert import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    AlertRule,
)
from kpi_service.models.base import SCHEMA, Base
from kpi_service.models.definition import Assignment, AssignmentTarget, Definition
from kpi_service.models.event import PARTITION_PREFIX, Event
from kpi_service.models.goal import Goal
from kpi_service.models.measurement import (
    AuditEntry,
    CalculationRun,
    ClosedPeriod,
    Measurement,
    MeasurementRevision,
)
from kpi_service.models.pack import PackInstall
from kpi_service.models.vocabulary import (
    CalculationType,
    DeliveryStatus,
    MeasurementSource,
    RuleKind,
    RunStatus,
    RunTrigger,
    Severity,
    Unit,
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
    "CalculationType",
    "ClosedPeriod",
    "Definition",
    "DeliveryStatus",
    "Event",
    "Goal",
    "Measurement",
    "MeasurementRevision",
    "MeasurementSource",
    "PackInstall",
    "RuleKind",
    "RunStatus",
    "RunTrigger",
    "Severity",
    "Unit",
]
