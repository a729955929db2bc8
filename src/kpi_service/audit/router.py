"""GET /audit: the tenant's audit log, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.audit import service
from kpi_service.audit.repository import AuditFilters
from kpi_service.audit.schemas import AuditEntryRead
from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep
from kpi_service.core.schemas import Cursor, Instant, Page, PageSize, ShortText, SubjectRef

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", operation_id="listAuditEntries", response_model=Page[AuditEntryRead])
async def list_audit_entries(
    session: SessionDep,
    principal: PrincipalDep,
    actor: Annotated[SubjectRef | None, Query(description="Who did it (a user id).")] = None,
    action: Annotated[ShortText | None, Query(description="e.g. create, update, delete")] = None,
    entity_type: Annotated[ShortText | None, Query()] = None,
    entity_id: Annotated[ShortText | None, Query()] = None,
    since: Annotated[
        Instant | None,
        Query(description="Entries at or after this instant (ISO 8601 with an offset)."),
    ] = None,
    until: Annotated[
        Instant | None, Query(description="Entries before this instant (ISO 8601 with an offset).")
    ] = None,
    cursor: Cursor = None,
    limit: PageSize = 50,
) -> Page[AuditEntryRead]:
    """The tenant's audit entries, newest first, narrowed by actor, action, entity and time."""
    filters = AuditFilters(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        since=since,
        until=until,
    )
    page = await service.list_entries(session, principal, filters, cursor=cursor, limit=limit)
    return Page[AuditEntryRead].of(page, AuditEntryRead.model_validate)
