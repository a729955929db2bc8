"""Event rules: idempotent ingestion, partitions ahead, who sees whose timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.core import telemetry
from kpi_service.core.access import visible_events
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Forbidden
from kpi_service.core.schemas import Slice, decode_timeline_cursor, encode_timeline_cursor
from kpi_service.events.ingestion import check_batch
from kpi_service.events.repository import EventFilters, EventRepository
from kpi_service.events.schemas import EventRead, IngestResult


async def ingest(session: AsyncSession, principal: Principal, items: Sequence[Any]) -> IngestResult:
    """Store the valid events not stored yet; report duplicates and refusals per item."""
    if not principal.is_admin:
        raise Forbidden("Only admins (or the ingesting service) send events.")
    batch = check_batch(items, principal.tenant_id, datetime.now(UTC))
    repo = EventRepository(session)
    await repo.ensure_partitions(batch.months)
    inserted = await repo.insert_new(batch.rows)
    rejected = len({e.index for e in batch.errors})
    result = IngestResult(
        accepted=inserted, duplicates=batch.valid - inserted, rejected=rejected, errors=batch.errors
    )
    telemetry.events_ingested(inserted, result.duplicates, rejected)
    if inserted:
        await audit.record(
            session,
            principal,
            "events.ingest",
            "event_batch",
            f"{len(items)} items",
            None,
            {"accepted": inserted, "duplicates": result.duplicates, "rejected": rejected},
        )
    return result


def _months(today: date, months_ahead: int) -> list[tuple[int, int]]:
    """(year, month) of today's month and the `months_ahead` months after it."""
    first = today.year * 12 + today.month - 1
    return [(n // 12, n % 12 + 1) for n in range(first, first + months_ahead + 1)]


async def prepare_partitions(
    session: AsyncSession, today: date, months_ahead: int = 3
) -> list[str]:
    """Create the partitions of this UTC month and the next ones; the names of those created."""
    if months_ahead < 0:
        raise ValueError("months_ahead must not be negative")
    return await EventRepository(session).ensure_partitions(_months(today, months_ahead))


async def timeline(
    session: AsyncSession,
    principal: Principal,
    *,
    user_id: str | None,
    types: list[str] | None,
    cursor: str | None,
    limit: int,
) -> Slice[EventRead]:
    """Events the caller may see, newest first."""
    rows = await EventRepository(session).timeline(
        visible_events(principal),
        EventFilters(user_id, types or None),  # no types: any
        before=decode_timeline_cursor(cursor),
        limit=limit,
    )
    items = [EventRead.model_validate(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return Slice(items, None)
    last = items[-1]
    return Slice(items, encode_timeline_cursor(last.occurred_at, last.id))
