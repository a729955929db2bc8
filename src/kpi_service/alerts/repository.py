"""Alert rule, channel and alert statements: scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Row,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.access import visible_alerts
from kpi_service.core.auth import Principal
from kpi_service.core.sql import among
from kpi_service.models import Alert, AlertChannel, AlertDelivery, AlertRule, Definition


class ChannelRepository:
    """Reads and writes of `kpi.alert_channels` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: str, channel_id: int) -> AlertChannel | None:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id,
                                          AlertChannel.id == channel_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_name(self, tenant_id: str, name: str) -> AlertChannel | None:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id,
                                          AlertChannel.name == name)
        return (await self.session.scalars(stmt)).one_or_none()

    async def existing(self, tenant_id: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids are channels of the tenant."""
        if not ids:
            return set()
        stmt = select(AlertChannel.id).where(AlertChannel.tenant_id == tenant_id,
                                             among(AlertChannel.id, ids))
        return set((await self.session.scalars(stmt)).all())

    async def page(self, tenant_id: str, *, after: int | None,
                   limit: int) -> Sequence[AlertChannel]:
        stmt = select(AlertChannel).where(AlertChannel.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(AlertChannel.id > after)
        return (await self.session.scalars(stmt.order_by(AlertChannel.id).limit(limit + 1))).all()

    async def add(self, tenant_id: str, values: dict[str, Any]) -> AlertChannel:
        channel = AlertChannel(tenant_id=tenant_id, **values)
        self.session.add(channel)
        await self.session.flush()
        await self.session.refresh(channel)
        return channel

    async def update(self, channel: AlertChannel, values: dict[str, Any]) -> AlertChannel:
        for name, value in values.items():
            setattr(channel, name, value)
        channel.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(channel)
        return channel

    async def remove(self, channel: AlertChannel) -> None:
        """Delete the channel, drop it from every rule, cancel its pending deliveries."""
        tenant, channel_id = channel.tenant_id, channel.id
        await self.session.execute(
            update(AlertRule)
            .where(AlertRule.tenant_id == tenant, AlertRule.channel_ids.contains([channel_id]))
            .values(channel_ids=func.array_remove(AlertRule.channel_ids, channel_id),
                    updated_at=func.now()))
        await self.session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.tenant_id == tenant, AlertDelivery.channel_id == channel_id,
                   AlertDelivery.status == "pending")
            .values(status="cancelled", next_attempt_at=None,
                    last_error="the channel was deleted"))
        await self.session.delete(channel)
        await self.session.flush()


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


AlertRow = Row[Alert, str, str, str]


class AlertRepository:
    """Reads and writes of `kpi.alerts` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def listing(self, principal: Principal) -> Select[Alert, str, str, str]:
        """Alerts the principal may see, with their rule's name and kind and KPI key."""
        return (
            select(Alert, AlertRule.name, AlertRule.kind, Definition.key)
            .join(AlertRule, and_(AlertRule.tenant_id == Alert.tenant_id,
                                  AlertRule.id == Alert.rule_id))
            .join(Definition, and_(Definition.tenant_id == Alert.tenant_id,
                                   Definition.id == Alert.definition_id))
            .where(visible_alerts(principal))
        )

    async def rows(self, stmt: Select[Alert, str, str, str]) -> Sequence[AlertRow]:
        return (await self.session.execute(stmt)).all()

    async def for_update(self, tenant_id: str, alert_id: int) -> Alert | None:
        stmt = (select(Alert).where(Alert.tenant_id == tenant_id, Alert.id == alert_id)
                .with_for_update())
        return (await self.session.scalars(stmt)).one_or_none()

    async def acknowledge(self, alert: Alert, by: str, note: str | None) -> None:
        alert.acknowledged_at = func.now()
        alert.acknowledged_by = by
        alert.acknowledgement_note = note
        alert.updated_at = func.now()
        await self.session.flush()
        await self.session.refresh(alert)

    async def latest_by_subject(self, tenant_id: str, rule_id: int,
                                subject_ids: Sequence[str]) -> Sequence[Alert]:
        """Each subject's latest alert of the rule (the one opened in the latest period)."""
        if not subject_ids:
            return []
        stmt = (select(Alert)
                .where(Alert.tenant_id == tenant_id, Alert.rule_id == rule_id,
                       among(Alert.subject_id, subject_ids))
                .ext(distinct_on(Alert.subject_type, Alert.subject_id))
                .order_by(Alert.subject_type, Alert.subject_id, Alert.period_start.desc()))
        return (await self.session.scalars(stmt)).all()

    async def withdraw_in_progress(self, tenant_id: str, rule_id: int, today: date) -> int:
        """Delete the rule's alerts opened on a period not ended on `today` (with their
        deliveries): judged too early, they never stood; how many."""
        stmt = (delete(Alert)
                .where(Alert.tenant_id == tenant_id, Alert.rule_id == rule_id,
                       Alert.period_end >= today)
                .execution_options(synchronize_session=False))
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def open_or_of_periods(self, tenant_id: str, rule_id: int,
                                 starts: Sequence[date]) -> Sequence[Alert]:
        """The rule's open alerts, and its alerts of periods starting on these days."""
        stmt = select(Alert).where(
            Alert.tenant_id == tenant_id, Alert.rule_id == rule_id,
            or_(Alert.status.in_(("pending", "firing")), among(Alert.period_start, starts)))
        return (await self.session.scalars(stmt)).all()

    async def insert(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
        """Insert alerts in bulk; their ids by (rule, subject type, subject, period start)."""
        if not rows:
            return {}
        # On the table, not the entity: the ORM would leave out None values and split the
        # rows into one statement per combination of them.
        table = cast(Table, Alert.__table__)
        stmt = insert(table).returning(table.c.id, table.c.rule_id, table.c.subject_type,
                                       table.c.subject_id, table.c.period_start)
        return {tuple(key): alert_id
                for alert_id, *key in (await self.session.execute(stmt, list(rows))).all()}

    async def update_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Update alerts by primary key (tenant_id, id), all in one executemany."""
        if rows:
            await self.session.execute(update(Alert), list(rows))
