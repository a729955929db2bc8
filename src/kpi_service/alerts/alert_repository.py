"""Alert statements: scoped by tenant and by what the principal may see, never committed
here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Row, Select, Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on

from kpi_service.core.access import visible_alerts
from kpi_service.core.auth import Principal
from kpi_service.core.repository import Filters, Repository, equal_to
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.sql import among
from kpi_service.engine.vocabulary import AlertStatus
from kpi_service.models import Alert, AlertRule, Definition, joins

AlertRow = Row[Alert, str, str, str]
OPEN = (AlertStatus.PENDING, AlertStatus.FIRING)


@dataclass(frozen=True, slots=True)
class AlertFilters(Filters):
    """What a list of alerts may be narrowed to; None means any."""

    status: str | None = equal_to(Alert.status)
    rule_id: int | None = equal_to(Alert.rule_id)
    definition_id: int | None = equal_to(Alert.definition_id)
    subject_type: str | None = equal_to(Alert.subject_type)
    subject_id: str | None = equal_to(Alert.subject_id)


class AlertRepository(Repository[Alert]):
    """Reads and writes of `kpi.alerts` for one session; pages of them show the newest
    first."""

    model = Alert
    newest_first = True

    def _listing(self, principal: Principal) -> Select[Alert, str, str, str]:
        """Alerts the principal may see, with their rule's name and kind and KPI key."""
        return (
            select(Alert, AlertRule.name, AlertRule.kind, Definition.key)
            .join(AlertRule, joins.rule_of(Alert))
            .join(Definition, joins.definition_of(Alert))
            .where(visible_alerts(principal))
        )

    async def _rows(self, stmt: Select[Alert, str, str, str]) -> Sequence[AlertRow]:
        return (await self.session.execute(stmt)).all()

    async def page_rows(
        self, principal: Principal, filters: AlertFilters, paging: Paging
    ) -> Slice[AlertRow]:
        """One page of the listing rows (see `_listing`) matching `filters`, newest first."""
        return await self.page_of(self._listing(principal).where(*filters.conditions()), paging)

    async def get_row(self, principal: Principal, alert_id: int) -> AlertRow | None:
        """The listing row of the alert with that id, if the principal may see it."""
        rows = await self._rows(self._listing(principal).where(Alert.id == alert_id))
        return rows[0] if rows else None

    async def open_rows(self, principal: Principal, limit: int) -> Sequence[AlertRow]:
        """Up to `limit` listing rows of pending and firing alerts, latest opened first."""
        stmt = (
            self._listing(principal)
            .where(Alert.status.in_(OPEN))
            .order_by(Alert.opened_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        return await self._rows(stmt)

    async def for_update(self, tenant_id: str, alert_id: int) -> Alert | None:
        """The tenant's alert with that id, locked until the transaction ends."""
        return await self.one_or_none(
            self.select(tenant_id).where(Alert.id == alert_id).with_for_update()
        )

    async def acknowledge(self, alert: Alert, by: str, note: str | None) -> None:
        """Stamp the alert acknowledged now by `by`, with the note."""
        await self.update(
            alert,
            {"acknowledged_at": func.now(), "acknowledged_by": by, "acknowledgement_note": note},
        )

    async def latest_by_subject(
        self, tenant_id: str, rule_id: int, subject_ids: Sequence[str]
    ) -> Sequence[Alert]:
        """Each subject's latest alert of the rule (the one opened in the latest period)."""
        if not subject_ids:
            return []
        stmt = (
            self.select(tenant_id)
            .where(Alert.rule_id == rule_id, among(Alert.subject_id, subject_ids))
            .ext(distinct_on(Alert.subject_type, Alert.subject_id))
            .order_by(Alert.subject_type, Alert.subject_id, Alert.period_start.desc())
        )
        return await self.all(stmt)

    async def withdraw_in_progress(self, tenant_id: str, rule_id: int, today: date) -> int:
        """Delete the rule's alerts opened on a period not ended on `today` (with their
        deliveries): judged too early, they never stood; how many."""
        stmt = (
            delete(Alert)
            .where(self.in_tenant(tenant_id), Alert.rule_id == rule_id, Alert.period_end >= today)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def open_or_of_periods(
        self, tenant_id: str, rule_id: int, starts: Sequence[date]
    ) -> Sequence[Alert]:
        """The rule's open alerts, and its alerts of periods starting on these days."""
        stmt = self.select(tenant_id).where(
            Alert.rule_id == rule_id, or_(Alert.status.in_(OPEN), among(Alert.period_start, starts))
        )
        return await self.all(stmt)

    async def insert(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], int]:
        """Insert alerts in bulk; their ids by (rule, subject type, subject, period start)."""
        if not rows:
            return {}
        # On the table, not the entity: the ORM would leave out None values and split the
        # rows into one statement per combination of them.
        table = cast(Table, Alert.__table__)
        stmt = insert(table).returning(
            table.c.id,
            table.c.rule_id,
            table.c.subject_type,
            table.c.subject_id,
            table.c.period_start,
        )
        return {
            tuple(key): alert_id
            for alert_id, *key in (await self.session.execute(stmt, list(rows))).all()
        }

    async def update_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Update alerts by primary key (tenant_id, id), all in one executemany."""
        if rows:
            await self.session.execute(update(Alert), list(rows))
