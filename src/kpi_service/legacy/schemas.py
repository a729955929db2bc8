"""The seed's request bodies (its BFF sends exactly these) and the answers it reads."""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import model_validator

from kpi_service.core.schemas import Day, Id, Input, Number, SubjectRef, Weight, number_default


class LegacyAssign(Input):
    kpi_definition_id: Id
    target_value: Number
    weight: Weight = number_default(100)
    start_date: Day | None = None
    # The seed's users.id; read and ignored (the assigner is the caller), yet kept in range.
    assigned_by: SubjectRef | Id | None = None


class LegacyCalculate(Input):
    period_start: Day
    period_end: Day

    @model_validator(mode="after")
    def _ordered(self) -> LegacyCalculate:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if (self.period_end - self.period_start).days > 3660:
            raise ValueError("the range is longer than ten years")
        return self


# The answers are published as free JSON, as the seed never described them: these types
# are for the type checker, not response models.
class LegacyDefinitions(TypedDict):
    definitions: list[dict[str, Any]]


class LegacyUserKpis(TypedDict):
    user_id: int | str
    kpis: list[dict[str, Any]]


class LegacyAssigned(TypedDict):
    success: bool
    user_kpi_id: int


class LegacyCalculated(TypedDict):
    success: bool
    measurement_id: int | None
    measurement: dict[str, Any] | None
