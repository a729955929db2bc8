"""Measurements, revisions and runs as the API shows and takes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Self

from pydantic import Field, model_validator

from kpi_service.core.schemas import (
    Choice,
    Day,
    Id,
    Input,
    Key,
    ListQuery,
    LongText,
    Number,
    OutNumber,
    Output,
    SubjectRef,
)
from kpi_service.engine.vocabulary import Movement, PeriodKind


class MeasurementQuery(ListQuery):
    """What the list of measurements may be narrowed to."""

    assignment_id: Id | None = None
    user_id: SubjectRef | None = None
    definition_id: Id | None = None
    definition_key: Key | None = None
    period_from: Day | None = Field(default=None, description="periods ending on or after")
    period_to: Day | None = Field(default=None, description="periods starting on or before")


class _MeasuredState(Output):
    """What a measurement holds, now or in an earlier revision."""

    actual_value: OutNumber | None
    target_value: OutNumber | None
    achievement: OutNumber | None = Field(description="Percent, unbounded.")
    score: OutNumber | None = Field(description="Achievement capped by the definition.")
    status: str | None
    source: str
    details: dict[str, Any]
    comment: str | None
    run_id: int | None
    definition_version: int
    recorded_by: str | None
    calculated_at: datetime


class MeasurementRead(_MeasuredState):
    id: int
    assignment_id: int
    definition_id: int
    definition_key: str
    subject_type: str
    subject_id: str
    period_start: date
    period_end: date
    aligned: bool = Field(description="The period is one of the definition's own periods.")
    previous_value: OutNumber | None
    change_pct: OutNumber | None
    trend: str | None
    is_final: bool
    revision: int


class RevisionRead(_MeasuredState):
    revision: int
    changed_by: str | None
    change_reason: str | None
    changed_at: datetime


class ManualValue(Input):
    """A value recorded by hand for a manual KPI."""

    value: Number
    comment: LongText | None = None
    reason: LongText | None = Field(
        default=None,
        description="Why the value changes (kept on the revision). Required "
        "to restate the value of a closed period.",
    )


class ValueHistoryQuery(Input):
    """How much of a manual KPI's value history to show (seed 004's `?days=&limit=`)."""

    days: int = Field(
        default=30, ge=1, le=3660, description="Values recorded in the last `days` days."
    )
    limit: int = Field(default=100, ge=1, le=1000, description="At most this many, newest first.")


class ValueUpdate(Input):
    """Seed 004's quick update: the value of the period in progress."""

    current_value: Number
    comment: LongText | None = None


class RecordedValue(Output):
    """One value as it was recorded, with the target and achievement it had."""

    value: OutNumber | None
    target: OutNumber | None
    percentage_complete: OutNumber | None = Field(
        description="The value's achievement of its target, in percent (direction-aware)."
    )
    recorded_at: datetime = Field(description="When this value was recorded.")
    period_start: date
    period_end: date


class ValueHistory(Output):
    """A manual KPI's assignment as seed 004's KPI: its latest recorded value, how it moved
    from the value recorded before it, and the values recorded over the last days."""

    assignment_id: int
    definition_key: str
    name: str
    unit: str
    current_value: OutNumber | None = Field(description="The latest recorded value.")
    target: OutNumber | None = Field(description="The target in force for its period.")
    percentage_complete: OutNumber | None
    trend: Choice[Movement] = Field(
        description="The latest value against the one recorded before it, whatever its "
        "period: up, down, or neutral (equal, or nothing before it)."
    )
    percentage_change: OutNumber | None = Field(
        description="(latest - previous) / |previous| x 100; 0 with no previous value, "
        "null when the previous value is 0."
    )
    updated_at: datetime | None = Field(description="When the latest value was recorded.")
    history: list[RecordedValue]


class RecalculateRequest(Input):
    """Recalculate the periods overlapping [period_start, period_end] (default: one day)."""

    period_start: Day
    period_end: Day | None = None
    period_kind: Choice[PeriodKind] | None = Field(
        default=None, description="Only KPIs aggregated over this period kind."
    )
    definition_keys: list[Key] | None = Field(default=None, max_length=500)
    assignment_ids: list[Id] | None = Field(default=None, max_length=10_000)
    subject_ids: list[SubjectRef] | None = Field(default=None, max_length=10_000)
    restate: bool = Field(default=False, description="Change closed periods too; needs a reason.")
    reason: LongText | None = Field(default=None, description="Why (kept on each revision).")

    @model_validator(mode="after")
    def _ordered(self) -> RecalculateRequest:
        if self.period_end is not None and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.restate and not self.reason:
            raise ValueError("a restatement needs a reason")
        return self


class PeriodsRequest(Input):
    """The periods holding `period_start` (to `period_end`) of the matching KPIs."""

    period_start: Day
    period_end: Day | None = None
    period_kind: Choice[PeriodKind] | None = None
    definition_keys: list[Key] | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.period_end is not None and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class ClosePeriodsRequest(PeriodsRequest):
    """Close the periods holding `period_start` (to `period_end`) of the matching KPIs."""

    reason: LongText | None = None


class ReopenPeriodsRequest(PeriodsRequest):
    """Reopen the closed periods holding `period_start` (to `period_end`) of the matching KPIs."""

    reason: LongText = Field(description="Why the periods are reopened (kept in the audit log).")

    @model_validator(mode="after")
    def _reasoned(self) -> ReopenPeriodsRequest:
        if not self.reason.strip():
            raise ValueError("reopening needs a reason")
        return self


class ClosedPeriodRead(Output):
    definition_key: str
    period_start: date
    period_end: date
    closed_by: str | None
    reason: str | None
    closed_at: datetime


class ClosePeriodsResult(Output):
    closed: list[ClosedPeriodRead] = Field(description="Periods closed by this request.")
    already_closed: int


class ReopenPeriodsResult(Output):
    reopened: list[ClosedPeriodRead] = Field(
        description="Periods reopened by this request, as they were closed (by whom, why)."
    )
    not_closed: int = Field(description="Matching periods that were not closed.")


class RunRead(Output):
    id: int
    trigger: str
    period_kind: str | None
    period_start: date
    period_end: date
    filters: dict[str, Any]
    restate: bool
    reason: str | None
    status: str
    computed: int
    unchanged: int
    failed: int
    skipped: int
    progress_done: int
    progress_total: int
    errors: list[dict[str, Any]]
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    resumed: int = Field(description="How often the run was resumed after its process died.")
