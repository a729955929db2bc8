"""Alert rule statements: scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, delete, func, select, update

from kpi_service.core.repository import Filters, Repository, equal_to
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.sql import among
from kpi_service.models import AlertRule, Definition, joins

RuleRow = Row[AlertRule, str]


@dataclass(frozen=True, slots=True)
class RuleFilters(Filters):
    """What a list of alert rules may be narrowed to; None means any."""

    definition_id: int | None = equal_to(AlertRule.definition_id)
    is_active: bool | None = equal_to(AlertRule.is_active)


class RuleRepository(Repository[AlertRule]):
    """Reads and writes of `kpi.alert_rules` for one session."""

    model = AlertRule

    def _with_key(self, tenant_id: str) -> Select[AlertRule, str]:
        return (
            select(AlertRule, Definition.key)
            .join(Definition, joins.definition_of(AlertRule))
            .where(self.in_tenant(tenant_id))
        )

    async def get_with_key(self, tenant_id: str, rule_id: int) -> RuleRow | None:
        """The rule and its definition's key."""
        stmt = self._with_key(tenant_id).where(AlertRule.id == rule_id)
        return (await self.session.execute(stmt)).one_or_none()

    async def page_rows(
        self, tenant_id: str, filters: RuleFilters, paging: Paging
    ) -> Slice[RuleRow]:
        """One page of the rules matching `filters`, with their definitions' keys."""
        return await self.page_of(self._with_key(tenant_id).where(*filters.conditions()), paging)

    async def existing_names(self, tenant_id: str, names: Sequence[str]) -> set[str]:
        """Which of these names the tenant's rules already carry."""
        stmt = select(AlertRule.name).where(
            self.in_tenant(tenant_id), AlertRule.name.in_(list(names))
        )
        return set((await self.session.scalars(stmt)).all())

    async def remove(self, rule: AlertRule) -> None:
        """Delete the rule; its alerts and their deliveries go with it (foreign keys)."""
        await self.session.execute(
            delete(AlertRule).where(self.in_tenant(rule.tenant_id), AlertRule.id == rule.id)
        )

    async def drop_channel(self, tenant_id: str, channel_id: int) -> None:
        """Make the tenant's rules stop naming the channel (it is being deleted)."""
        await self.session.execute(
            update(AlertRule)
            .where(self.in_tenant(tenant_id), AlertRule.channel_ids.contains([channel_id]))
            .values(
                channel_ids=func.array_remove(AlertRule.channel_ids, channel_id),
                updated_at=func.now(),
            )
        )

    async def tenants_with(self, kind: str) -> list[str]:
        """Tenants with an active rule of this kind (for a job over every tenant)."""
        stmt = (
            select(AlertRule.tenant_id)
            .distinct()
            .where(AlertRule.kind == kind, AlertRule.is_active.is_(True))
            .order_by(AlertRule.tenant_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def to_evaluate(
        self,
        tenant_id: str,
        *,
        definition_ids: Sequence[int] | None = None,
        rule_ids: Sequence[int] | None = None,
        kind: str | None = None,
    ) -> Sequence[Row[AlertRule, Definition]]:
        """Active rules (of these definitions, with these ids, of this kind) with their
        definitions, locked in id order so two evaluations of one rule take turns."""
        stmt = (
            select(AlertRule, Definition)
            .join(Definition, joins.definition_of(AlertRule))
            .where(self.in_tenant(tenant_id), AlertRule.is_active.is_(True))
        )
        if kind is not None:
            stmt = stmt.where(AlertRule.kind == kind)
        if definition_ids is not None:
            stmt = stmt.where(among(AlertRule.definition_id, definition_ids))
        if rule_ids is not None:
            stmt = stmt.where(among(AlertRule.id, rule_ids))
        stmt = stmt.order_by(AlertRule.id).with_for_update(of=AlertRule)
        return (await self.session.execute(stmt)).all()

    async def stamp(self, tenant_id: str, rule_ids: Sequence[int], at: datetime) -> None:
        """Record when these rules were last evaluated."""
        if rule_ids:
            await self.session.execute(
                update(AlertRule)
                .where(self.in_tenant(tenant_id), among(AlertRule.id, rule_ids))
                .values(last_evaluated_at=at)
            )
