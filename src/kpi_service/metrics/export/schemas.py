"""The raw measurements export's query parameters."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from kpi_service.core.schemas import Day, Id, Input, Key, SubjectRef


class MeasurementExportQuery(Input):
    """Which measurements, filtered as `listMeasurements` filters them."""

    assignment_id: Id | None = None
    user_id: SubjectRef | None = None
    definition_id: Id | None = None
    definition_key: Key | None = None
    period_from: Day | None = Field(default=None, description="Periods ending on or after.")
    period_to: Day | None = Field(default=None, description="Periods starting on or before.")
    start: Day | None = Field(default=None, description="Same as period_from (seed 001).")
    end: Day | None = Field(default=None, description="Same as period_to (seed 001).")

    @model_validator(mode="after")
    def _range(self) -> MeasurementExportQuery:
        if self.start is not None and self.period_from is not None:
            raise ValueError("give either period_from or start, not both")
        if self.end is not None and self.period_to is not None:
            raise ValueError("give either period_to or end, not both")
        if self.first and self.last and self.last < self.first:
            raise ValueError("the range ends before it starts")
        return self

    @property
    def first(self) -> dt.date | None:
        """Periods ending on or after this day, whichever name it came under."""
        return self.period_from if self.period_from is not None else self.start

    @property
    def last(self) -> dt.date | None:
        """Periods starting on or before this day, whichever name it came under."""
        return self.period_to if self.period_to is not None else self.end
