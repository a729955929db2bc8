"""Every mutation leaves an audit entry in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit.repository import AuditFilters, AuditRepository
from kpi_service.audit.schemas import AuditEntryRead
from kpi_service.core.auth import Principal
from kpi_service.core.context import request_id
from kpi_service.core.errors import Forbidden, InvalidInput, field_error
from kpi_service.core.schemas import Paging, Slice
from kpi_service.models import AuditEntry


def entry(
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    """The row of one audit entry (JSON-ready `before`/`after` snapshots)."""
    return {
        "tenant_id": principal.tenant_id,
        "actor": principal.user_id,
        "actor_role": principal.role.value,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "request_id": request_id.get(),
    }


async def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one audit entry in the caller's transaction."""
    AuditRepository(session).add_entry(
        AuditEntry(**entry(principal, action, entity_type, entity_id, before, after))
    )


async def record_many(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    """Write many audit entries in one statement."""
    await AuditRepository(session).add_many(entries)


async def list_entries(
    session: AsyncSession,
    principal: Principal,
    filters: AuditFilters,
    paging: Paging,
) -> Slice[AuditEntryRead]:
    """Audit entries of the caller's tenant, newest first (admins only), filtered."""
    if not principal.is_admin:
        raise Forbidden("Only admins can read the audit log.")
    if filters.since is not None and filters.until is not None and filters.until <= filters.since:
        raise InvalidInput(
            "until is not after since.", errors=[field_error(["query", "until"], "not after since")]
        )
    page = await AuditRepository(session).page(principal.tenant_id, paging, filters)
    return page.map(AuditEntryRead.model_validate)
