"""The demo's alert rules, created through the alerts service when missing (by name); they
are judged after the history's run, so the demo opens its first alerts by itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts import rule_service
from kpi_service.alerts.rule_repository import RuleFilters
from kpi_service.alerts.schemas import RuleCreate, RuleRead
from kpi_service.core.auth import Principal
from kpi_service.core.schemas import Paging

RULES: list[dict[str, Any]] = [
    {
        "name": "Conversion rate below 80% of target",
        "definition_key": "conversion_rate",
        "condition": {"kind": "achievement_below", "threshold": 80},
    },
    {
        "name": "Unusual number of calls",
        "definition_key": "calls_made",
        "condition": {"kind": "anomaly", "window": 8, "z": 2.5},
    },
    {
        "name": "Revenue down three months running",
        "definition_key": "revenue",
        "condition": {"kind": "consecutive_declines", "periods": 3},
    },
    {
        "name": "MRR not entered 5 days after month end",
        "definition_key": "mrr",
        "condition": {"kind": "missing_value", "days": 5},
        "severity": "critical",
    },
]


async def ensure_rules(session: AsyncSession, admin: Principal) -> list[RuleRead]:
    """Create the rules whose name is not used yet; returns those created."""
    held = await rule_service.list_rules(session, admin, RuleFilters(), Paging(limit=500))
    names = {rule.name for rule in held.items}
    return [
        await rule_service.create_rule(session, admin, RuleCreate.model_validate(fields))
        for fields in RULES
        if fields["name"] not in names
    ]
