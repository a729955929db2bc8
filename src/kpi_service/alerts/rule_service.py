"""Alert rules: what admins configure, checked against the tenant's data, and their
conditions as stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.channel_repository import ChannelRepository
from kpi_service.alerts.rule_repository import RuleFilters, RuleRepository
from kpi_service.alerts.schemas import (
    Condition,
    MissingValue,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    stored_params,
)
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Forbidden, InvalidInput, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.definitions import service as definitions
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.models import AlertRule, CalculationType, Definition

RULE = "alert_rule"


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only admins can manage alert rules.")


def rule_read(rule: AlertRule, definition_key: str) -> RuleRead:
    """A rule as the API shows it."""
    data = {c.key: getattr(rule, c.key) for c in AlertRule.__table__.columns}
    data.update(definition_key=definition_key, condition={"kind": rule.kind, **rule.params})
    return RuleRead.model_validate(data)


def _rule_snapshot(rule: AlertRule, definition_key: str) -> dict[str, Any]:
    return rule_read(rule, definition_key).model_dump(mode="json")


def _check_condition(definition: Definition, condition: Condition) -> None:
    if (
        isinstance(condition, MissingValue)
        and definition.calculation_type != CalculationType.MANUAL
    ):
        reason = (
            f"KPI {definition.key!r} is computed ({definition.calculation_type}); "
            "missing values are watched on manual KPIs only"
        )
        raise InvalidInput(
            f"The condition does not fit the KPI: {reason}.",
            errors=[field_error(["body", "condition", "kind"], reason)],
        )


async def _check_channels(session: AsyncSession, tenant_id: str, ids: list[int]) -> None:
    unknown = sorted(set(ids) - await ChannelRepository(session).existing(tenant_id, ids))
    if unknown:
        raise InvalidInput(
            f"No such alert channels: {', '.join(map(str, unknown))}.",
            errors=[field_error(["body", "channel_ids"], "unknown channel id")],
        )


async def create_rule(session: AsyncSession, principal: Principal, body: RuleCreate) -> RuleRead:
    """Store a new rule (admins only); it is evaluated after the KPI's next run."""
    _require_admin(principal)
    definition = await definitions.referenced(session, principal.tenant_id, body)
    _check_condition(definition, body.condition)
    await _check_channels(session, principal.tenant_id, body.channel_ids)
    rule = await RuleRepository(session).add(
        principal.tenant_id,
        {
            "definition_id": definition.id,
            "name": body.name,
            "kind": body.condition.kind,
            "params": stored_params(body.condition),
            "subject_id": body.subject_id,
            "severity": body.severity,
            "channel_ids": body.channel_ids,
            "is_active": body.is_active,
            "created_by": principal.user_id,
        },
    )
    await audit.record(
        session, principal, "create", RULE, rule.id, after=_rule_snapshot(rule, definition.key)
    )
    return rule_read(rule, definition.key)


async def _rule(session: AsyncSession, principal: Principal, rule_id: int) -> tuple[AlertRule, str]:
    _require_admin(principal)
    row = await RuleRepository(session).get_with_key(principal.tenant_id, rule_id)
    rule, key = found(row, f"Alert rule {rule_id} not found.")
    return rule, key


async def get_rule(session: AsyncSession, principal: Principal, rule_id: int) -> RuleRead:
    """One rule (admins only)."""
    return rule_read(*await _rule(session, principal, rule_id))


async def list_rules(
    session: AsyncSession,
    principal: Principal,
    filters: RuleFilters,
    paging: Paging,
) -> Slice[RuleRead]:
    """The tenant's rules matching `filters`, in id order (admins only)."""
    _require_admin(principal)
    page = await RuleRepository(session).page_rows(principal.tenant_id, filters, paging)
    return page.map(lambda row: rule_read(*row))


async def update_rule(
    session: AsyncSession, principal: Principal, rule_id: int, body: RuleUpdate
) -> RuleRead:
    """Change a rule (admins only); open alerts follow the new condition from the next
    evaluation on."""
    rule, key = await _rule(session, principal, rule_id)
    before = _rule_snapshot(rule, key)
    values = body.model_dump(exclude_unset=True, exclude={"condition"})
    if body.condition is not None:
        if body.condition.kind != rule.kind:
            raise InvalidInput(
                "A rule's kind never changes; create another rule.",
                errors=[field_error(["body", "condition", "kind"], f"must stay {rule.kind}")],
            )
        definition = await DefinitionRepository(session).get(
            principal.tenant_id, rule.definition_id
        )
        assert definition is not None  # definitions are deactivated, never deleted
        _check_condition(definition, body.condition)
        values["params"] = stored_params(body.condition)
    if body.channel_ids is not None:
        await _check_channels(session, principal.tenant_id, body.channel_ids)
    rule = await RuleRepository(session).update(rule, values)
    await audit.record(
        session, principal, "update", RULE, rule.id, before=before, after=_rule_snapshot(rule, key)
    )
    return rule_read(rule, key)


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: int) -> RuleRead:
    """Delete a rule with its alerts and their delivery log (admins only); to keep the
    history, deactivate it instead."""
    rule, key = await _rule(session, principal, rule_id)
    gone = rule_read(rule, key)
    await RuleRepository(session).remove(rule)
    await audit.record(
        session, principal, "delete", RULE, rule_id, before=gone.model_dump(mode="json")
    )
    return gone
