"""Audit entry statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    async def add_many(self, entries: Sequence[dict[str, Any]]) -> None:
        """Insert many entries in one statement."""
        if entries:
            await self.session.execute(insert(AuditEntry), list(entries))

    async def page(self, tenant_id: str, *, after: int | None, limit: int,
                   entity_type: str | None = None,
                   entity_id: str | None = None) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
        if entity_type is not None:
            stmt = stmt.where(AuditEntry.entity_type == entity_type)
        if entity_id is not None:
            stmt = stmt.where(AuditEntry.entity_id == entity_id)
        if after is not None:
            stmt = stmt.where(AuditEntry.id < after)
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)
        return (await self.session.scalars(stmt)).all()
