"""Alerts: reading them with access rules, acknowledging them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts.alert_repository import AlertRepository, AlertRow
from kpi_service.alerts.schemas import AlertRead
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Conflict, Forbidden, NotFound
from kpi_service.core.schemas import Slice, decode_cursor, slice_of
from kpi_service.engine.alerting import AlertStatus
from kpi_service.models import Alert

ENTITY = "alert"
OPEN = (AlertStatus.PENDING, AlertStatus.FIRING)


def to_read(row: AlertRow) -> AlertRead:
    """A listing row (alert, rule name, rule kind, definition key) as the API shows it."""
    alert, rule_name, kind, key = row
    data: dict[str, Any] = {c.key: getattr(alert, c.key) for c in Alert.__table__.columns}
    data.update(rule_name=rule_name, kind=kind, definition_key=key)
    return AlertRead.model_validate(data)


async def list_alerts(session: AsyncSession, principal: Principal, *,
                      status: str | None = None, rule_id: int | None = None,
                      definition_id: int | None = None, subject_type: str | None = None,
                      subject_id: str | None = None, cursor: str | None = None,
                      limit: int = 50) -> Slice[AlertRead]:
    """Alerts the caller may see, newest first, filtered."""
    repo = AlertRepository(session)
    stmt = repo.listing(principal)
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if rule_id is not None:
        stmt = stmt.where(Alert.rule_id == rule_id)
    if definition_id is not None:
        stmt = stmt.where(Alert.definition_id == definition_id)
    if subject_type is not None:
        stmt = stmt.where(Alert.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(Alert.subject_id == subject_id)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Alert.id < after)
    rows = await repo.rows(stmt.order_by(Alert.id.desc()).limit(limit + 1))
    page = slice_of(rows, limit, lambda r: r[0].id)
    return Slice([to_read(r) for r in page.items], page.next_cursor)


async def get_alert(session: AsyncSession, principal: Principal, alert_id: int) -> AlertRead:
    """One alert the caller may see."""
    repo = AlertRepository(session)
    rows = await repo.rows(repo.listing(principal).where(Alert.id == alert_id))
    if not rows:
        raise NotFound(f"Alert {alert_id} not found.")
    return to_read(rows[0])


async def open_alerts(session: AsyncSession, principal: Principal,
                      limit: int = 50) -> list[AlertRead]:
    """Pending and firing alerts the caller may see, newest first (for the summary view)."""
    repo = AlertRepository(session)
    stmt = (repo.listing(principal).where(Alert.status.in_(OPEN))
            .order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit))
    return [to_read(r) for r in await repo.rows(stmt)]


async def acknowledge(session: AsyncSession, principal: Principal, alert_id: int,
                      note: str | None) -> AlertRead:
    """Mark an open alert as seen by the caller (admins, and managers who see it); it keeps
    its status, and a second acknowledgement keeps the first."""
    shown = await get_alert(session, principal, alert_id)
    if principal.role is Role.MEMBER:
        raise Forbidden("Only managers and admins acknowledge alerts.")
    if shown.status == AlertStatus.RESOLVED:
        raise Conflict(f"Alert {alert_id} is resolved; only open alerts are acknowledged.")
    if shown.acknowledged_at is not None:
        return shown
    repo = AlertRepository(session)
    alert = await repo.for_update(principal.tenant_id, alert_id)
    assert alert is not None
    await repo.acknowledge(alert, principal.user_id, note)
    await audit.record(session, principal, "acknowledge", ENTITY, alert_id,
                       before={"acknowledged_at": None},
                       after={"acknowledged_at": alert.acknowledged_at.isoformat()
                              if alert.acknowledged_at else None,
                              "acknowledged_by": principal.user_id, "note": note})
    return await get_alert(session, principal, alert_id)
