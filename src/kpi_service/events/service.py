"""Event rules: per-item validation, idempotent ingestion, who sees whose timeline."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, InvalidInput, field_error
from kpi_service.core.schemas import Slice
from kpi_service.events.repository import EventRepository, EventRow
from kpi_service.events.schemas import EventIn, IngestResult, ItemError, properties_json
from kpi_service.models import Event

_EVENTS = TypeAdapter(list[EventIn])
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift: an event may be stamped a little in the future, not more.
FUTURE_SLACK = timedelta(days=1)


def _refusals(items: Sequence[Any], exc: ValidationError) -> dict[int, list[ItemError]]:
    """The errors of a whole-list validation, by item index, with locations inside the item."""
    refused: dict[int, list[ItemError]] = {}
    for e in exc.errors():
        index, *loc = e["loc"]
        assert isinstance(index, int)
        if not isinstance(items[index], dict):
            refused[index] = [ItemError(index=index, reason="an event must be a JSON object")]
        else:
            refused.setdefault(index, []).append(
                ItemError(index=index, reason=str(e["msg"]), loc=[str(p) for p in loc]))
    return refused


def _validate_all(items: Sequence[Any]) -> tuple[list[tuple[int, EventIn]], list[ItemError]]:
    """One validation of the whole list; when some fail, a second one of the others."""
    try:
        return list(enumerate(_EVENTS.validate_python(items))), []
    except ValidationError as exc:
        refused = _refusals(items, exc)
    kept = [i for i in range(len(items)) if i not in refused]
    events = _EVENTS.validate_python([items[i] for i in kept])
    errors = [error for index in sorted(refused) for error in refused[index]]
    return list(zip(kept, events, strict=True)), errors


def validate_batch(items: Sequence[Any],
                   now: datetime) -> tuple[list[tuple[int, EventIn]], list[ItemError]]:
    """The valid events (with their index) and one error list entry per refused field."""
    checked, errors = _validate_all(items)
    latest = now + FUTURE_SLACK
    valid = []
    for index, event in checked:
        if EARLIEST <= event.occurred_at <= latest:
            valid.append((index, event))
        else:
            errors.append(ItemError(index=index, loc=["occurred_at"],
                                    reason="occurred_at is before 2000 or in the future"))
    errors.sort(key=lambda e: e.index)
    return valid, errors


def _row(tenant_id: str, event: EventIn) -> EventRow:
    return EventRow(tenant_id, event.id, event.occurred_at, event.user_id, event.team_id,
                    event.type, event.value, properties_json(event.properties))


async def ingest(session: AsyncSession, principal: Principal,
                 items: Sequence[Any]) -> IngestResult:
    """Store the valid events not stored yet; report duplicates and refusals per item."""
    if not principal.is_admin:
        raise Forbidden("Only admins (or the ingesting service) send events.")
    valid, errors = validate_batch(items, datetime.now(UTC))
    unique: dict[uuid.UUID, EventIn] = {}
    for _, event in valid:
        unique.setdefault(event.id, event)
    repo = EventRepository(session)
    await repo.ensure_partitions({(e.occurred_at.year, e.occurred_at.month)
                                  for e in unique.values()})
    inserted = await repo.insert_new([_row(principal.tenant_id, e) for e in unique.values()])
    rejected = len({e.index for e in errors})
    result = IngestResult(accepted=inserted, duplicates=len(valid) - inserted,
                          rejected=rejected, errors=errors)
    if inserted:
        await audit.record(session, principal, "events.ingest", "event_batch",
                           f"{len(items)} items", None,
                           {"accepted": inserted, "duplicates": result.duplicates,
                            "rejected": rejected})
    return result


def _months(today: date, months_ahead: int) -> list[tuple[int, int]]:
    """(year, month) of today's month and the `months_ahead` months after it."""
    first = today.year * 12 + today.month - 1
    return [(n // 12, n % 12 + 1) for n in range(first, first + months_ahead + 1)]


async def prepare_partitions(session: AsyncSession, today: date,
                             months_ahead: int = 3) -> list[str]:
    """Create the partitions of this UTC month and the next ones; the names of those created."""
    if months_ahead < 0:
        raise ValueError("months_ahead must not be negative")
    return await EventRepository(session).ensure_partitions(_months(today, months_ahead))


def visible_events(principal: Principal) -> ColumnElement[bool]:
    """Admins see every event of the tenant, managers their teams' and their own, members theirs."""
    if principal.role is Role.ADMIN:
        return true()
    own = Event.user_id == principal.user_id
    if principal.role is Role.MANAGER and principal.teams:
        return or_(own, Event.team_id.in_(sorted(principal.teams)))
    return own


def _encode(event: Event) -> str:
    raw = json.dumps({"t": event.occurred_at.isoformat(), "id": str(event.id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(data["t"])
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, uuid.UUID(data["id"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidInput("The cursor is not one this service issued.",
                           errors=[field_error(["query", "cursor"], "malformed cursor")]) from None


async def timeline(session: AsyncSession, principal: Principal, *, user_id: str | None,
                   types: list[str] | None, cursor: str | None, limit: int) -> Slice[Event]:
    """Events the caller may see, newest first."""
    rows = await EventRepository(session).timeline(
        principal.tenant_id, visible_events(principal), user_id=user_id, types=types,
        before=_decode(cursor), limit=limit)
    items = list(rows[:limit])
    return Slice(items, _encode(items[-1]) if len(rows) > limit else None)
