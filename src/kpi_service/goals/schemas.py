"""Goals as clients set them (one at a time, or seed 003's bulk shape) and read them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from kpi_service.core.schemas import (
    Choice,
    Day,
    Id,
    Input,
    Key,
    ListQuery,
    Number,
    OutNumber,
    Output,
    SubjectRef,
    refuse_null,
)
from kpi_service.definitions.schemas import DefinitionReference
from kpi_service.engine.vocabulary import GoalPeriodKind, GoalStatus

# A bulk map's key: a KPI key, or its camelCase spelling as seed 003's client sends it.
GoalKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]

MAX_BULK = 100


class GoalCreate(DefinitionReference):
    """A new goal; name the KPI by `definition_id` or `definition_key`."""

    user_id: SubjectRef | None = Field(default=None, description="Defaults to the caller.")
    period_kind: Choice[GoalPeriodKind]
    period_start: Day | None = Field(
        default=None,
        description="Any day of a calendar period (default: today, in the "
        "organisation's time zone); a custom goal's first day.",
    )
    period_end: Day | None = Field(default=None, description="Required for custom goals.")
    target_value: Number


class GoalBulk(Input):
    """Seed 003's shape: targets by KPI key for one period of one user."""

    period: Choice[GoalPeriodKind]
    # pydantic publishes the key pattern as patternProperties, which alone lets any key by.
    goals: Annotated[dict[GoalKey, Number], Field(min_length=1, max_length=MAX_BULK)] = Field(
        description="Target by KPI key (snake_case, or its camelCase spelling).",
        json_schema_extra={"additionalProperties": False},
    )
    period_start: Day | None = Field(
        default=None,
        description="Any day of the period (default: today, in the "
        "organisation's time zone); a custom range's first day.",
    )
    period_end: Day | None = Field(default=None, description="Required for custom goals.")
    user_id: SubjectRef | None = Field(default=None, description="Defaults to the caller.")


# Fields a PATCH may set but never clear: an explicit null is refused, not stored.
_NOT_NULL = ("target_value", "period_kind", "period_start", "period_end")


class GoalUpdate(Input):
    """A new target or range; the KPI and the user never change."""

    target_value: Number | None = None
    period_kind: Choice[GoalPeriodKind] | None = None
    period_start: Day | None = None
    period_end: Day | None = None

    _not_null = refuse_null(*_NOT_NULL)


class GoalQuery(ListQuery):
    """What the list of goals may be narrowed to."""

    user_id: SubjectRef | None = Field(default=None, description="One user's goals.")
    definition_id: Id | None = None
    definition_key: Key | None = None
    period_kind: Choice[GoalPeriodKind] | None = None
    active_on: Day | None = Field(default=None, description="Whose range holds this date.")


class GoalRead(Output):
    """A goal with its progress from the user's measurements in its range."""

    id: int
    user_id: str
    definition_id: int
    definition_key: str
    target_type: str
    rollup: str
    period_kind: Choice[GoalPeriodKind]
    period_start: date
    period_end: date
    target_value: OutNumber
    current_value: OutNumber | None = Field(
        description="The values of the periods counted, combined by the KPI's rollup."
    )
    progress: OutNumber | None = Field(
        description="Percent of the target, direction-aware, unbounded; null without data."
    )
    status: Choice[GoalStatus] = Field(
        description="met, at_risk or off_track once the range has "
        "ended (or the goal is achieved); `in_progress` before; "
        "no_data without a value."
    )
    is_final: bool = Field(
        description="The range (and the KPI period holding its last day) "
        "has ended: the result can no longer change with new periods."
    )
    periods_counted: int = Field(description="Measured periods starting within the range.")
    reason: str | None = Field(description="Why there is no progress, when there is none.")
    achieved_at: datetime | None = Field(
        description="When the goal counted achieved: a growing total (higher-better sum of "
        "non-negative values) as soon as it reaches its target, any other goal "
        "only once its range has ended with the target reached."
    )
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class GoalList(Output):
    """The goals a bulk request created or set, in the request's order."""

    items: list[GoalRead]
