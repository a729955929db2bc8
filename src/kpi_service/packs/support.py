"""The support pack: seed 000's support cases, per agent and for the organisation (over every
case, whether or not its agent holds KPI assignments)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kpi_service.engine.vocabulary import Direction, PeriodKind, Rollup, TargetType
from kpi_service.models import Severity
from kpi_service.packs.model import Assigned, Pack, SourceKind, SourceRead
from kpi_service.packs.specs import (
    Measure,
    achievement_below,
    per_user_and_organisation,
    rule,
    value_threshold,
)

_WEEKLY = {"category": "customer_support", "period": PeriodKind.WEEKLY}
_HIGHER: dict[str, Any] = {"target_type": TargetType.HIGHER_BETTER}
_LOWER: dict[str, Any] = {"target_type": TargetType.LOWER_BETTER}
# Per agent, and for the organisation over every case (whoever it is assigned to).
_MEASURES: tuple[Measure, ...] = (
    ("cases_resolved", "Cases resolved", "cases_resolved_count", _HIGHER),
    ("resolution_time", "Average resolution time", "avg_resolution_time", _LOWER),
    ("first_response_time", "First response time", "first_response_time", _LOWER),
    ("reopen_rate", "Reopen rate", "reopen_rate", _LOWER),
    ("backlog", "Open cases at the week's end", "case_backlog", {**_LOWER, "rollup": Rollup.LAST}),
)
# The pack has no organisation reopen rate.
_AGENTS_ONLY = {"reopen_rate"}

SUPPORT = Pack(
    name="support",
    version=1,
    title="Customer support",
    summary="Cases resolved, resolution and first-response times, reopen rate and backlog "
    "per agent, and the organisation's cases resolved, times and backlog, weekly, from the "
    "support_cases table (seed 000).",
    definitions=per_user_and_organisation(
        "support", "all agents", _MEASURES, users_only=_AGENTS_ONLY, **_WEEKLY
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
            Severity.CRITICAL,
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
