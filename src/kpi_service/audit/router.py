"""GET /audit: the tenant's audit log, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.audit import service
from kpi_service.audit.repository import AuditFilters
from kpi_service.audit.schemas import AuditEntryRead, AuditQuery
from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep
from kpi_service.core.schemas import Cursor, Page, PageSize, Paging

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", operation_id="listAuditEntries", response_model=Page[AuditEntryRead])
async def list_audit_entries(
    session: SessionDep,
    principal: PrincipalDep,
    query: Annotated[AuditQuery, Query()],
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[AuditEntryRead]:
    """The tenant's audit entries, newest first, narrowed by actor, action, entity and time."""
    filters = AuditFilters(**query.model_dump())
    page = await service.list_entries(session, principal, filters, Paging(cursor, limit))
    return Page[AuditEntryRead].of(page)
