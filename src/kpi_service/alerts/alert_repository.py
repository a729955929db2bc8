"""Alert statements: scoped by tenant and by what the principal may see, never committed
here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
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
from kpi_service.engine.alerting import AlertStatus
from kpi_service.models import Alert, AlertRule, Definition

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
            or_(Alert.status.in_((AlertStatus.PENDING, AlertStatus.FIRING)),
                among(Alert.period_start, starts)))
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
