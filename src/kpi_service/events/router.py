"""Event ingestion and the activity timeline over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep
from kpi_service.core.schemas import Limit, Page, ShortText, SubjectRef
from kpi_service.events import service
from kpi_service.events.schemas import EventBatch, EventRead, EventType, IngestResult

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", operation_id="ingestEvents", response_model=IngestResult)
async def ingest_events(session: SessionDep, principal: PrincipalDep,
                        body: EventBatch) -> object:
    """Store up to 10,000 events; re-sent ids are counted as duplicates, bad items reported."""
    return await service.ingest(session, principal, body.events)


@router.get("", operation_id="listEvents", response_model=Page[EventRead])
async def list_events(
    session: SessionDep, principal: PrincipalDep,
    user_id: Annotated[SubjectRef | None, Query()] = None,
    type: Annotated[list[EventType] | None, Query(max_length=20)] = None,
    cursor: Annotated[ShortText | None, Query(max_length=300)] = None,
    limit: Annotated[Limit, Query()] = 50,
) -> object:
    """A timeline of events, newest first, optionally for one user and some types."""
    page = await service.timeline(session, principal, user_id=user_id, types=type,
                                  cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}
