"""Alerts: reading them with access rules, acknowledging them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.alert_repository import AlertFilters, AlertRepository, AlertRow
from kpi_service.alerts.schemas import AlertRead
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Conflict, Forbidden, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.engine.vocabulary import AlertStatus
from kpi_service.models import Alert

ENTITY = "alert"


def to_read(row: AlertRow) -> AlertRead:
    """A listing row (alert, rule name, rule kind, definition key) as the API shows it."""
    alert, rule_name, kind, key = row
    data: dict[str, Any] = {c.key: getattr(alert, c.key) for c in Alert.__table__.columns}
    data.update(rule_name=rule_name, kind=kind, definition_key=key)
    return AlertRead.model_validate(data)


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    filters: AlertFilters,
    paging: Paging,
) -> Slice[AlertRead]:
    """Alerts the caller may see, newest first, filtered."""
    page = await AlertRepository(session).page_rows(principal, filters, paging)
    return page.map(to_read)


async def get_alert(session: AsyncSession, principal: Principal, alert_id: int) -> AlertRead:
    """One alert the caller may see."""
    row = await AlertRepository(session).get_row(principal, alert_id)
    return to_read(found(row, f"Alert {alert_id} not found."))


async def open_alerts(
    session: AsyncSession, principal: Principal, limit: int = 50
) -> list[AlertRead]:
    """Pending and firing alerts the caller may see, newest first (for the summary view)."""
    return [to_read(r) for r in await AlertRepository(session).open_rows(principal, limit)]


async def acknowledge(
    session: AsyncSession, principal: Principal, alert_id: int, note: str | None
) -> AlertRead:
    """Mark an open alert as seen by the caller (admins, and managers who see it); it keeps
    its status, and a second acknowledgement keeps the first."""
    await get_alert(session, principal, alert_id)  # 404 unless the caller sees it
    if principal.role is Role.MEMBER:
        raise Forbidden("Only managers and admins acknowledge alerts.")
    repo = AlertRepository(session)
    # Judged on the locked row: a concurrent acknowledgement, resolution or withdrawal
    # between the read above and the lock is seen here, not overwritten.
    alert = found(
        await repo.for_update(principal.tenant_id, alert_id), f"Alert {alert_id} not found."
    )
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"Alert {alert_id} is resolved; only open alerts are acknowledged.")
    if alert.acknowledged_at is not None:
        return await get_alert(session, principal, alert_id)  # the first one holds
    await repo.acknowledge(alert, principal.user_id, note)
    await audit.record(
        session,
        principal,
        "acknowledge",
        ENTITY,
        alert_id,
        before={"acknowledged_at": None},
        after={
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "acknowledged_by": principal.user_id,
            "note": note,
        },
    )
    return await get_alert(session, principal, alert_id)
