"""The raw measurements export's statement: the caller's visible rows, in id order, narrowed
by the filters `listMeasurements` takes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from kpi_service.measurements.listing_repository import MeasurementFilters
from kpi_service.measurements.repository import MeasurementRepository
from kpi_service.models import Assignment, Definition, Measurement, joins

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
    tenant_id: str, visible: ColumnElement[bool], filters: MeasurementFilters
) -> Select[Any]:
    """Measurements of the tenant the caller may see, filtered, oldest id first."""
    return (
        select(*COLUMNS)
        .join(Assignment, joins.assignment_of(Measurement))
        .join(Definition, joins.definition_of(Measurement))
        .where(MeasurementRepository.in_tenant(tenant_id), visible, *filters.conditions())
        .order_by(Measurement.id)
    )
