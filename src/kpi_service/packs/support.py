"""The support pack: seed 000's support cases, per agent and for the organisation (over every
case, whether or not its agent holds KPI assignments)."""

from __future__ import annotations

from decimal import Decimal

from kpi_service.engine.vocabulary import Direction
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import achievement_below, query_kpi, rule, value_threshold

_KPI = {"category": "customer_support", "period": "weekly"}
# The organisation's figures over every case (whoever it is assigned to): key, name, query.
_ORGANISATION = (
    (
        "support_org_cases_resolved",
        "Cases resolved, all agents",
        "cases_resolved_count_org",
        "higher_better",
    ),
    (
        "support_org_resolution_time",
        "Average resolution time, all agents",
        "avg_resolution_time_org",
        "lower_better",
    ),
    (
        "support_org_first_response_time",
        "First response time, all agents",
        "first_response_time_org",
        "lower_better",
    ),
)

SUPPORT = Pack(
    name="support",
    version=1,
    title="Customer support",
    summary="Cases resolved, resolution and first-response times, reopen rate and backlog "
    "per agent, and the organisation's cases resolved, times and backlog, weekly, from the "
    "support_cases table (seed 000).",
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
        *(
            query_kpi(key, name, query_key, target_type=direction, scope="organization", **_KPI)
            for key, name, query_key, direction in _ORGANISATION
        ),
        query_kpi(
            "support_org_backlog",
            "Open cases at the week's end, all agents",
            "case_backlog_org",
            target_type="lower_better",
            scope="organization",
            rollup="last",
            **_KPI,
        ),
    ),
    organisation=(
        Assigned("support_org_cases_resolved", Decimal(100)),
        Assigned("support_org_resolution_time", Decimal(24)),
        Assigned("support_org_first_response_time", Decimal(4)),
        # How many open cases are too many depends on the team's size: no target.
        Assigned("support_org_backlog", None),
    ),
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
            achievement_below(80),
        ),
        rule(
            "Support: backlog over 25",
            "support_backlog",
            value_threshold(Direction.ABOVE, 25),
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
            user_column="assigned_to",
        ),
    ),
)
