"""Assignments (a definition x a subject, with effective-dated targets) as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, model_validator

from kpi_service.core.schemas import (
    Choice,
    Day,
    Id,
    Input,
    ListQuery,
    Number,
    OutNumber,
    Output,
    SubjectRef,
    Weight,
    number_default,
    refuse_null,
)
from kpi_service.definitions.schemas import DefinitionReference
from kpi_service.engine.vocabulary import SubjectType

MAX_BULK = 1000


class AssignmentCreate(DefinitionReference):
    """A new assignment; name the definition by `definition_id` or `definition_key`."""

    subject_type: Choice[SubjectType]
    subject_id: SubjectRef | None = Field(
        default=None, description="Required for user and team; the tenant for organization."
    )
    team_id: SubjectRef | None = None
    target_value: Number | None = Field(
        default=None,
        description="Omitted or null: the KPI is tracked without a target (measured, charted "
        "and alerted on values; no achievement, left out of weighted scores).",
    )
    weight: Weight = number_default(100)
    baseline_value: Number | None = None
    start_date: Day | None = Field(default=None, description="Defaults to today.")
    end_date: Day | None = None
    supersede: bool = Field(
        default=True,
        description="When the subject already has this KPI from an earlier start date, that "
        "assignment ends the day before this one starts (its history stays). "
        "false: answer 409 naming the assignment in force instead.",
    )


class AssignmentBulkCreate(Input):
    """Many new assignments, stored all together or not at all."""

    items: Annotated[list[AssignmentCreate], Field(min_length=1, max_length=MAX_BULK)]


# Fields a PATCH may set but never clear: an explicit null is refused, not stored.
_NOT_NULL = ("target_effective_from", "weight")


class AssignmentUpdate(Input):
    """A partial change; a new target applies from `target_effective_from` (default today)."""

    target_value: Number | None = Field(
        default=None,
        description="The target from `target_effective_from` on; null: no target from then on "
        "(tracked without one until a later date sets one again).",
    )
    target_effective_from: Day | None = None
    weight: Weight | None = None
    baseline_value: Number | None = None
    end_date: Day | None = None
    team_id: SubjectRef | None = None

    _not_null = refuse_null(*_NOT_NULL)

    @model_validator(mode="after")
    def _date_needs_target(self) -> AssignmentUpdate:
        if (
            "target_effective_from" in self.model_fields_set
            and "target_value" not in self.model_fields_set
        ):
            raise ValueError("target_effective_from needs a target_value")
        return self


class AssignmentEnd(Input):
    """When an assignment ends (inclusive); default today."""

    end_date: Day | None = None


class AssignmentQuery(ListQuery):
    """What the list of assignments may be narrowed to."""

    user_id: SubjectRef | None = Field(default=None, description="A user's own assignments.")
    subject_type: Choice[SubjectType] | None = None
    subject_id: SubjectRef | None = None
    team_id: SubjectRef | None = None
    definition_id: Id | None = None
    active_on: Day | None = Field(default=None, description="In force on this date.")


class TargetRead(Output):
    """The target from a date on."""

    effective_from: date
    target_value: OutNumber | None = Field(description="null: no target from this date on.")


class AssignmentRead(Output):
    """An assignment, its target in force today and every target it has had."""

    id: int
    definition_id: int
    definition_key: str
    subject_type: Choice[SubjectType]
    subject_id: str
    team_id: str | None
    target_value: OutNumber | None = Field(
        description="The target in force today; null: none (tracked without a target)."
    )
    weight: OutNumber
    baseline_value: OutNumber | None
    start_date: date
    end_date: date | None
    is_active: bool
    assigned_by: str | None
    created_at: datetime
    updated_at: datetime
    targets: list[TargetRead]


class AssignmentList(Output):
    """The assignments created by one bulk request, in request order."""

    items: list[AssignmentRead]
