"""Series views as clients ask for them and read them: timeseries and forecast."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from kpi_service.core.schemas import Input, Key, OutNumber, Output, SubjectRef
from kpi_service.definitions.schemas import AggregationPeriod

SubjectType = Literal["user", "team", "organization"]
Source = Literal["own", "members", "none"]
Verdict = Literal["likely", "uncertain", "unlikely", "not_enough_history", "no_target"]
# Far enough from the calendar's ends that buckets and weeks around a day stay valid dates.
Day = Annotated[date, Field(ge=date(2, 1, 1), le=date(9998, 12, 31))]


class _SubjectQuery(Input):
    key: Key = Field(description="The KPI definition's key.")
    subject_type: SubjectType = "user"
    subject_id: SubjectRef | None = Field(
        default=None, description="A user or team id; omitted for the organisation. A user "
        "series without it is the caller's own.")

    @model_validator(mode="after")
    def _subject(self) -> _SubjectQuery:
        if self.subject_type == "team" and self.subject_id is None:
            raise ValueError("subject_id is required for a team")
        return self


class TimeseriesQuery(_SubjectQuery):
    """A KPI for a subject over a date range, at its own grain or a coarser one."""

    from_: Day | None = Field(default=None, alias="from", description="First day of the range.")
    to: Day | None = Field(default=None, description="Last day of the range (default: today).")
    period_start: Day | None = Field(default=None, description="Same as `from`.")
    period_end: Day | None = Field(default=None, description="Same as `to`.")
    grain: AggregationPeriod | None = Field(
        default=None, description="Roll periods up to this grain (default: the KPI's own).")

    @model_validator(mode="after")
    def _range(self) -> TimeseriesQuery:
        if self.from_ is not None and self.period_start is not None:
            raise ValueError("give either from or period_start, not both")
        if self.to is not None and self.period_end is not None:
            raise ValueError("give either to or period_end, not both")
        if self.first is None:
            raise ValueError("from (or period_start) is required")
        if self.last is not None and self.last < self.first:
            raise ValueError("the range ends before it starts")
        return self

    @property
    def first(self) -> date | None:
        """The range's first day, whichever name it came under."""
        return self.from_ if self.from_ is not None else self.period_start

    @property
    def last(self) -> date | None:
        """The range's last day if given, whichever name it came under."""
        return self.to if self.to is not None else self.period_end


class ForecastQuery(_SubjectQuery):
    """A KPI's outlook for a subject: pace of the current period and a linear trend."""

    history: int = Field(default=12, ge=3, le=730,
                         description="Ended periods before the current one the trend is fitted "
                         "on (those without a value are left out; at least 3 must have one).")
    horizon: int = Field(default=3, ge=1, le=24,
                         description="Periods projected, the current one first.")


class SeriesPoint(Output):
    """One bucket of the series; values combined by the KPI's rollup."""

    period_start: date
    period_end: date
    value: OutNumber | None
    target: OutNumber | None
    achievement: OutNumber | None
    status: str | None
    is_final: bool
    complete: bool = Field(description="Every native period of the bucket has a value.")
    periods_expected: int = Field(description="Native periods the bucket holds.")
    periods_in_range: int = Field(description="Of those, the ones overlapping the range.")
    periods_measured: int = Field(description="Of those, the ones with a value.")
    members_measured: int | None = Field(
        description="Members with a value in the bucket, for a series derived from members.")


class PointValue(Output):
    """A bucket and its value, as the summary names them."""

    period_start: date
    period_end: date
    value: OutNumber


class SeriesSummary(Output):
    """What a reader looks for first in the points that have a value."""

    points_with_value: int
    latest: PointValue | None
    minimum: PointValue | None
    maximum: PointValue | None
    best: PointValue | None = Field(description="Best by the KPI's direction (exact: closest "
                                    "to its target).")
    change: OutNumber | None = Field(description="Latest value minus the first one.")
    change_pct: OutNumber | None
    change_from_previous_pct: OutNumber | None = Field(
        description="Latest point against the point just before it.")


class _SeriesHead(Output):
    key: str
    subject_type: SubjectType
    subject_id: str
    unit: str
    target_type: str
    rollup: str
    native_grain: AggregationPeriod
    source: Source = Field(description="own: the subject's assignment; members: derived from "
                           "its members' measurements; none: neither exists.")
    members: int | None = Field(description="Members with an assignment in force in the "
                                "range, for a derived series.")


class TimeseriesRead(_SeriesHead):
    grain: AggregationPeriod
    range_start: date
    range_end: date
    points: list[SeriesPoint]
    summary: SeriesSummary


class PaceRead(Output):
    """Where the current period is heading, from its value so far."""

    value: OutNumber
    projected: OutNumber
    elapsed_fraction: OutNumber = Field(description="Share of the period elapsed when the "
                                        "value was taken (sum KPIs are scaled by it).")
    as_of: datetime
    target: OutNumber | None
    achievement: OutNumber | None
    status: str | None


class TrendRead(Output):
    """The line fitted to the ended periods (x counts periods from the window's first)."""

    window_start: date
    periods_used: int
    slope: OutNumber = Field(description="Change per period.")
    intercept: OutNumber = Field(description="Fitted value of the window's first period.")
    residual_se: OutNumber


class Projection(Output):
    """A projected period: the line's value and its prediction intervals."""

    period_start: date
    period_end: date
    value: OutNumber
    lower_80: OutNumber
    upper_80: OutNumber
    lower_95: OutNumber
    upper_95: OutNumber


class Outlook(Output):
    """Whether the current period's target is likely to be met, under the fitted line."""

    period_start: date
    period_end: date
    target: OutNumber | None
    expected: OutNumber | None
    probability: OutNumber | None
    verdict: Verdict


class ForecastRead(_SeriesHead):
    today: date
    current_period_start: date
    current_period_end: date
    pace: PaceRead | None
    pace_reason: str | None
    trend: TrendRead | None
    trend_reason: str | None
    projections: list[Projection]
    outlook: Outlook
