"""The support pack: seed 000's support cases, per agent and for the organisation."""

from __future__ import annotations

from decimal import Decimal

from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import query_kpi, rule

_KPI = {"category": "customer_support", "period": "weekly"}

SUPPORT = Pack(
    name="support",
    version=1,
    title="Customer support",
    summary="Cases resolved, resolution and first-response times, reopen rate and backlog "
    "per agent, weekly, from the support_cases table (seed 000).",
    definitions=(
        query_kpi(
            "support_cases_resolved",
            "Cases resolved",
            "cases_resolved_count",
            target_type="higher_better",
            **_KPI,
        ),
        query_kpi(
            "support_resolution_time",
            "Average resolution time",
            "avg_resolution_time",
            target_type="lower_better",
            **_KPI,
        ),
        query_kpi(
            "support_first_response_time",
            "First response time",
            "first_response_time",
            target_type="lower_better",
            **_KPI,
        ),
        query_kpi(
            "support_reopen_rate", "Reopen rate", "reopen_rate", target_type="lower_better", **_KPI
        ),
        query_kpi(
            "support_backlog",
            "Open cases at the week's end",
            "case_backlog",
            target_type="lower_better",
            rollup="last",
            **_KPI,
        ),
        query_kpi(
            "support_org_cases_resolved",
            "Cases resolved by the team",
            "cases_resolved_count",
            target_type="higher_better",
            scope="organization",
            description="Cases resolved in the week by all agents with a KPI assignment "
            "(the sum of their values).",
            **_KPI,
        ),
    ),
    organisation=(Assigned("support_org_cases_resolved", Decimal(100)),),
    users=(
        Assigned("support_cases_resolved", Decimal(20), Decimal(30)),
        Assigned("support_resolution_time", Decimal(24), Decimal(30)),
        Assigned("support_first_response_time", Decimal(4), Decimal(25)),
        Assigned("support_reopen_rate", Decimal(5), Decimal(15)),
        Assigned("support_backlog", Decimal(10), Decimal(0)),
    ),
    alerts=(
        rule(
            "Support: slow first response",
            "support_first_response_time",
            {"kind": "achievement_below", "threshold": 80},
        ),
        rule(
            "Support: backlog over 25",
            "support_backlog",
            {"kind": "value_threshold", "direction": "above", "threshold": 25},
            "critical",
        ),
    ),
    reads=(
        SourceRead(
            SourceKind.TABLE,
            "support_cases",
            (
                "id",
                "assigned_to",
                "status",
                "created_at",
                "resolved_at",
                "first_response_at",
                "reopened_count",
            ),
            "created_at",
            "seed 000",
        ),
    ),
)
