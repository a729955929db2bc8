"""Event rules: per-item validation, idempotent ingestion, who sees whose timeline."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, InvalidInput, field_error
from kpi_service.core.schemas import Slice
from kpi_service.events.repository import EventRepository
from kpi_service.events.schemas import EventIn, IngestResult, ItemError
from kpi_service.models import Event

_EVENT = TypeAdapter(EventIn)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift: an event may be stamped a little in the future, not more.
FUTURE_SLACK = timedelta(days=1)


def _item_errors(index: int, exc: ValidationError) -> list[ItemError]:
    return [ItemError(index=index, reason=str(e["msg"]), loc=[str(p) for p in e["loc"]])
            for e in exc.errors()]


def validate_batch(items: Sequence[Any],
                   now: datetime) -> tuple[list[tuple[int, EventIn]], list[ItemError]]:
    """The valid events (with their index) and one error list entry per refused field."""
    valid, errors = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(ItemError(index=index, reason="an event must be a JSON object"))
            continue
        try:
            event = _EVENT.validate_python(item)
        except ValidationError as exc:
            errors.extend(_item_errors(index, exc))
            continue
        if not EARLIEST <= event.occurred_at <= now + FUTURE_SLACK:
            errors.append(ItemError(index=index, loc=["occurred_at"],
                                    reason="occurred_at is before 2000 or in the future"))
            continue
        valid.append((index, event))
    return valid, errors


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
    months = {(e.occurred_at.astimezone(UTC).year, e.occurred_at.astimezone(UTC).month)
              for e in unique.values()}
    await repo.ensure_partitions(months)
    rows = [{**e.model_dump(), "tenant_id": principal.tenant_id,
             "occurred_at": e.occurred_at.astimezone(UTC)} for e in unique.values()]
    inserted = await repo.insert_new(rows)
    rejected = len({e.index for e in errors})
    result = IngestResult(accepted=inserted, duplicates=len(valid) - inserted,
                          rejected=rejected, errors=errors)
    if inserted:
        await audit.record(session, principal, "events.ingest", "event_batch",
                           f"{len(items)} items", None,
                           {"accepted": inserted, "duplicates": result.duplicates,
                            "rejected": rejected})
    return result


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
