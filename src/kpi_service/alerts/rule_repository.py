"""Alert rule statements: scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.sql import among
from kpi_service.models import AlertRule, Definition

RuleRow = Row[AlertRule, str]


class RuleRepository:
    """Reads and writes of `kpi.alert_rules` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _with_key(self, tenant_id: str) -> Select[AlertRule, str]:
        return (select(AlertRule, Definition.key)
                .join(Definition, and_(Definition.tenant_id == AlertRule.tenant_id,
                                       Definition.id == AlertRule.definition_id))
                .where(AlertRule.tenant_id == tenant_id))

    async def get(self, tenant_id: str, rule_id: int) -> RuleRow | None:
        """The rule and its definition's key."""
        stmt = self._with_key(tenant_id).where(AlertRule.id == rule_id)
        return (await self.session.execute(stmt)).one_or_none()

    async def page(self, tenant_id: str, *, after: int | None, limit: int,
                   definition_id: int | None, is_active: bool | None) -> Sequence[RuleRow]:
        stmt = self._with_key(tenant_id)
        if definition_id is not None:
            stmt = stmt.where(AlertRule.definition_id == definition_id)
        if is_active is not None:
            stmt = stmt.where(AlertRule.is_active.is_(is_active))
        if after is not None:
            stmt = stmt.where(AlertRule.id > after)
        return (await self.session.execute(stmt.order_by(AlertRule.id).limit(limit + 1))).all()

    async def add(self, tenant_id: str, values: dict[str, Any]) -> AlertRule:
        rule = AlertRule(tenant_id=tenant_id, **values)
        self.session.add(rule)
        await self.session.flush()
        await self.session.refresh(rule)
        return rule

    async def update(self, rule: AlertRule, values: dict[str, Any]) -> AlertRule:
        for name, value in values.items():
            setattr(rule, name, value)
        rule.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(rule)
        return rule

    async def remove(self, rule: AlertRule) -> None:
        """Delete the rule; its alerts and their deliveries go with it (foreign keys)."""
        await self.session.execute(delete(AlertRule).where(AlertRule.tenant_id == rule.tenant_id,
                                                           AlertRule.id == rule.id))

    async def tenants_with(self, kind: str) -> list[str]:
        """Tenants with an active rule of this kind (for a job over every tenant)."""
        stmt = (select(AlertRule.tenant_id).distinct()
                .where(AlertRule.kind == kind, AlertRule.is_active.is_(True))
                .order_by(AlertRule.tenant_id))
        return list((await self.session.scalars(stmt)).all())

    async def to_evaluate(self, tenant_id: str, *, definition_ids: Sequence[int] | None = None,
                          rule_ids: Sequence[int] | None = None,
                          kind: str | None = None) -> Sequence[AlertRule]:
        """Active rules (of these definitions, with these ids, of this kind), locked in id
        order so two evaluations of one rule take turns."""
        stmt = select(AlertRule).where(AlertRule.tenant_id == tenant_id,
                                       AlertRule.is_active.is_(True))
        if kind is not None:
            stmt = stmt.where(AlertRule.kind == kind)
        if definition_ids is not None:
            stmt = stmt.where(among(AlertRule.definition_id, definition_ids))
        if rule_ids is not None:
            stmt = stmt.where(among(AlertRule.id, rule_ids))
        stmt = stmt.order_by(AlertRule.id).with_for_update(of=AlertRule)
        return (await self.session.scalars(stmt)).all()

    async def stamp(self, tenant_id: str, rule_ids: Sequence[int], at: datetime) -> None:
        """Record when these rules were last evaluated."""
        if rule_ids:
            await self.session.execute(
                update(AlertRule).where(AlertRule.tenant_id == tenant_id,
                                        among(AlertRule.id, rule_ids))
                .values(last_evaluated_at=at))
