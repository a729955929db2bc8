"""The demo's own KPI definitions, beside the five packs it installs: only those that show
something no pack does, as the bodies of `DefinitionCreate` (built with the packs'
shorthands).

- `calls_made`: a per-user count of events (weekly), watched by an anomaly rule;
- `call_duration_p90`: a percentile of an event's value, per user;
- `conversions`: per-user conversion events, which the breakdown splits by `lead_source`;
- `revenue_daily`: a daily KPI on a built-in query, for the pilot team (`sales-1`) only, with
  a year of history (the leads go back a year);
- `team_revenue`: a team-scope KPI.
"""

from __future__ import annotations

from typing import Any

from kpi_service.engine.vocabulary import PeriodKind, Rollup, SubjectType, TargetType
from kpi_service.models import Unit
from kpi_service.packs.specs import event_kpi, query_kpi

_SALES: dict[str, Any] = {"category": "sales"}

DEFINITIONS: list[dict[str, Any]] = [
    dict(spec)
    for spec in (
        event_kpi(
            "calls_made",
            "Calls Made",
            "call",
            "count",
            unit=Unit.COUNT,
            target_type=TargetType.HIGHER_BETTER,
            period=PeriodKind.WEEKLY,
            description="Calls the agent made in the week (call events).",
            **_SALES,
        ),
        event_kpi(
            "call_duration_p90",
            "Call Duration (90th percentile)",
            "call",
            "p90",
            unit=Unit.MINUTES,
            target_type=TargetType.LOWER_BETTER,
            period=PeriodKind.MONTHLY,
            rollup=Rollup.MAX,
            description="The 90th percentile of the month's call minutes (the event's value).",
            **_SALES,
        ),
        event_kpi(
            "conversions",
            "Conversions",
            "conversion",
            "count",
            unit=Unit.COUNT,
            target_type=TargetType.HIGHER_BETTER,
            period=PeriodKind.MONTHLY,
            description="Leads converted in the month (conversion events, with lead_source).",
            **_SALES,
        ),
        query_kpi(
            "revenue_daily",
            "Daily Revenue",
            "lead_revenue",
            target_type=TargetType.HIGHER_BETTER,
            period=PeriodKind.DAILY,
            description="Revenue of the leads converted that day (the pilot team).",
            **_SALES,
        ),
        event_kpi(
            "team_revenue",
            "Team Revenue",
            "conversion",
            "sum",
            unit=Unit.CURRENCY,
            target_type=TargetType.HIGHER_BETTER,
            period=PeriodKind.MONTHLY,
            scope=SubjectType.TEAM,
            description="Revenue of the conversions of the team's agents in the month.",
            **_SALES,
        ),
    )
]
