"""The demo's own alert rules (beside the packs' templates), created through the alerts service
when missing (by name); they are judged after the history's run, so the demo opens its first
alerts by itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts import rule_service
from kpi_service.alerts.rule_repository import RuleRepository
from kpi_service.alerts.schemas import RuleCreate, RuleRead
from kpi_service.core.auth import Principal
from kpi_service.models import RuleKind, Severity

# The packs bring their own rules; these watch what theirs do not: an anomaly on the demo's
# calls, and a manual figure not entered in time.
RULES: list[dict[str, Any]] = [
    {
        "name": "Unusual number of calls",
        "definition_key": "calls_made",
        "condition": {"kind": RuleKind.ANOMALY, "window": 8, "z": 2.5},
    },
    {
        "name": "Burn rate not entered 5 days after month end",
        "definition_key": "saas_burn_rate",
        "condition": {"kind": RuleKind.MISSING_VALUE, "days": 5},
        "severity": Severity.CRITICAL,
    },
]


async def ensure_rules(session: AsyncSession, admin: Principal) -> list[RuleRead]:
    """Create the rules whose name is not used yet; returns those created."""
    names = await RuleRepository(session).existing_names(
        admin.tenant_id, [str(fields["name"]) for fields in RULES]
    )
    return [
        await rule_service.create_rule(session, admin, RuleCreate.model_validate(fields))
        for fields in RULES
        if fields["name"] not in names
    ]
