"""Audit entry statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from kpi_service.core.repository import Filters, Repository, equal_to, where
from kpi_service.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilters(Filters):
    """What the audit log may be narrowed to; None means any. `since` is inclusive, `until`
    exclusive."""

    actor: str | None = equal_to(AuditEntry.actor)
    action: str | None = equal_to(AuditEntry.action)
    entity_type: str | None = equal_to(AuditEntry.entity_type)
    entity_id: str | None = equal_to(AuditEntry.entity_id)
    since: datetime | None = where(lambda at: AuditEntry.at >= at)
    until: datetime | None = where(lambda at: AuditEntry.at < at)


class AuditRepository(Repository[AuditEntry]):
    """Writes of `kpi.audit_entries` in the caller's transaction, and pages of them (the
    tenant's entries matching the filters, newest first)."""

    model = AuditEntry
    newest_first = True

    def add_entry(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    async def add_many(self, entries: Sequence[dict[str, Any]]) -> None:
        """Insert many entries in one statement."""
        if entries:
            await self.session.execute(insert(AuditEntry), list(entries))
