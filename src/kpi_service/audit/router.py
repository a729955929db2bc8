"""GET /audit: the tenant's audit log, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.audit import service
from kpi_service.audit.schemas import AuditEntryRead
from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep
from kpi_service.core.schemas import Limit, Page, ShortText

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", operation_id="listAuditEntries", response_model=Page[AuditEntryRead])
async def list_audit_entries(
    session: SessionDep,
    principal: PrincipalDep,
    entity_type: Annotated[ShortText | None, Query()] = None,
    entity_id: Annotated[ShortText | None, Query()] = None,
    cursor: Annotated[ShortText | None, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
) -> object:
    """The tenant's audit entries, newest first."""
    page = await service.list_entries(session, principal, cursor=cursor, limit=limit,
                                      entity_type=entity_type, entity_id=entity_id)
    return {"items": page.items, "next_cursor": page.next_cursor}
