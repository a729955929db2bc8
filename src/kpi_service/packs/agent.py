"""The agent pack: seed 003's personal analytics over its leads table, per agent and for the
organisation (over every lead)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kpi_service.engine.vocabulary import PeriodKind, Rollup, TargetType
from kpi_service.packs.model import (
    Activity,
    ActivityFilter,
    Assigned,
    Pack,
    SourceKind,
    SourceRead,
)
from kpi_service.packs.specs import (
    achievement_below,
    consecutive_declines,
    organisation_query_kpi,
    query_kpi,
    rule,
)

_MONTHLY: dict[str, Any] = {"category": "sales", "period": PeriodKind.MONTHLY}
# The organisation's figures over every lead (whoever it is assigned to): key, name, the
# per-user built-in query, direction and further definition fields.
_ORGANISATION = (
    (
        "agent_org_leads",
        "Leads, all agents",
        "leads_created_count",
        TargetType.HIGHER_BETTER,
        _MONTHLY,
    ),
    (
        "agent_org_revenue",
        "Revenue, all agents",
        "lead_revenue",
        TargetType.HIGHER_BETTER,
        _MONTHLY,
    ),
    (
        "agent_org_conversion_rate",
        "Conversion rate, all leads",
        "lead_conversion_rate",
        TargetType.HIGHER_BETTER,
        _MONTHLY,
    ),
    (
        "agent_org_response_time",
        "Response time, all agents",
        "lead_response_time",
        TargetType.LOWER_BETTER,
        _MONTHLY,
    ),
    (
        "agent_org_satisfaction",
        "Satisfaction score, all agents",
        "lead_satisfaction",
        TargetType.HIGHER_BETTER,
        {**_MONTHLY, "rollup": Rollup.AVG},
    ),
)

# Seed 003 section A (GET /metrics/agent): each `kpis` field and the pack KPI computed over the
# view's window for it; `leads_this_week` is computed over the last 7 days instead.
SEED_KPIS = {
    "leads_handled": "agent_leads_handled",
    "conversion_rate": "agent_conversion_rate",
    "total_revenue": "agent_revenue",
    "response_time_hours": "agent_response_time",
    "satisfaction_score": "agent_satisfaction",
    "satisfaction_count": "agent_satisfaction_count",
}
SEED_WEEK_KPI = ("leads_this_week", "agent_leads_this_week")
# Each of the seed's `trends` and the `kpis` field whose change it is.
SEED_TRENDS = {
    "leads": "leads_handled",
    "conversion": "conversion_rate",
    "revenue": "total_revenue",
    "response": "response_time_hours",
    "satisfaction": "satisfaction_score",
}

AGENT = Pack(
    name="agent",
    version=1,
    title="Sales agents",
    summary="Leads handled, conversion rate, revenue, response time and satisfaction per "
    "agent, monthly (leads weekly too), from the leads table (seed 003); ranked with the "
    "seed's weights: conversion 40, satisfaction 35, response time 25; and the "
    "organisation's leads, revenue, conversion rate, response time and satisfaction.",
    definitions=(
        query_kpi(
            "agent_leads_handled",
            "Leads handled",
            "leads_created_count",
            target_type=TargetType.HIGHER_BETTER,
            **_MONTHLY,
        ),
        query_kpi(
            "agent_leads_this_week",
            "Leads this week",
            "leads_created_count",
            target_type=TargetType.HIGHER_BETTER,
            category="sales",
            period=PeriodKind.WEEKLY,
        ),
        query_kpi(
            "agent_conversion_rate",
            "Conversion rate",
            "lead_conversion_rate",
            target_type=TargetType.HIGHER_BETTER,
            **_MONTHLY,
        ),
        query_kpi(
            "agent_revenue",
            "Revenue",
            "lead_revenue",
            target_type=TargetType.HIGHER_BETTER,
            **_MONTHLY,
        ),
        query_kpi(
            "agent_response_time",
            "Response time",
            "lead_response_time",
            target_type=TargetType.LOWER_BETTER,
            **_MONTHLY,
        ),
        query_kpi(
            "agent_satisfaction",
            "Satisfaction score",
            "lead_satisfaction",
            target_type=TargetType.HIGHER_BETTER,
            rollup=Rollup.AVG,
            **_MONTHLY,
        ),
        query_kpi(
            "agent_satisfaction_count",
            "Satisfaction ratings",
            "lead_satisfaction_count",
            target_type=TargetType.HIGHER_BETTER,
            **_MONTHLY,
        ),
        *(
            organisation_query_kpi(key, name, query_key, target_type=direction, **fields)
            for key, name, query_key, direction, fields in _ORGANISATION
        ),
    ),
    organisation=(
        Assigned("agent_org_leads", Decimal(400)),
        Assigned("agent_org_revenue", Decimal(100_000)),
        Assigned("agent_org_conversion_rate", Decimal(30)),
        Assigned("agent_org_response_time", Decimal(2)),
        Assigned("agent_org_satisfaction", Decimal("4.5")),
    ),
    users=(
        Assigned("agent_leads_handled", Decimal(40), Decimal(0)),
        Assigned("agent_leads_this_week", Decimal(10), Decimal(0)),
        Assigned("agent_conversion_rate", Decimal(30), Decimal(40)),
        Assigned("agent_revenue", Decimal(15_000), Decimal(0)),
        Assigned("agent_response_time", Decimal(2), Decimal(25)),
        Assigned("agent_satisfaction", Decimal("4.5"), Decimal(35)),
        Assigned("agent_satisfaction_count", Decimal(20), Decimal(0)),
    ),
    alerts=(
        rule(
            "Agents: conversion below target",
            "agent_conversion_rate",
            achievement_below(80),
        ),
        rule(
            "Agents: revenue falling three months running",
            "agent_revenue",
            consecutive_declines(3),
        ),
    ),
    reads=(
        SourceRead(
            SourceKind.TABLE,
            "leads",
            (
                "id",
                "assigned_agent_id",
                "created_at",
                "contacted_at",
                "converted_at",
                "disposition",
                "response_time_hours",
                "satisfaction_rating",
                "revenue",
            ),
            "created_at",
            "seed 003",
            user_column="assigned_agent_id",
        ),
    ),
    # Seed 003 section F: the events an agent's timeline shows (other types are not listed).
    activities=(
        Activity("call", "call", "Call Made", ActivityFilter.CALLS, ("lead_name", "outcome")),
        Activity("email", "email", "Email Sent", ActivityFilter.EMAILS, ("lead_name", "subject")),
        Activity(
            "conversion",
            "conversion",
            "Lead Converted",
            ActivityFilter.CONVERSIONS,
            ("lead_name", "product"),
        ),
        Activity("meeting", "meeting", "Meeting Scheduled", None, ("lead_name", "topic")),
        Activity("assignment", "assignment", "Lead Assigned", None, ("lead_name", "lead_source")),
    ),
)
