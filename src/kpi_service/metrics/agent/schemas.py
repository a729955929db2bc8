"""The agent view and the activity timeline: their query parameters and responses."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from kpi_service.core.schemas import Choice, Input, Limit, OutNumber, Output, SubjectRef
from kpi_service.packs.model import ActivityFilter

MAX_DAYS = 366
# The events timeline's cursor (URL-safe base64 of an instant and an id), as GET /events takes.
EventCursor = Annotated[str, StringConstraints(max_length=300, pattern=r"^[A-Za-z0-9_-]*$")]


class AgentQuery(Input):
    """Whose figures, over how many days."""

    user_id: SubjectRef | None = Field(default=None, description="Default: the caller.")
    days: int = Field(
        default=30,
        ge=1,
        le=MAX_DAYS,
        description="The window: this many local days ending today (today included, in "
        "progress), compared with as many days before it.",
    )


class Window(Output):
    """Local days, both included."""

    start: dt.date
    end: dt.date


class AgentKpis(Output):
    """Seed 003's `kpis`, over the window (`leads_this_week`: the last 7 days)."""

    leads_handled: OutNumber | None
    leads_this_week: OutNumber | None
    conversion_rate: OutNumber | None
    total_revenue: OutNumber | None
    response_time_hours: OutNumber | None
    satisfaction_score: OutNumber | None
    satisfaction_count: OutNumber | None
    team_ranking: int | None = Field(
        description="Dense rank of the agent's weighted score in their team (1: best); null "
        "without a score."
    )
    total_agents: int = Field(description="The agents of the team, the agent included.")


class AgentTrends(Output):
    """Seed 003's `trends`: percent change against the previous window (null when that value
    is 0 or missing); `ranking`: positions moved up."""

    leads: OutNumber | None
    conversion: OutNumber | None
    revenue: OutNumber | None
    response: OutNumber | None
    satisfaction: OutNumber | None
    ranking: int | None


class AgentViewRead(Output):
    """Seed 003 section A: one agent's KPIs over a trailing window, against the window before."""

    agent_id: str
    date_range: str = Field(description="The window's days, as text (the seed's `dateRange`).")
    window: Window
    previous_window: Window
    kpis: AgentKpis
    trends: AgentTrends


class ActivitiesQuery(Input):
    """Whose timeline, which kind of activity, which page."""

    user_id: SubjectRef | None = Field(default=None, description="Default: the caller.")
    filter: Choice[ActivityFilter] = Field(
        default=ActivityFilter.ALL,
        description="`all`, or the activities under one filter of the agent pack's mapping.",
    )
    limit: Limit = 50
    cursor: EventCursor | None = None


class ActivityItem(Output):
    """One event as seed 003's timeline shows it."""

    id: str
    type: str
    title: str
    description: str | None
    timestamp: dt.datetime
    metadata: dict[str, Any] = Field(
        description="The event's properties, and its `value` when it has one."
    )


class ActivitiesRead(Output):
    """Seed 003 section F: a user's activities, newest first; pass `next_cursor` back as
    `cursor` for the next page."""

    activities: list[ActivityItem]
    next_cursor: str | None
