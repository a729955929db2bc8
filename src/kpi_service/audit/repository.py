"""Audit entry statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What the audit log may be narrowed to; None means any. `since` is inclusive, `until`
    exclusive."""

    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    async def add_many(self, entries: Sequence[dict[str, Any]]) -> None:
        """Insert many entries in one statement."""
        if entries:
            await self.session.execute(insert(AuditEntry), list(entries))

    async def page(self, tenant_id: str, filters: AuditFilters, *, after: int | None,
                   limit: int) -> Sequence[AuditEntry]:
        """The tenant's entries matching `filters` older than the entry `after`, newest first,
        at most `limit + 1` (the extra one says there is more)."""
        stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
        if filters.actor is not None:
            stmt = stmt.where(AuditEntry.actor == filters.actor)
        if filters.action is not None:
            stmt = stmt.where(AuditEntry.action == filters.action)
        if filters.entity_type is not None:
            stmt = stmt.where(AuditEntry.entity_type == filters.entity_type)
        if filters.entity_id is not None:
            stmt = stmt.where(AuditEntry.entity_id == filters.entity_id)
        if filters.since is not None:
            stmt = stmt.where(AuditEntry.at >= filters.since)
        if filters.until is not None:
            stmt = stmt.where(AuditEntry.at < filters.until)
        if after is not None:
            stmt = stmt.where(AuditEntry.id < after)
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)
        return (await self.session.scalars(stmt)).all()
