"""Query parameters and answers of the activity and executive views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kpi_service.core.schemas import Choice, Day, Input, Key, Limit, OutNumber, Output, SubjectRef
from kpi_service.definitions.schemas import WINDOW_DOC, WindowShape
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.events.schemas import EventType
from kpi_service.metrics.pace import PeriodPace

# At most five years of days in one range.
MAX_RANGE_DAYS = 5 * 366
MAX_STAGES = 20
MAX_COHORT_MONTHS = 36

Stage = Annotated[
    str, StringConstraints(pattern=r"^(kpi:[a-z][a-z0-9_]{0,62}|event:[a-z][a-z0-9_.:\-]{0,63})$")
]
# An event property or a query column: plain names only, they reach SQL as identifiers.
Dimension = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


def _within_bounds(start: date, end: date) -> date:
    """The range's end, once the range is known to run forwards and not too far."""
    if end < start:
        raise ValueError("end is before start")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"the range spans more than {MAX_RANGE_DAYS} days")
    return end


class _SubjectRange(Input):
    """A subject and an inclusive range of local dates (the organisation's time zone)."""

    subject_type: SubjectType = Field(
        default=SubjectType.ORGANIZATION,
        description="user, team (events with that team_id) or organization.",
    )
    subject_id: SubjectRef | None = Field(
        default=None,
        validate_default=True,
        description="Required for user and team; the tenant for organization.",
    )
    start: Day = Field(description="First day of the range, inclusive.")
    end: Day = Field(description="Last day of the range, inclusive.")

    # Field validators (not a model one) so that a refusal names the parameter at fault.
    @field_validator("subject_id")
    @classmethod
    def _subject_named(cls, subject_id: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("subject_type")
        if subject_id is None and kind not in (None, SubjectType.ORGANIZATION):
            raise ValueError(f"subject_id is required for subject_type {kind}")
        return subject_id

    @field_validator("end")
    @classmethod
    def _valid_range(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is None:
            return end
        return _within_bounds(start, end)


# --- summary -----------------------------------------------------------------------------


class SummaryQuery(Input):
    """Which periods the summary shows: by default each kind's latest ended one (and the one
    in progress beside it), the periods holding `date`, or the range `start`..`end`."""

    period_kind: Choice[PeriodKind] | None = Field(
        default=None, description="Only KPIs of this period kind (default: all)."
    )
    date: Day | None = Field(
        default=None,
        description="A day of the periods to show (default: each kind's latest "
        "ended period and the period in progress).",
    )
    start: Day | None = Field(
        default=None,
        description="First day of a range, inclusive (with end; not with "
        "date): each organisation KPI combined over its periods "
        "lying in the range.",
    )
    end: Day | None = Field(
        default=None,
        validate_default=True,
        description="Last day of the range, inclusive (with start).",
    )

    # Field validators (not a model one) so that a refusal names the parameter at fault.
    @field_validator("start")
    @classmethod
    def _start_alone(cls, start: Day | None, info: ValidationInfo) -> Day | None:
        if start is not None and info.data.get("date") is not None:
            raise ValueError("start cannot be combined with date")
        return start

    @field_validator("end")
    @classmethod
    def _valid_range(cls, end: Day | None, info: ValidationInfo) -> Day | None:
        if end is not None and info.data.get("date") is not None:
            raise ValueError("end cannot be combined with date")
        if "start" not in info.data:
            return end  # start was refused already; pairing errors would only add noise
        start = info.data["start"]
        if end is None:
            if start is not None:
                raise ValueError("start needs end")
            return end
        if start is None:
            raise ValueError("end needs start")
        return _within_bounds(start, end)


class EndedValue(Output):
    """An ended period's measurement, judged against its target (value null: not
    measured)."""

    period_start: date
    period_end: date
    is_final: bool = Field(description="Always true: the period has ended.")
    value: OutNumber | None
    target: OutNumber | None
    achievement: OutNumber | None
    status: str | None
    previous_value: OutNumber | None
    change_pct: OutNumber | None
    trend: str | None


class InProgressValue(Output):
    """The period in progress: its value so far and its pace, never judged as ended (no
    achievement, status or trend)."""

    period_start: date
    period_end: date
    is_final: bool = Field(description="Always false: the period has not ended.")
    value: OutNumber | None = Field(description="The value so far (null: not measured yet).")
    target: OutNumber | None
    pace: PeriodPace | None = Field(
        description="Where the value so far is heading (as every view shows it); null when "
        "not measured yet."
    )


class RangeValue(Output):
    """A KPI over a range: its periods lying wholly inside it, combined by its rollup."""

    start: date
    end: date
    rollup: str
    value: OutNumber | None = Field(
        description="sum, mean, last, minimum or maximum of the "
        "periods' values (null: none measured)."
    )
    periods_in_range: int = Field(description="The KPI's periods lying wholly in the range.")
    periods_measured: int = Field(description="Those with a value.")
    includes_in_progress: bool = Field(
        description="The range holds the period in progress, counted with its value so far."
    )


class OrganizationKpi(Output):
    """An organisation-scope KPI: its latest ended period (`current`), the period in
    progress beside it (`in_progress`), and its value over a range (`range`)."""

    definition_key: str
    name: str
    unit: str
    aggregation_period: str
    rollup: str
    window: WindowShape | None = Field(description=WINDOW_DOC)
    current: EndedValue | None = Field(
        description="Default and range: the latest ended period with a value (by the range's "
        "end); date: the ended period holding it."
    )
    in_progress: InProgressValue | None = Field(
        description="The period holding today, when the asked-for days include it."
    )
    range: RangeValue | None = Field(description="Only with start and end.")


class SummaryPeriod(Output):
    """A period the distribution is asked for; one not ended yet is not judged (it has no
    distribution)."""

    period_kind: str
    period_start: date
    period_end: date
    is_final: bool


class AchievementBucket(Output):
    """Measurements with achievement in [lower, upper) percent (null: unbounded)."""

    lower: OutNumber | None
    upper: OutNumber | None
    count: int


class Distribution(Output):
    """How the users' measurements of a period stand."""

    assignments: int = Field(description="User assignments in force during the period.")
    met: int
    at_risk: int
    off_track: int
    no_value: int = Field(description="No measurement, or one without achievement.")
    buckets: list[AchievementBucket]


class KpiDistribution(Distribution):
    definition_key: str
    name: str
    period_start: date
    period_end: date


class OpenAlert(Output):
    """An alert still pending or firing."""

    id: int
    rule_name: str
    definition_key: str
    subject_type: str
    subject_id: str
    period_start: date
    period_end: date
    status: Literal["pending", "firing"]
    severity: str
    opened_at: datetime


class SummaryRead(Output):
    today: date = Field(
        description="The day the summary was made, in the organisation's time zone."
    )
    start: date | None
    end: date | None
    kpis: list[OrganizationKpi] = Field(description="Active organisation-scope KPIs, by key.")
    periods: list[SummaryPeriod] = Field(
        description="The period of each kind the distribution covers."
    )
    distribution: list[KpiDistribution] = Field(
        description="Per active user KPI, by key; ended periods only."
    )
    overall: Distribution = Field(description="Every KPI's distribution added together.")
    open_alerts: list[OpenAlert] = Field(
        description="Alerts pending or firing that the caller may see, newest first (at "
        "most 50; GET /alerts lists them all)."
    )


# --- funnel ------------------------------------------------------------------------------


class FunnelQuery(_SubjectRange):
    """Ordered stages: `kpi:<key>` (the subject's value of that KPI) or `event:<type>`."""

    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES)
    count: Literal["events", "users"] = Field(
        default="events", description="What an event stage counts: events or distinct users."
    )

    @model_validator(mode="after")
    def _distinct_stages(self) -> FunnelQuery:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("a stage is named twice")
        return self


class FunnelStage(Output):
    stage: str = Field(description="As given: kpi:<key> or event:<type>.")
    kind: Literal["kpi", "event"]
    key: str = Field(description="The KPI key or event type.")
    count: OutNumber | None = Field(description="None: the KPI has no value in the range.")
    reason: str | None = Field(
        default=None,
        description="Why `count` is None: no whole period of the KPI lies in "
        "the range, or it has no value in those that do.",
    )
    conversion_from_previous: OutNumber | None = Field(
        description="Percent; None for the first stage or a previous 0 or None."
    )
    conversion_from_first: OutNumber | None = Field(
        description="Percent; None when the first stage is 0 or None."
    )


class FunnelRead(Output):
    subject_type: SubjectType
    subject_id: str
    start: date
    end: date
    count: Literal["events", "users"]
    stages: list[FunnelStage]


# --- breakdown ---------------------------------------------------------------------------


class BreakdownQuery(_SubjectRange):
    """A KPI split by an event property (event KPIs) or an extra column (query KPIs)."""

    definition_key: Key = Field(description="The KPI definition's key.")
    dimension: Dimension
    convert_type: EventType | None = Field(
        default=None,
        description="Event KPIs: conversions are events of this type with the "
        "same dimension value.",
    )
    convert_property: Dimension | None = Field(
        default=None,
        description="Numeric property of the conversion events to sum (default: their value).",
    )
    limit: Limit = 100

    @model_validator(mode="after")
    def _property_needs_type(self) -> BreakdownQuery:
        if self.convert_property is not None and self.convert_type is None:
            raise ValueError("convert_property needs convert_type")
        return self


class BreakdownRow(Output):
    dimension_value: str | None = Field(description="None: events without the property.")
    count: int = Field(description="Events of the KPI (query KPIs: source rows).")
    value: OutNumber | None = Field(description="The KPI's aggregate over this slice.")
    total: OutNumber | None = Field(description="Sum of the measured values.")
    conversions: int | None
    conversion_rate: OutNumber | None = Field(description="conversions / count, percent.")
    conversion_value: OutNumber | None = Field(description="Sum over the conversions.")


class BreakdownRead(Output):
    definition_key: str
    calculation_type: str
    dimension: str
    subject_type: SubjectType
    subject_id: str
    start: date
    end: date
    rows: list[BreakdownRow]
    truncated: bool = Field(description="More dimension values exist than `limit`.")


# --- cohorts -----------------------------------------------------------------------------


class CohortsQuery(Input):
    """Monthly signup cohorts and who was active in weeks 1, 4 and 12 after signing up."""

    months: int = Field(default=6, ge=1, le=MAX_COHORT_MONTHS)
    last_month: Day | None = Field(
        default=None, description="A day of the newest cohort's month (default: today)."
    )
    signup_type: EventType = "signup"
    activity_type: EventType | None = Field(
        default=None, description="Activity that retains (default: any type but signup_type)."
    )

    @model_validator(mode="after")
    def _types_differ(self) -> CohortsQuery:
        if self.activity_type == self.signup_type:
            raise ValueError("activity_type must differ from signup_type")
        return self


_RETAINED = "Members active in that week; None until it is over for every member."


class CohortRead(Output):
    month: date = Field(description="First day of the signup month (organisation's time zone).")
    size: int
    week_1_retained: int | None = Field(description=_RETAINED)
    week_1_pct: OutNumber | None
    week_4_retained: int | None = Field(description=_RETAINED)
    week_4_pct: OutNumber | None
    week_12_retained: int | None = Field(description=_RETAINED)
    week_12_pct: OutNumber | None


class CohortsRead(Output):
    signup_type: str
    activity_type: str | None
    cohorts: list[CohortRead] = Field(description="Oldest first.")
