"""The raw measurements export's statement: the caller's visible rows, in id order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from kpi_service.metrics.export.schemas import MeasurementExportQuery
from kpi_service.models import Assignment, Definition, Measurement, SubjectType, joins

# The exported columns, in order (`details` stays out: JSON does not fit a cell).
COLUMNS: list[Any] = [
    Measurement.id,
    Measurement.assignment_id,
    Definition.key.label("definition_key"),
    Assignment.subject_type,
    Assignment.subject_id,
    Assignment.team_id,
    Measurement.period_start,
    Measurement.period_end,
    Measurement.aligned,
    Measurement.actual_value,
    Measurement.target_value,
    Measurement.achievement,
    Measurement.score,
    Measurement.status,
    Measurement.previous_value,
    Measurement.change_pct,
    Measurement.trend,
    Measurement.is_final,
    Measurement.source,
    Measurement.revision,
    Measurement.recorded_by,
    Measurement.calculated_at,
    Measurement.comment,
]
HEADER = [c.key for c in COLUMNS]


def measurement_rows(
    tenant_id: str, visible: ColumnElement[bool], query: MeasurementExportQuery
) -> Select[Any]:
    """Measurements of the tenant the caller may see, filtered, oldest id first."""
    stmt = (
        select(*COLUMNS)
        .join(Assignment, joins.assignment_of(Measurement))
        .join(Definition, joins.definition_of(Measurement))
        .where(Measurement.tenant_id == tenant_id, visible)
        .order_by(Measurement.id)
    )
    if query.assignment_id is not None:
        stmt = stmt.where(Measurement.assignment_id == query.assignment_id)
    if query.user_id is not None:
        stmt = stmt.where(
            Assignment.subject_type == SubjectType.USER, Assignment.subject_id == query.user_id
        )
    if query.definition_id is not None:
        stmt = stmt.where(Measurement.definition_id == query.definition_id)
    if query.definition_key is not None:
        stmt = stmt.where(Definition.key == query.definition_key)
    if query.first is not None:
        stmt = stmt.where(Measurement.period_end >= query.first)
    if query.last is not None:
        stmt = stmt.where(Measurement.period_start <= query.last)
    return stmt
