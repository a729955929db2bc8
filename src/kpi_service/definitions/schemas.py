"""KPI definitions as clients send and read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from kpi_service.core.schemas import (
    Choice,
    Id,
    Input,
    Key,
    ListQuery,
    LongText,
    Name,
    Number,
    OutNumber,
    Output,
    ShortText,
    number_default,
    refuse_null,
)
from kpi_service.engine.vocabulary import PeriodKind, Rollup, SubjectType, TargetType, ToDate
from kpi_service.engine.windows import MAX_DAYS
from kpi_service.models import CalculationType, Unit

Category = Annotated[ShortText, Field(min_length=1)]
WarningThreshold = Annotated[Number, Field(gt=0, le=100)]
ScoreCap = Annotated[Number, Field(gt=0, le=100_000)]
# Config is checked per calculation type by the service; this only bounds its size.
Config = Annotated[dict[str, Any], Field(max_length=50)]

# Counts and money add up over periods; rates and durations average; the rest keep the last.
DEFAULT_ROLLUP: dict[Unit, Rollup] = {
    Unit.COUNT: Rollup.SUM,
    Unit.CURRENCY: Rollup.SUM,
    Unit.PERCENT: Rollup.AVG,
    Unit.HOURS: Rollup.AVG,
    Unit.MINUTES: Rollup.AVG,
    Unit.DAYS: Rollup.AVG,
    Unit.NONE: Rollup.LAST,
}


class TrailingDays(Input):
    """The N local days ending at each period's end."""

    days: Annotated[int, Field(strict=True, ge=1, le=MAX_DAYS)]

    def __str__(self) -> str:
        """The window as a CSV export shows it."""
        return f"{self.days} days"


class PeriodToDate(Input):
    """From the first day of the month, quarter or year holding each period's end to it."""

    to_date: Choice[ToDate]

    def __str__(self) -> str:
        """The window as a CSV export shows it."""
        return f"{self.to_date} to date"


def _window_kind(value: Any) -> str:
    # One branch judges a value, so a refusal names one reason rather than three.
    if isinstance(value, PeriodToDate) or (isinstance(value, dict) and "to_date" in value):
        return "to_date"
    if isinstance(value, TrailingDays | dict):
        return "days"
    return "all"


WindowShape = Annotated[
    Annotated[TrailingDays, Tag("days")]
    | Annotated[PeriodToDate, Tag("to_date")]
    | Annotated[Literal["all"], Tag("all")],
    Discriminator(_window_kind),
]
WINDOW_DOC = (
    "What each period's value covers: null the period itself; "
    '`{"days": N}` the N local days ending at its end (1 to 3660); `{"to_date": '
    '"month" | "quarter" | "year"}` its month, quarter or year to date; `"all"` '
    "everything up to its end."
)


def default_rollup(unit: str, window: Any) -> Rollup:
    """The rollup a definition gets when none is given: from its unit, except that values of
    overlapping windows do not add up, so a windowed one keeps its last."""
    return DEFAULT_ROLLUP[Unit(unit)] if window is None else Rollup.LAST


class DefinitionReference(Input):
    """A body naming a KPI definition by exactly one of `definition_id` or `definition_key`."""

    definition_id: Id | None = None
    definition_key: Key | None = None

    @model_validator(mode="after")
    def _one_definition_reference(self) -> Self:
        if (self.definition_id is None) == (self.definition_key is None):
            raise ValueError("give exactly one of definition_id or definition_key")
        return self

    @property
    def reference_field(self) -> str:
        """The field that names the definition: `definition_id` or `definition_key`."""
        return "definition_id" if self.definition_id is not None else "definition_key"


class DefinitionCreate(Input):
    """A new KPI definition."""

    key: Key
    name: Name
    description: LongText | None = None
    category: Category | None = None
    unit: Choice[Unit]
    target_type: Choice[TargetType]
    aggregation_period: Choice[PeriodKind]
    scope: Choice[SubjectType] = SubjectType.USER
    calculation_type: Choice[CalculationType]
    config: Config = Field(default_factory=dict)
    rollup: Choice[Rollup] | None = Field(
        default=None, description="Defaults from the unit; `last` with a window."
    )
    window: WindowShape | None = Field(
        default=None, description=WINDOW_DOC + " Event and query KPIs only."
    )
    warning_threshold: WarningThreshold = number_default(80)
    score_cap: ScoreCap = number_default(150)
    is_active: bool = True


# Fields a PATCH may set but never clear: an explicit null is refused, not stored.
_NOT_NULL = (
    "name",
    "unit",
    "target_type",
    "calculation_type",
    "config",
    "rollup",
    "warning_threshold",
    "score_cap",
    "is_active",
)


class DefinitionUpdate(Input):
    """A partial change; key, aggregation_period and scope never change."""

    name: Name | None = None
    description: LongText | None = None
    category: Category | None = None
    unit: Choice[Unit] | None = None
    target_type: Choice[TargetType] | None = None
    calculation_type: Choice[CalculationType] | None = None
    config: Config | None = None
    rollup: Choice[Rollup] | None = None
    window: WindowShape | None = Field(default=None, description=WINDOW_DOC)
    warning_threshold: WarningThreshold | None = None
    score_cap: ScoreCap | None = None
    is_active: bool | None = None

    _not_null = refuse_null(*_NOT_NULL)


class DefinitionQuery(ListQuery):
    """What the list of definitions may be narrowed to."""

    category: Category | None = None
    calculation_type: Choice[CalculationType] | None = None
    is_active: bool | None = None


class DefinitionRead(Output):
    """A KPI definition as stored (a query's SQL text for admins only)."""

    # `sql_hidden` has a default for reading ORM rows, yet every answer carries it.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    id: int
    key: str
    name: str
    description: str | None
    category: str | None
    unit: Choice[Unit]
    target_type: Choice[TargetType]
    aggregation_period: Choice[PeriodKind]
    scope: Choice[SubjectType]
    calculation_type: Choice[CalculationType]
    config: dict[str, Any] = Field(
        description="As saved, except a query's SQL text (`sql`), which only admins see."
    )
    sql_hidden: bool = Field(
        default=False,
        description="True when the config holds SQL text left out for this caller's role.",
    )
    rollup: Choice[Rollup]
    window: WindowShape | None = Field(description=WINDOW_DOC)
    warning_threshold: OutNumber
    score_cap: OutNumber
    is_active: bool
    version: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime
