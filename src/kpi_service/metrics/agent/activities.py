"""Seed 003's activity timeline: a user's events of the types the agent pack maps, newest
first, each shown as the pack's mapping says."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.access import readable_subject
from kpi_service.core.auth import Principal
from kpi_service.core.settings import Settings
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.events import service as events
from kpi_service.events.schemas import EventRead
from kpi_service.metrics.agent.schemas import ActivitiesQuery, ActivitiesRead, ActivityItem
from kpi_service.packs.agent import AGENT
from kpi_service.packs.model import Activity, ActivityFilter


def _number(value: Decimal) -> int | float:
    """A stored event value as the JSON number it was sent as."""
    return int(value) if value == value.to_integral_value() else float(value)


def _item(event: EventRead, activity: Activity) -> ActivityItem:
    metadata = dict(event.properties)
    if event.value is not None:
        metadata["value"] = _number(event.value)
    return ActivityItem(
        id=str(event.id),
        type=activity.type,
        title=activity.title,
        description=activity.describe(event.properties),
        timestamp=event.occurred_at,
        metadata=metadata,
    )


async def activities(
    session: AsyncSession, settings: Settings, principal: Principal, query: ActivitiesQuery
) -> ActivitiesRead:
    """One page of the timeline of a user the caller may read, under one filter."""
    user_id = await readable_subject(session, principal, SubjectType.USER, query.user_id)
    shown = {
        a.event_type: a
        for a in AGENT.activities
        if query.filter is ActivityFilter.ALL or a.filter is query.filter
    }
    if not shown:  # the events service reads no types as any type
        return ActivitiesRead(activities=[], next_cursor=None)
    page = await events.timeline(
        session,
        principal,
        user_id=user_id,
        types=sorted(shown),
        cursor=query.cursor,
        limit=query.limit,
    )
    return ActivitiesRead(
        activities=[_item(event, shown[event.type]) for event in page.items],
        next_cursor=page.next_cursor,
    )
