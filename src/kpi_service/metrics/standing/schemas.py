"""Scorecards, team views and leaderboards: their query parameters and responses."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from kpi_service.core.schemas import (
    Choice,
    Day,
    Input,
    Key,
    Limit,
    OutNumber,
    Output,
    ShortText,
    SubjectRef,
)
from kpi_service.definitions.schemas import WINDOW_DOC, WindowShape
from kpi_service.engine.vocabulary import PeriodKind
from kpi_service.metrics.pace import PeriodPace

_DAY = (
    "Any day inside the period; default: the latest final period (the one before the "
    "current one in the organisation's time zone). A day of the period in progress shows "
    "it with `is_final: false`: values so far with their pace, status `in_progress`, "
    "provisional ranks."
)


class ScorecardQuery(Input):
    """Whose scorecard, for which period, ranked within which team."""

    user_id: SubjectRef | None = Field(default=None, description="Default: the caller.")
    period_kind: Choice[PeriodKind] = Field(
        default=PeriodKind.MONTHLY,
        description="The period's kind; only KPIs aggregated by it count.",
    )
    date: Day | None = Field(default=None, description=_DAY)
    team_id: SubjectRef | None = Field(
        default=None,
        description="The team to rank within; default: the team most of the "
        "user's KPIs are recorded under (ties: the first by id).",
    )


class TeamQuery(Input):
    """Which team, for which period."""

    team_id: SubjectRef
    period_kind: Choice[PeriodKind] = Field(
        default=PeriodKind.MONTHLY,
        description="The period's kind; only KPIs aggregated by it count.",
    )
    date: Day | None = Field(default=None, description=_DAY)


class LeaderboardQuery(Input):
    """Which KPI, for which period, among whom, which page."""

    definition_key: Key = Field(description="The KPI definition's key.")
    date: Day | None = Field(default=None, description=_DAY + " Periods are the KPI's own.")
    team_id: SubjectRef | None = Field(default=None, description="Only this team's members.")
    limit: Limit = 50
    cursor: ShortText | None = None


class _Period(Output):
    period_kind: str
    period_start: dt.date
    period_end: dt.date
    is_final: bool = Field(
        description="The period's last day is over; when false, the "
        "period is in progress: statuses are `in_progress`, change and "
        "trend are not given, and ranks are provisional."
    )


class _Measured(Output):
    value: OutNumber | None
    target: OutNumber | None = Field(description="The target in force for the period.")
    achievement: OutNumber | None = Field(description="Percent, unbounded.")
    score: OutNumber | None = Field(description="Achievement capped by the KPI's score cap.")
    status: str | None = Field(
        description="met, at_risk, off_track; `in_progress` for a value of a period not ended yet."
    )
    pace: PeriodPace | None = Field(
        description="For a period in progress: where its value so far is heading."
    )


class ScorecardKpi(_Measured):
    assignment_id: int
    definition_key: str
    name: str
    unit: str
    target_type: str
    window: WindowShape | None = Field(description=WINDOW_DOC)
    weight: OutNumber
    team_id: str | None
    measured: bool = Field(description="A measurement of the period is stored.")
    previous_value: OutNumber | None
    change_pct: OutNumber | None = Field(description="Versus the previous period, percent.")
    trend: str | None


class TeamStanding(Output):
    team_id: str
    score: OutNumber | None = Field(
        description="The user's overall score over the KPIs recorded under this team."
    )
    rank: int | None = Field(description="Dense rank of overall scores within the team.")
    team_size: int = Field(description="Members with a KPI of this kind in the period.")
    ranked: int = Field(description="Members with an overall score, hence a rank.")
    previous_rank: int | None
    rank_change: int | None = Field(description="Positions moved up since the previous period.")


class ScorecardRead(_Period):
    user_id: str
    overall_score: OutNumber | None = Field(
        description="sum(weight x score) / sum(weight) over the measured KPIs."
    )
    kpis: list[ScorecardKpi]
    team: TeamStanding | None
    teams: list[str] = Field(description="Every team the user's KPIs are recorded under.")


class TeamCell(_Measured):
    definition_key: str
    assignment_id: int
    weight: OutNumber


class TeamMember(Output):
    user_id: str
    overall_score: OutNumber | None
    rank: int | None = Field(description="Dense rank of overall scores.")
    cells: list[TeamCell]


class TeamKpi(Output):
    definition_key: str
    name: str
    unit: str
    target_type: str
    window: WindowShape | None = Field(description=WINDOW_DOC)
    rollup: str
    members: int = Field(description="Members with this KPI.")
    measured: int = Field(description="Members with a value.")
    value_sum: OutNumber | None
    value_mean: OutNumber | None
    value_total: OutNumber | None = Field(
        description="The values combined by the KPI's roll-up: the sum for counts and money, "
        "the mean for rates and durations, min or max; none for `last`."
    )
    achievement_mean: OutNumber | None
    met: int
    at_risk: int
    off_track: int


class TeamViewRead(_Period):
    team_id: str
    team_size: int
    ranked: int
    kpis: list[TeamKpi]
    members: list[TeamMember]


class LeaderboardRow(_Measured):
    user_id: str
    team_id: str | None
    rank: int | None = Field(description="Competition rank (1, 2, 2, 4) by score.")
    percentile: OutNumber | None = Field(
        description="Percent of the other ranked users with a strictly lower score."
    )
    previous_rank: int | None
    rank_change: int | None = Field(description="Positions moved up since the previous period.")


class LeaderboardRead(_Period):
    definition_key: str
    name: str
    unit: str
    target_type: str
    window: WindowShape | None = Field(description=WINDOW_DOC)
    team_id: str | None
    population: int = Field(description="Users with this KPI in the period (in the filter).")
    ranked: int = Field(description="Users with a score, hence a rank.")
    items: list[LeaderboardRow]
    next_cursor: str | None = None
