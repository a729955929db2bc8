"""Event ingestion and the activity timeline over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import SessionDep
from kpi_service.core.schemas import Page, PageSize, ShortText, SubjectRef
from kpi_service.events import service
from kpi_service.events.ingestion import collector_paused
from kpi_service.events.schemas import EventBatch, EventRead, EventType, IngestResult


class _BulkRequest(Request):
    """A request whose JSON body is parsed with the garbage collector paused (see ingestion)."""

    async def json(self) -> Any:
        body = await self.body()
        with collector_paused():
            return json.loads(body)


class _BulkRoute(APIRoute):
    """Routes that read large JSON bodies through `_BulkRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bulk_handler(request: Request) -> Response:
            return await handler(_BulkRequest(request.scope, request.receive))

        return bulk_handler


router = APIRouter(prefix="/events", tags=["events"], route_class=_BulkRoute)


@router.post("", operation_id="ingestEvents", response_model=IngestResult)
async def ingest_events(
    session: SessionDep, principal: PrincipalDep, body: EventBatch
) -> IngestResult:
    """Store up to 10,000 events; re-sent ids are counted as duplicates, bad items reported."""
    return await service.ingest(session, principal, body.events)


@router.get("", operation_id="listEvents", response_model=Page[EventRead])
async def list_events(
    session: SessionDep,
    principal: PrincipalDep,
    user_id: Annotated[SubjectRef | None, Query()] = None,
    type: Annotated[list[EventType] | None, Query(max_length=20)] = None,
    cursor: Annotated[ShortText | None, Query(max_length=300)] = None,
    limit: PageSize = 50,
) -> Page[EventRead]:
    """A timeline of events, newest first, optionally for one user and some types."""
    page = await service.timeline(
        session, principal, user_id=user_id, types=type, cursor=cursor, limit=limit
    )
    return Page[EventRead].of(page)
