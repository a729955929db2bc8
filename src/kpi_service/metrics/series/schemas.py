"""Series views as clients ask for them and read them: timeseries and forecast."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from kpi_service.core.schemas import Choice, Day, Input, Key, OutNumber, Output, SubjectRef
from kpi_service.definitions.schemas import WINDOW_DOC, WindowShape
from kpi_service.engine.vocabulary import PeriodKind, SubjectType
from kpi_service.metrics.pace import PeriodPace

Source = Literal["own", "members", "none"]
Verdict = Literal["likely", "uncertain", "unlikely", "not_enough_history", "no_target"]


class _SubjectQuery(Input):
    definition_key: Key = Field(description="The KPI definition's key.")
    subject_type: SubjectType = Field(
        default=SubjectType.USER, description="user, team or organization."
    )
    subject_id: SubjectRef | None = Field(
        default=None,
        validate_default=True,
        description="A user or team id; omitted for the organisation. A user series without "
        "it is the caller's own.",
    )

    @field_validator("subject_id")
    @classmethod
    def _subject(cls, subject_id: str | None, info: ValidationInfo) -> str | None:
        if subject_id is None and info.data.get("subject_type") is SubjectType.TEAM:
            raise ValueError("subject_id is required for a team")
        return subject_id


class TimeseriesQuery(_SubjectQuery):
    """A KPI for a subject over a date range, at its own grain or a coarser one."""

    start: Day = Field(description="First day of the range, inclusive.")
    end: Day | None = Field(
        default=None,
        description="Last day of the range, inclusive "
        "(default: today in the organisation's time zone).",
    )
    grain: Choice[PeriodKind] | None = Field(
        default=None, description="Roll periods up to this grain (default: the KPI's own)."
    )

    @field_validator("end")
    @classmethod
    def _in_order(cls, end: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("start")
        if end is not None and start is not None and end < start:
            raise ValueError("end is before start")
        return end


class ForecastQuery(_SubjectQuery):
    """A KPI's outlook for a subject: pace of the current period and a linear trend."""

    history: int = Field(
        default=12,
        ge=3,
        le=730,
        description="Ended periods before the current one the trend is fitted "
        "on (those without a value are left out; at least 3 must have one).",
    )
    horizon: int = Field(
        default=3, ge=1, le=24, description="Periods projected, the current one first."
    )


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
        description="Members with a value in the bucket, for a series derived from members."
    )
    pace: PeriodPace | None = Field(
        description="For a bucket in progress (status `in_progress`): where its value so far "
        "is heading."
    )


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
    best: PointValue | None = Field(
        description="Best by the KPI's direction (exact: closest to its target)."
    )
    change: OutNumber | None = Field(description="Latest value minus the first one.")
    change_pct: OutNumber | None
    change_from_previous_pct: OutNumber | None = Field(
        description="Latest point against the point just before it."
    )


class _SeriesHead(Output):
    definition_key: str
    subject_type: SubjectType
    subject_id: str
    unit: str
    target_type: str
    rollup: str
    window: WindowShape | None = Field(description=WINDOW_DOC)
    native_grain: Choice[PeriodKind]
    source: Source = Field(
        description="own: the subject's assignment; members: derived from "
        "its members' measurements; none: neither exists."
    )
    members: int | None = Field(
        description="Members with an assignment in force in the range, for a derived series."
    )


class TimeseriesRead(_SeriesHead):
    grain: Choice[PeriodKind]
    range_start: date
    range_end: date
    points: list[SeriesPoint]
    summary: SeriesSummary


class PaceRead(Output):
    """Where the current period is heading, from its value so far."""

    value: OutNumber
    projected: OutNumber
    elapsed_fraction: OutNumber = Field(
        description="Share of the period elapsed when the "
        "value was taken (sum KPIs are scaled by it)."
    )
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
    pace: PaceRead | None = Field(
        description="The current period's pace; none for a KPI with a window (its value "
        "covers the window, not the period so far: nothing accumulates to project)."
    )
    pace_reason: str | None
    trend: TrendRead | None
    trend_reason: str | None
    projections: list[Projection]
    outlook: Outlook
