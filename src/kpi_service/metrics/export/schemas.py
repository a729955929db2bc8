"""The raw measurements export's query parameters."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from kpi_service.core.schemas import Id, Input, Key, SubjectRef


class MeasurementExportQuery(Input):
    """Which measurements, filtered as `listMeasurements` filters them."""

    assignment_id: Id | None = None
    user_id: SubjectRef | None = None
    definition_id: Id | None = None
    definition_key: Key | None = None
    period_from: dt.date | None = Field(default=None, description="Periods ending on or after.")
    period_to: dt.date | None = Field(default=None, description="Periods starting on or before.")

    @model_validator(mode="after")
    def _ordered(self) -> MeasurementExportQuery:
        if self.period_from and self.period_to and self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self
